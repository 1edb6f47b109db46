/**
 * Trajectory service configuration: the server fields every service shares plus the tools' settings
 * (tools/config.ts) and the rollout settings (rollout-config.ts: upstream addresses, generator endpoint).
 */
import { z } from 'zod';
import { DEFAULT_PORTS, requireTlsFiles, serverConfigShape } from '../common/config.js';
import { ROLLOUT_ENV, rolloutConfigShape } from './rollout-config.js';
import { TOOLS_ENV, toolsConfigShape } from './tools/config.js';

export const TRAJECTORY_ENV: Record<string, string> = { ...TOOLS_ENV, ...ROLLOUT_ENV };

export const trajectoryServiceConfigSchema = z
  .object({
    ...serverConfigShape,
    port: serverConfigShape.port.default(DEFAULT_PORTS.trajectory.grpc),
    metricsPort: serverConfigShape.metricsPort.default(DEFAULT_PORTS.trajectory.metrics),
    ...toolsConfigShape,
    ...rolloutConfigShape,
  })
  .strict()
  .superRefine(requireTlsFiles);

export type TrajectoryServiceConfig = z.infer<typeof trajectoryServiceConfigSchema>;
