/**
 * Where a local Prometheus (`npm run observe`) finds the services: a file in Prometheus' file-based
 * service discovery format that `spark start` and `spark pipeline` rewrite whenever they start services
 * on (random) ports. Prometheus re-reads it by itself.
 */
import { join } from 'node:path';
import { writeFileAtomic } from './files.js';
import { REPO_ROOT } from './paths.js';

/** Default location; SPARK_OBSERVE_TARGETS overrides it. */
export function scrapeTargetsFile(env: NodeJS.ProcessEnv = {}): string {
  return env.SPARK_OBSERVE_TARGETS ?? join(REPO_ROOT, '.spark', 'observe', 'targets.json');
}

/** Writes one target group per service (`spark_component` = service name) from their /metrics URLs. */
export function writeScrapeTargets(file: string, metricsUrls: Partial<Record<string, string>>): void {
  const groups = Object.entries(metricsUrls)
    .filter(([, url]) => url)
    .map(([name, url]) => ({ targets: [new URL(url!).host], labels: { spark_component: name } }));
  writeFileAtomic(file, `${JSON.stringify(groups, null, 2)}\n`);
}
