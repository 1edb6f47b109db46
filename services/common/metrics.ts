/**
 * Prometheus metrics (prom-client): one registry per service process, default process metrics, the gRPC
 * request counters recorded by the server interceptor, and the table that maps verl-style job metric keys
 * (`actor/pg_clipfrac`) to Prometheus names (`spark_train_clipfrac`). Labels stay bounded: service, method,
 * status code, 14 categories, 9 actions, a few models.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import client, { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Request latency buckets in seconds: gRPC calls here range from sub-millisecond to minutes (training). */
const GRPC_DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export interface ServiceMetrics {
  registry: Registry;
  grpcRequests: Counter<'service' | 'method' | 'code'>;
  grpcDuration: Histogram<'service' | 'method'>;
}

export function createServiceMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ spark_service: service });
  client.collectDefaultMetrics({ register: registry });
  return {
    registry,
    grpcRequests: new Counter({
      name: 'spark_grpc_requests_total',
      help: 'gRPC requests handled, by service, method and status code name',
      labelNames: ['service', 'method', 'code'] as const,
      registers: [registry],
    }),
    grpcDuration: new Histogram({
      name: 'spark_grpc_request_duration_seconds',
      help: 'gRPC request duration (until the status is sent), seconds',
      labelNames: ['service', 'method'] as const,
      buckets: GRPC_DURATION_BUCKETS_S,
      registers: [registry],
    }),
  };
}

/** Returns the metric registered under `name`, creating it on first use (modules share one registry). */
export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  return (registry.getSingleMetric(name) as Counter<L> | undefined) ??
    new Counter({ name, help, labelNames, registers: [registry] });
}

export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  return (registry.getSingleMetric(name) as Gauge<L> | undefined) ??
    new Gauge({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(registry: Registry, name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> {
  return (registry.getSingleMetric(name) as Histogram<L> | undefined) ??
    new Histogram({ name, help, buckets, labelNames, registers: [registry] });
}

/**
 * verl-style job metric key -> Prometheus gauge name. Job events carry the keys; the trainer sets the
 * gauges from the same values so dashboards and WatchJob agree.
 */
export const JOB_METRIC_TO_PROMETHEUS: Readonly<Record<string, string>> = {
  'actor/loss': 'spark_train_loss',
  'actor/ppo_kl': 'spark_train_approx_kl',
  'actor/kl_ref': 'spark_train_kl',
  'actor/pg_clipfrac': 'spark_train_clipfrac',
  'actor/entropy': 'spark_train_entropy',
  'actor/grad_norm': 'spark_train_grad_norm',
  'actor/lr': 'spark_train_lr',
  'critic/score/mean': 'spark_train_reward',
  'critic/advantages/mean': 'spark_train_advantage',
  'perf/tokens_per_second': 'spark_train_tokens_per_second',
  'perf/mfu': 'spark_train_mfu_ratio',
};

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` (Prometheus text format) and `/healthz` on its own HTTP port. */
export async function startMetricsServer(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server: HttpServer = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (body) => { res.writeHead(200, { 'content-type': registry.contentType }); res.end(body); },
        (err: Error) => { res.writeHead(500); res.end(`metrics collection failed: ${err.message}`); },
      );
      return;
    }
    if (path === '/healthz') { res.writeHead(200); res.end('ok'); return; }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
