/** Evaluator service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { EvaluatorServiceService } from '../common/gen/spark/v1/evaluator.js';
import { jobHandlers } from '../common/jobs.js';
import { defineService, runIfMain } from '../common/service.js';

export const evaluatorService = defineService({
  name: 'evaluator',
  definition: EvaluatorServiceService,
  summary: 'MMLU-Pro accuracy, tool-selection entropy, base vs SFT vs SPaRK report',
  unimplementedHint: 'evaluation arrives with issue 9',
  createHandlers: ({ jobs }) => ({ ...jobHandlers(jobs) }),
});

runIfMain(import.meta.url, evaluatorService);
