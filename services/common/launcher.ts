/**
 * Starts services as separate processes (`spark serve <name>`) and learns their bound addresses from
 * the structured "serving" log line, so callers can ask for port 0. Used by `spark start`, the pipeline
 * and the tests. A child that dies before it serves is reported with its last log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { ServiceName } from './config.js';
import { REPO_ROOT } from './paths.js';

export const SPARK_BIN = join(REPO_ROOT, 'bin', 'spark.js');

export interface SpawnedService {
  name: ServiceName;
  /** "host:port" of gRPC. */
  address: string;
  /** URL of /metrics. */
  metricsUrl: string;
  child: ChildProcess;
  /** Last log lines (kept for error messages). */
  recentLogs: string[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface SpawnOptions {
  host?: string;
  port?: number;
  metricsPort?: number;
  env?: NodeJS.ProcessEnv;
  /** Time to wait for the "serving" line. */
  startTimeoutMs?: number;
}

const RECENT_LOG_LINES = 20;

export function spawnService(name: ServiceName, opts: SpawnOptions = {}): Promise<SpawnedService> {
  // The launcher learns the bound ports from the info-level "serving" line, so children log at info or
  // below (their logs are kept for error messages, not shown).
  const level = ['debug', 'trace'].includes(opts.env?.SPARK_LOG_LEVEL ?? '') ? opts.env!.SPARK_LOG_LEVEL! : 'info';
  const args = [SPARK_BIN, 'serve', name, '--host', opts.host ?? '127.0.0.1', '--port', String(opts.port ?? 0), '--metrics-port', String(opts.metricsPort ?? 0), '--log-level', level];
  const child = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const recentLogs: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return new Promise<SpawnedService>((resolve, reject) => {
    const timeout = setTimeout(() => {
      void stop(1_000);
      reject(new Error(`${name} service did not start within ${opts.startTimeoutMs ?? 30_000} ms; last log lines:\n${recentLogs.join('\n')}`));
    }, opts.startTimeoutMs ?? 30_000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      recentLogs.push(line);
      if (recentLogs.length > RECENT_LOG_LINES) recentLogs.shift();
      if (!line.startsWith('{')) return;
      let entry: { msg?: string; grpc?: string; metrics?: string };
      try { entry = JSON.parse(line); } catch { return; }
      if (entry.msg === 'serving' && entry.grpc && entry.metrics) {
        clearTimeout(timeout);
        resolve({ name, address: entry.grpc, metricsUrl: entry.metrics, child, recentLogs, stop });
      }
    });
    void exited.then((code) => {
      clearTimeout(timeout);
      reject(new Error(`${name} service exited with code ${code} before serving; last log lines:\n${recentLogs.join('\n')}`));
    });
  });
}
