/** Trajectory service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { TrajectoryServiceService } from '../common/gen/spark/v1/trajectory.js';
import { jobHandlers } from '../common/jobs.js';
import { defineService, runIfMain } from '../common/service.js';

export const trajectoryService = defineService({
  name: 'trajectory',
  definition: TrajectoryServiceService,
  summary: '8 tools + CoT, rarity-first rollouts, step-wise decomposition',
  unimplementedHint: 'tools and rollouts arrive with issue 6',
  createHandlers: ({ jobs }) => ({ ...jobHandlers(jobs) }),
});

runIfMain(import.meta.url, trajectoryService);
