/** JudgeService handlers: decode, call the judge, encode. Everything else lives in `judge.ts`. */
import type { JudgeServiceService } from '../common/gen/spark/v1/judge.js';
import type { Handlers } from '../common/handlers.js';
import type { Judge } from './judge.js';

export function judgeHandlers(judge: Judge): Handlers<typeof JudgeServiceService> {
  return {
    scoreCandidates: (req, ctx) => judge.scoreCandidates(req, ctx.signal),
    scoreAnswer: (req, ctx) => judge.scoreAnswer(req, ctx.signal),
    getStats: () => judge.stats(),
  };
}
