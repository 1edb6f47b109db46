/** Trajectory service wiring: config → server → handlers. Logic lives in the modules beside this file. */
import { TrajectoryServiceService } from '../common/gen/spark/v1/trajectory.js';
import { defineService, runIfMain } from '../common/service.js';
import { TRAJECTORY_ENV, trajectoryServiceConfigSchema } from './config.js';
import { closeTrajectoryTools, createTrajectoryHandlers } from './server.js';

export const trajectoryService = defineService({
  name: 'trajectory',
  definition: TrajectoryServiceService,
  summary: '8 tools + CoT, rarity-first rollouts, step-wise decomposition',
  configSchema: trajectoryServiceConfigSchema,
  configEnv: TRAJECTORY_ENV,
  createHandlers: createTrajectoryHandlers,
  onShutdown: closeTrajectoryTools,
});

runIfMain(import.meta.url, trajectoryService);
