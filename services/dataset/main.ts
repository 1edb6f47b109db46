/** Dataset service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { DatasetServiceService } from '../common/gen/spark/v1/dataset.js';
import { defineService, runIfMain } from '../common/service.js';
import { DATASET_ENV, datasetServiceConfigSchema } from './config.js';
import { createDatasetHandlers } from './server.js';

export const datasetService = defineService({
  name: 'dataset',
  definition: DatasetServiceService,
  summary: 'MMLU-Pro questions, the 2,500-question working set, sampling and prompts',
  configSchema: datasetServiceConfigSchema,
  configEnv: DATASET_ENV,
  createHandlers: createDatasetHandlers,
});

runIfMain(import.meta.url, datasetService);
