/**
 * The five services of a pipeline run, each its own process on loopback (`spark serve <name>`), wired to
 * each other through SPARK_<NAME>_ADDRESS, sharing the run folder as artifact root. A service that dies
 * mid-run aborts the pipeline with one line naming it and its last log lines.
 */
import type { ServiceName } from '../../common/config.js';
import { spawnService, type SpawnedService } from '../../common/launcher.js';
import { scrapeTargetsFile, writeScrapeTargets } from '../../common/scrape-targets.js';
import { ADDRESS_ENV } from '../local-stack.js';

/** Upstreams first: each service is started knowing the addresses of those before it. */
export const START_ORDER: ServiceName[] = ['dataset', 'judge', 'trainer', 'trajectory', 'evaluator'];

export interface RunServices {
  address: Record<ServiceName, string>;
  metricsUrl: Partial<Record<ServiceName, string>>;
  /** Aborted (with a ServiceDiedError) when a started service exits before `stop`. */
  signal: AbortSignal;
  stop(): Promise<void>;
}

export class ServiceDiedError extends Error {
  override readonly name = 'ServiceDiedError';
}

export async function startRunServices(opts: { runDir: string; given?: Partial<Record<ServiceName, string>>; env?: NodeJS.ProcessEnv }): Promise<RunServices> {
  const address = { ...opts.given } as Record<ServiceName, string>;
  const metricsUrl: Partial<Record<ServiceName, string>> = {};
  const started: SpawnedService[] = [];
  const died = new AbortController();
  let stopping = false;
  const stop = async () => {
    stopping = true;
    await Promise.all(started.map((s) => s.stop()));
  };
  try {
    for (const name of START_ORDER) {
      if (address[name]) continue;
      const env: NodeJS.ProcessEnv = { ...opts.env, SPARK_ARTIFACT_ROOT: opts.runDir };
      for (const [svc, addr] of Object.entries(address)) env[ADDRESS_ENV[svc as ServiceName]] = addr;
      const s = await spawnService(name, { env, startTimeoutMs: 120_000 });
      started.push(s);
      address[name] = s.address;
      metricsUrl[name] = s.metricsUrl;
      s.child.once('exit', (code, signal) => {
        if (stopping) return;
        const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        died.abort(new ServiceDiedError(`the ${name} service ${why} during the run; its last log lines:\n  ${s.recentLogs.slice(-5).join('\n  ')}`));
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  // `npm run observe` picks these up (file-based service discovery).
  writeScrapeTargets(scrapeTargetsFile(opts.env), metricsUrl);
  return { address, metricsUrl, signal: died.signal, stop };
}
