/**
 * `spark observe`: a real Prometheus (Debian's) scraping all five services started as processes, with
 * the repository's rules loaded and the live console page rendering.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, serverStream, unary } from '../services/common/client.js';
import { SERVICE_NAMES } from '../services/common/config.js';
import { StartGenerationRequest, TrajectoryServiceClient } from '../services/common/gen/spark/v1/trajectory.js';
import { HealthClient, checkHealth } from '../services/common/health-client.js';
import { SPARK_BIN, spawnService, type SpawnedService } from '../services/common/launcher.js';
import { writeScrapeTargets } from '../services/common/scrape-targets.js';
import { tempDir } from './helpers/service.js';

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
});

let services: SpawnedService[] = [];
let prometheus: ChildProcess;
let base = '';

async function query(promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  return ((await res.json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;
}

beforeAll(async () => {
  const dir = tempDir();
  const env = { SPARK_ARTIFACT_ROOT: join(dir, 'artifacts') };
  const [dataset, judge] = await Promise.all([spawnService('dataset', { env }), spawnService('judge', { env })]);
  const upstreams = { ...env, SPARK_DATASET_ADDRESS: dataset.address, SPARK_JUDGE_ADDRESS: judge.address };
  services = [dataset, judge, ...await Promise.all((['trajectory', 'trainer', 'evaluator'] as const).map((n) => spawnService(n, { env: upstreams })))];
  // One health call each (a gRPC request counter on every service), and a small rollout so the
  // dataset, judge and tool metrics have samples.
  for (const s of services) { const hc = new HealthClient(s.address); await checkHealth(hc); hc.close(); }
  const trajectory = createClient(TrajectoryServiceClient, services[2]!.address);
  const job = await unary(trajectory.startGeneration.bind(trajectory), StartGenerationRequest.fromPartial({ requestId: 'observe', n: 2, maxSteps: 2, outDir: 'observe' }), { timeoutMs: 30_000 });
  for await (const _ of serverStream(trajectory.watchJob.bind(trajectory), { jobId: job.id, afterSeq: 0 })) { /* until done */ }
  trajectory.close();
  const targets = join(dir, 'targets.json');
  writeScrapeTargets(targets, Object.fromEntries(services.map((s) => [s.name, s.metricsUrl])));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  prometheus = spawn(process.execPath, [SPARK_BIN, 'observe', '--port', String(port), '--targets', targets, '--data-dir', join(dir, 'prom')], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    prometheus.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('live SPaRK console')) resolve(); });
    prometheus.once('exit', (code) => reject(new Error(`spark observe exited with ${code}`)));
  });
}, 120_000);

afterAll(async () => {
  prometheus?.kill('SIGINT');
  await Promise.all(services.map((s) => s.stop()));
});

describe('spark observe', () => {
  it('scrapes all five services and sees their SPaRK metrics', async () => {
    let up: Awaited<ReturnType<typeof query>> = [];
    for (let i = 0; i < 150; i++) {
      up = await query('up == 1');
      if (up.length === 5) break;
      await sleep(200);
    }
    expect(up.map((r) => r.metric.spark_component).sort()).toEqual([...SERVICE_NAMES].sort());
    let requests: Awaited<ReturnType<typeof query>> = [];
    for (let i = 0; i < 50 && requests.length < 5; i++) {
      requests = await query('spark_grpc_requests_total{method="Check"}');
      await sleep(200);
    }
    expect(new Set(requests.map((r) => r.metric.service))).toEqual(new Set(SERVICE_NAMES));
    const names = ((await (await fetch(`${base}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data;
    expect(names).toEqual(expect.arrayContaining([
      'spark_grpc_request_duration_seconds_bucket', 'spark_dataset_questions_served_total', 'spark_judge_requests_total',
      'spark_judge_score_bucket', 'spark_tool_calls_total', 'spark_tool_selection_entropy_bits', 'spark_trajectories_total', 'spark_rollout_steps_total',
    ]));
    // The rollout's own `job` label survives (honor_labels), so the entropy is per generation job.
    const entropy = await query('spark_tool_selection_entropy_bits');
    expect(entropy[0]!.metric.job).toMatch(/^generation-/);
  });

  it('loads the repository rules and serves the live console page', async () => {
    const rules = (await (await fetch(`${base}/api/v1/rules`)).json()) as { data: { groups: Array<{ name: string; rules: unknown[] }> } };
    expect(rules.data.groups.map((g) => g.name)).toEqual(expect.arrayContaining(['spark.recording']));
    const page = await fetch(`${base}/consoles/spark.html`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('SPaRK — live');
    expect(html).toMatch(/Scrape targets up: 5 of 5/);
  });
});
