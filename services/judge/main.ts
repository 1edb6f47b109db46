/** Judge service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { JudgeServiceService } from '../common/gen/spark/v1/judge.js';
import { defineService, runIfMain } from '../common/service.js';
import { JUDGE_ENV, judgeServiceConfigSchema } from './config.js';
import { createJudge } from './judge.js';
import { judgeHandlers } from './server.js';

export const judgeService = defineService({
  name: 'judge',
  definition: JudgeServiceService,
  summary: 'scores candidate steps 0-10 (OpenAI-compatible LLM or the offline judge)',
  configSchema: judgeServiceConfigSchema,
  configEnv: JUDGE_ENV,
  createHandlers: ({ config, log, metrics }) =>
    judgeHandlers(createJudge(config, { registry: metrics.registry, log })),
});

runIfMain(import.meta.url, judgeService);
