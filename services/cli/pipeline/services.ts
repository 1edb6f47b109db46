/**
 * The five services of a pipeline run, each its own process on loopback (`spark serve <name>`), wired to
 * each other through SPARK_<NAME>_ADDRESS, sharing the run folder as artifact root. A service that dies
 * mid-run aborts the pipeline with one line naming it and its last log lines.
 *
 * A service starts as soon as the services it calls are serving, so those without upstreams start
 * together: each start is seconds of loading code on one core (all five: 10–11 s one after the other,
 * 8.6 s so, on 2 cores).
 */
import type { ServiceName } from '../../common/config.js';
import { spawnService, type SpawnedService } from '../../common/launcher.js';
import { scrapeTargetsFile, writeScrapeTargets } from '../../common/scrape-targets.js';
import { ADDRESS_ENV } from '../local-stack.js';

/** The services each one calls (it is started knowing their addresses). */
export const UPSTREAMS: Record<ServiceName, readonly ServiceName[]> = {
  dataset: [],
  judge: [],
  trainer: [],
  trajectory: ['dataset', 'judge', 'trainer'],
  evaluator: ['dataset', 'trajectory', 'trainer'],
};

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
  const serving = new Map<ServiceName, Promise<string>>();
  const start = (name: ServiceName): Promise<string> => {
    let p = serving.get(name);
    if (!p) {
      p = (async () => {
        if (address[name]) return address[name];
        const upstream = await Promise.all(UPSTREAMS[name].map(async (u) => [u, await start(u)] as const));
        if (died.signal.aborted) throw died.signal.reason;
        const env: NodeJS.ProcessEnv = { ...opts.env, SPARK_ARTIFACT_ROOT: opts.runDir };
        for (const [svc, addr] of upstream) env[ADDRESS_ENV[svc]] = addr;
        const s = await spawnService(name, { env, startTimeoutMs: 120_000 });
        started.push(s);
        metricsUrl[name] = s.metricsUrl;
        s.child.once('exit', (code, signal) => {
          if (stopping) return;
          const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          died.abort(new ServiceDiedError(`the ${name} service ${why} during the run; its last log lines:\n  ${s.recentLogs.slice(-5).join('\n  ')}`));
        });
        return s.address;
      })();
      serving.set(name, p);
    }
    return p;
  };
  const names = Object.keys(UPSTREAMS) as ServiceName[];
  const results = await Promise.allSettled(names.map(start));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  names.forEach((name, i) => { address[name] = (results[i] as PromiseFulfilledResult<string>).value; });
  // `npm run observe` picks these up (file-based service discovery).
  writeScrapeTargets(scrapeTargetsFile(opts.env), metricsUrl);
  return { address, metricsUrl, signal: died.signal, stop };
}
