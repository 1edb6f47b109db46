/**
 * What a service is to the rest of the code: a name, a gRPC definition, and a function that builds its
 * handlers from validated config. `launchService` does the rest once for all five: config (env + flags,
 * validated by zod), logger, metrics registry, job runner, server bootstrap, signals.
 */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { z } from 'zod';
import { loadConfig, SERVER_ENV, serverConfigSchema, type ServerConfig, type ServiceName } from './config.js';
import { implement, type Handlers } from './handlers.js';
import { JobRunner } from './jobs.js';
import { createLogger, type Logger } from './logging.js';
import { createServiceMetrics, type ServiceMetrics } from './metrics.js';
import { startServer, type RunningServer } from './server.js';

export interface ServiceDeps<C> {
  config: C;
  log: Logger;
  metrics: ServiceMetrics;
  /** Jobs of this service, under `<artifactRoot>/jobs/<service>/`. */
  jobs: JobRunner;
}

export interface ServiceModule<D extends ServiceDefinition = ServiceDefinition, S extends z.ZodType<ServerConfig> = z.ZodType<ServerConfig>> {
  name: ServiceName;
  definition: D;
  /** One-line summary for `spark --help` and logs. */
  summary: string;
  /** Config schema (server fields + the service's own) and its env variable names. */
  configSchema?: S;
  configEnv?: Record<string, string>;
  /** Builds handlers; missing ones answer UNIMPLEMENTED with `unimplementedHint`. */
  createHandlers(deps: ServiceDeps<z.infer<S>>): Promise<Handlers<D>> | Handlers<D>;
  unimplementedHint?: string;
  /** Extra cleanup on shutdown (after the listener stops). */
  onShutdown?(): Promise<void> | void;
}

export function defineService<D extends ServiceDefinition, S extends z.ZodType<ServerConfig>>(m: ServiceModule<D, S>): ServiceModule<D, S> {
  return m;
}

export interface LaunchOptions {
  env?: NodeJS.ProcessEnv;
  /** Flag values (`--port`), winning over the environment. */
  overrides?: Partial<Record<keyof ServerConfig, unknown>>;
  flagNames?: Record<string, string>;
  /** Install SIGTERM/SIGINT handlers that exit the process (true for `spark serve`). */
  handleSignals?: boolean;
}

export interface LaunchedService extends RunningServer {
  config: ServerConfig;
  log: Logger;
  metrics: ServiceMetrics;
  jobs: JobRunner;
}

/** Validates config and starts the service; throws ConfigError on bad config (nothing is started). */
export async function launchService<D extends ServiceDefinition, S extends z.ZodType<ServerConfig>>(module: ServiceModule<D, S>, opts: LaunchOptions = {}): Promise<LaunchedService> {
  const schema = module.configSchema ?? serverConfigSchema(module.name);
  const config = loadConfig(schema, {
    env: opts.env ?? {},
    envNames: { ...SERVER_ENV, ...module.configEnv },
    overrides: opts.overrides,
    flagNames: opts.flagNames,
  }) as z.infer<S>;
  const log = createLogger(module.name, config.logLevel);
  log.debug({ config: { ...config, authToken: config.authToken ? '<set>' : undefined } }, 'config');
  const metrics = createServiceMetrics(module.name);
  const jobs = new JobRunner(join(config.artifactRoot, 'jobs', module.name), log);
  const handlers = await module.createHandlers({ config, log, metrics, jobs });
  const running = await startServer({
    name: module.name,
    config,
    log,
    metrics,
    services: [{ definition: module.definition, implementation: implement(module.definition, handlers, log, module.unimplementedHint) }],
    onShutdown: async () => { await jobs.shutdown(); await module.onShutdown?.(); },
    handleSignals: opts.handleSignals,
  });
  return { ...running, config, log, metrics, jobs };
}

/** Lets `node dist/services/<name>/main.js` start the service on its own, configured by environment. */
export function runIfMain<D extends ServiceDefinition, S extends z.ZodType<ServerConfig>>(metaUrl: string, module: ServiceModule<D, S>): void {
  if (!process.argv[1] || fileURLToPath(metaUrl) !== realpathSync(process.argv[1])) return;
  launchService(module, { env: process.env, handleSignals: true }).catch((err: Error) => {
    process.stderr.write(`spark ${module.name}: ${err.message}\n`);
    process.exit(2);
  });
}
