/** Trainer service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { TrainerServiceService } from '../common/gen/spark/v1/trainer.js';
import { jobHandlers } from '../common/jobs.js';
import { defineService, runIfMain } from '../common/service.js';

export const trainerService = defineService({
  name: 'trainer',
  definition: TrainerServiceService,
  summary: 'offline step-wise PPO and SFT on LoRA/QLoRA adapters, generation',
  unimplementedHint: 'training and generation arrive with issues 7 and 8',
  createHandlers: ({ jobs }) => ({ ...jobHandlers(jobs) }),
});

runIfMain(import.meta.url, trainerService);
