/**
 * The part of `spark doctor` that checks the setup around the engine: shipped data, the encyclopedia
 * index, the sandbox, Prometheus, Chromium, free disk under the artifact root, and whether the judge
 * endpoint (when one is configured) answers with the key given. Each check is one line: `ok`, or what
 * to fix.
 */
import { existsSync, statfsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from '../common/paths.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Below this much free space a pipeline run (checkpoints, trajectories) is at risk. */
const MIN_FREE_DISK_BYTES = 2 * 1024 ** 3;
const JUDGE_PROBE_TIMEOUT_MS = 5_000;

const fileCheck = (name: string, path: string, fix: string): Check =>
  existsSync(path) ? { name, ok: true, detail: path } : { name, ok: false, detail: `missing ${path}: ${fix}` };

export function localChecks(env: NodeJS.ProcessEnv): Check[] {
  const data = join(REPO_ROOT, 'services', 'dataset', 'data');
  const checks: Check[] = [
    ...['working-set.jsonl.gz', 'eval.jsonl.gz', 'validation.jsonl.gz'].map((f) => fileCheck('data', join(data, f), 'the shipped MMLU-Pro data is part of the repository; restore it with git checkout')),
    fileCheck('encyclopedia', join(env.SPARK_ENCYCLOPEDIA_INDEX ?? join(REPO_ROOT, '.spark', 'encyclopedia'), 'index.bin'), 'run `npm run setup` (as root it installs dict-wn, dict-gcide, dict-foldoc and builds the index)'),
    fileCheck('sandbox', '/usr/bin/bwrap', 'run `npm run setup` as root (Debian bubblewrap) or `apt-get install bubblewrap`; without it the python tool reports "sandbox unavailable"'),
    fileCheck('prometheus', '/usr/bin/prometheus', 'needed by `npm run observe`: `apt-get install prometheus`'),
    fileCheck('chromium', '/usr/bin/chromium', 'needed to check reports in tests: `apt-get install chromium`'),
  ];
  const root = resolve(env.SPARK_ARTIFACT_ROOT ?? 'artifacts');
  let probe = root;
  while (!existsSync(probe)) probe = resolve(probe, '..');
  const fs = statfsSync(probe);
  const free = fs.bavail * fs.bsize;
  checks.push({ name: 'disk', ok: free >= MIN_FREE_DISK_BYTES, detail: `${(free / 1024 ** 3).toFixed(1)} GiB free under ${root}${free >= MIN_FREE_DISK_BYTES ? '' : ': free some space or set SPARK_ARTIFACT_ROOT elsewhere'}` });
  return checks;
}

/** Asks the configured judge endpoint for its model list with the configured key. */
export async function judgeCheck(env: NodeJS.ProcessEnv): Promise<Check> {
  const base = env.SPARK_JUDGE_BASE_URL ?? (env.OPENAI_API_KEY ? 'https://api.openai.com/v1' : undefined);
  if (!base) return { name: 'judge', ok: true, detail: 'offline judge (no OPENAI_API_KEY or SPARK_JUDGE_BASE_URL set)' };
  const url = `${base.replace(/\/$/, '')}/models`;
  try {
    const res = await fetch(url, { headers: env.OPENAI_API_KEY ? { authorization: `Bearer ${env.OPENAI_API_KEY}` } : {}, signal: AbortSignal.timeout(JUDGE_PROBE_TIMEOUT_MS) });
    if (res.status === 401 || res.status === 403) return { name: 'judge', ok: false, detail: `${base} refuses the key (HTTP ${res.status}): check OPENAI_API_KEY` };
    if (!res.ok) return { name: 'judge', ok: false, detail: `${base} answered HTTP ${res.status} to GET /models` };
    return { name: 'judge', ok: true, detail: `${base} reachable, model ${env.SPARK_JUDGE_MODEL ?? 'gpt-4o'}` };
  } catch (err) {
    return { name: 'judge', ok: false, detail: `${base} unreachable (${(err as Error).message}): check SPARK_JUDGE_BASE_URL or unset it for the offline judge` };
  }
}

export function formatChecks(checks: readonly Check[]): string[] {
  return checks.map((c) => `${c.name.padEnd(12)} ${c.ok ? 'ok ' : 'FIX'} ${c.detail}`);
}
