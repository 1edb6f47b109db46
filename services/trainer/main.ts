/** Trainer service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { TrainerServiceService } from '../common/gen/spark/v1/trainer.js';
import { defineService, runIfMain } from '../common/service.js';
import { TRAINER_ENV, trainerServiceConfigSchema } from './config.js';
import { closeTrainer, createTrainerHandlers } from './server.js';

export const trainerService = defineService({
  name: 'trainer',
  definition: TrainerServiceService,
  summary: 'offline step-wise PPO and SFT on LoRA/QLoRA adapters, generation',
  configSchema: trainerServiceConfigSchema,
  configEnv: TRAINER_ENV,
  createHandlers: createTrainerHandlers,
  onShutdown: closeTrainer,
});

runIfMain(import.meta.url, trainerService);
