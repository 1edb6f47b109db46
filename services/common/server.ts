/**
 * Server bootstrap shared by the five services: credentials from config, interceptors (auth, metrics,
 * logs), grpc.health.v1 health, server reflection, keepalive, the /metrics HTTP server, and graceful
 * shutdown (health NOT_SERVING → tryShutdown → forceShutdown after the grace period).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Server, ServerCredentials, type ServerInterceptor, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { ServerConfig } from './config.js';
import { authInterceptor, observeInterceptor } from './interceptors.js';
import type { Logger } from './logging.js';
import { startMetricsServer, type MetricsServer, type ServiceMetrics } from './metrics.js';
import { PROTO_ROOT } from './paths.js';

/**
 * Keepalive: ping idle connections so dead peers (a killed pod, a dropped NAT entry) are noticed within
 * ~30 s instead of hanging until TCP gives up.
 */
export const SERVER_CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 20_000, // ping after 20 s without traffic
  'grpc.keepalive_timeout_ms': 10_000, // drop the connection when a ping is not answered in 10 s
  'grpc.keepalive_permit_without_calls': 1, // clients may ping while idle (long WatchJob gaps)
  'grpc.http2.min_ping_interval_without_data_ms': 5_000, // but not more often than every 5 s
  'grpc.max_receive_message_length': 64 * 1024 * 1024, // step-example batches can be large
  'grpc.max_send_message_length': 64 * 1024 * 1024,
} as const;

export const SPARK_PROTO_FILES = ['common', 'dataset', 'judge', 'trajectory', 'trainer', 'evaluator'].map(
  (name) => `spark/v1/${name}.proto`,
);

export interface ServiceRegistration {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface RunningServer {
  /** Bound gRPC port. */
  port: number;
  /** Bound metrics port. */
  metricsPort: number;
  /** "host:port" of the gRPC listener. */
  address: string;
  health: HealthImplementation;
  /** Fully qualified names of the services registered (e.g. "spark.v1.JudgeService"). */
  serviceNames: string[];
  /** Graceful stop; resolves when the server is down. Safe to call twice. */
  shutdown(reason?: string): Promise<void>;
}

/** "spark.v1.JudgeService" from a ts-proto definition's first method path. */
export function serviceNameOf(definition: ServiceDefinition): string {
  const first = Object.values(definition)[0];
  return first.path.split('/')[1];
}

export function serverCredentials(config: ServerConfig): ServerCredentials {
  if (config.tls === 'off') return ServerCredentials.createInsecure();
  const keyCertPairs = [{ cert_chain: readFileSync(config.tlsCertFile!), private_key: readFileSync(config.tlsKeyFile!) }];
  const ca = config.tls === 'mtls' ? readFileSync(config.tlsCaFile!) : null;
  return ServerCredentials.createSsl(ca, keyCertPairs, config.tls === 'mtls');
}

/** Package definition of every spark.v1 service plus health, for reflection (grpcurl list/describe). */
function reflectionPackage() {
  return loadSync([...SPARK_PROTO_FILES.map((f) => join(PROTO_ROOT, f)), healthProtoPath], {
    includeDirs: [PROTO_ROOT],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}

export interface StartServerOptions {
  name: string;
  config: ServerConfig;
  services: ServiceRegistration[];
  log: Logger;
  metrics: ServiceMetrics;
  /** Called during shutdown after the listener stops accepting calls (flush files, stop jobs). */
  onShutdown?: () => Promise<void> | void;
  /** Exit the process on SIGTERM/SIGINT after a graceful shutdown (installed before "serving" is logged). */
  handleSignals?: boolean;
}

export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const { config, log } = opts;
  const interceptors: ServerInterceptor[] = [observeInterceptor(opts.name, opts.metrics, log)];
  if (config.authToken) interceptors.push(authInterceptor(config.authToken));
  const server = new Server({ ...SERVER_CHANNEL_OPTIONS, interceptors });

  const serviceNames = opts.services.map((s) => serviceNameOf(s.definition));
  for (const s of opts.services) server.addService(s.definition, s.implementation);
  // Everything starts NOT_SERVING and flips once the port is bound.
  const health = new HealthImplementation(Object.fromEntries(['', ...serviceNames].map((n) => [n, 'NOT_SERVING' as const])));
  health.addToServer(server);
  new ReflectionService(reflectionPackage()).addToServer(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.host}:${config.port}`, serverCredentials(config), (err, bound) => (err ? reject(err) : resolve(bound)));
  }).catch((err: Error) => {
    throw new Error(`cannot listen on ${config.host}:${config.port} for gRPC: ${err.message}`, { cause: err });
  });
  let metricsServer: MetricsServer;
  try {
    metricsServer = await startMetricsServer(opts.metrics.registry, config.host, config.metricsPort);
  } catch (err) {
    server.forceShutdown();
    throw new Error(`cannot listen on ${config.host}:${config.metricsPort} for /metrics: ${(err as Error).message}`, { cause: err });
  }
  for (const n of ['', ...serviceNames]) health.setStatus(n, 'SERVING');
  const address = `${config.host}:${port}`;
  const running: RunningServer = { port, metricsPort: metricsServer.port, address, health, serviceNames, shutdown: (reason) => shutdown(reason) };
  // Before the "serving" line: whoever waits for it may send SIGTERM right away.
  if (opts.handleSignals) exitOnSignals(running, log);
  log.info({ grpc: address, metrics: `http://${config.host}:${metricsServer.port}/metrics`, services: serviceNames, tls: config.tls, auth: !!config.authToken }, 'serving');

  let stopping: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown requested') => {
    stopping ??= (async () => {
      log.info({ reason, graceMs: config.shutdownGraceMs }, 'shutting down');
      for (const n of ['', ...serviceNames]) health.setStatus(n, 'NOT_SERVING');
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => { log.warn('grace period over: forcing shutdown'); server.forceShutdown(); resolve(); }, config.shutdownGraceMs);
        server.tryShutdown(() => { clearTimeout(force); resolve(); });
      });
      await opts.onShutdown?.();
      await metricsServer.close();
      log.info('stopped');
    })();
    return stopping;
  };
  return running;
}

/** SIGTERM / SIGINT → graceful shutdown → exit 0 (exit 1 when shutdown itself fails). */
export function exitOnSignals(running: RunningServer, log: Logger): void {
  const onSignal = (signal: NodeJS.Signals) => {
    running.shutdown(`received ${signal}`).then(
      () => process.exit(0),
      (err: unknown) => { log.error({ err }, 'shutdown failed'); process.exit(1); },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
