/**
 * For CLI commands that need services the user did not start: runs them inside the CLI process on free
 * loopback ports (real gRPC servers, the same code as `spark serve`), wired to each other, and stops
 * them when the command ends. A service given by address (`--judge host:port`) is used instead.
 */
import type { ServiceName } from '../common/config.js';
import { launchService, type LaunchedService } from '../common/service.js';
import { SERVICES } from './services.js';

/** Env variable through which a service finds each upstream. */
export const ADDRESS_ENV: Record<ServiceName, string> = {
  dataset: 'SPARK_DATASET_ADDRESS',
  judge: 'SPARK_JUDGE_ADDRESS',
  trajectory: 'SPARK_TRAJECTORY_ADDRESS',
  trainer: 'SPARK_TRAINER_ADDRESS',
  evaluator: 'SPARK_EVALUATOR_ADDRESS',
};

export interface LocalStack {
  /** Address of each requested service (given or started here). */
  address: Record<ServiceName, string>;
  stop(): Promise<void>;
}

/**
 * Starts the `wanted` services in order (upstreams first), except those in `given`. Each started service
 * sees the addresses of the ones before it through ADDRESS_ENV, plus `env` (the user's environment).
 */
export async function startLocalStack(wanted: ServiceName[], opts: { artifactRoot: string; given?: Partial<Record<ServiceName, string>>; env?: NodeJS.ProcessEnv; logLevel?: string }): Promise<LocalStack> {
  const address = { ...opts.given } as Record<ServiceName, string>;
  const started: LaunchedService[] = [];
  const stop = async () => { for (const s of started.reverse()) await s.shutdown('command finished'); };
  try {
    for (const name of wanted) {
      if (address[name]) continue;
      const env: NodeJS.ProcessEnv = { ...opts.env };
      for (const [svc, addr] of Object.entries(address)) env[ADDRESS_ENV[svc as ServiceName]] = addr;
      const s = await launchService(SERVICES[name], {
        env,
        overrides: { host: '127.0.0.1', port: 0, metricsPort: 0, artifactRoot: opts.artifactRoot, logLevel: opts.logLevel ?? 'warn' },
      });
      started.push(s);
      address[name] = s.address;
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, stop };
}
