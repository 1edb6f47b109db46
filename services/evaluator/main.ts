/** Evaluator service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { EvaluatorServiceService } from '../common/gen/spark/v1/evaluator.js';
import { defineService, runIfMain } from '../common/service.js';
import { EVALUATOR_ENV, evaluatorServiceConfigSchema } from './config.js';
import { closeEvaluatorClients, createEvaluatorHandlers } from './server.js';

export const evaluatorService = defineService({
  name: 'evaluator',
  definition: EvaluatorServiceService,
  summary: 'MMLU-Pro accuracy, tool-selection entropy, base vs SFT vs SPaRK report',
  configSchema: evaluatorServiceConfigSchema,
  configEnv: EVALUATOR_ENV,
  createHandlers: createEvaluatorHandlers,
  onShutdown: closeEvaluatorClients,
});

runIfMain(import.meta.url, evaluatorService);
