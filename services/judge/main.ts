/** Judge service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { JudgeServiceService } from '../common/gen/spark/v1/judge.js';
import { defineService, runIfMain } from '../common/service.js';

export const judgeService = defineService({
  name: 'judge',
  definition: JudgeServiceService,
  summary: 'scores candidate steps 0-10 (OpenAI-compatible LLM or the offline judge)',
  unimplementedHint: 'the judge arrives with issue 5 (OpenAI-compatible and offline judges)',
  createHandlers: () => ({}),
});

runIfMain(import.meta.url, judgeService);
