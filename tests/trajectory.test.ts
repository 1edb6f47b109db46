/**
 * Rollouts over real gRPC: dataset + offline judge + trajectory services on loopback, the heuristic
 * generator and the real tools. Generation, streaming, step examples, bad requests, metrics, the CLI,
 * and resume after the service is SIGKILLed mid-job.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, serverStream, unary } from '../services/common/client.js';
import { JobState } from '../services/common/gen/spark/v1/common.js';
import { SelectionPolicy, StartGenerationRequest, TrajectoryServiceClient } from '../services/common/gen/spark/v1/trajectory.js';
import { readJsonl } from '../services/common/files.js';
import { spawnService } from '../services/common/launcher.js';
import { datasetService } from '../services/dataset/main.js';
import { judgeService } from '../services/judge/main.js';
import type { TrajectoryRecord } from '../services/trajectory/records.js';
import { trajectoryService } from '../services/trajectory/main.js';
import { runSparkAsync } from './helpers/cli.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';

let dataset: TestService;
let judge: TestService;
let trajectory: TestService;
let client: InstanceType<typeof TrajectoryServiceClient>;
const upstreamEnv = () => ({ SPARK_DATASET_ADDRESS: dataset.address, SPARK_JUDGE_ADDRESS: judge.address });

beforeAll(async () => {
  dataset = await startTestService(datasetService);
  judge = await startTestService(judgeService);
  trajectory = await startTestService(trajectoryService, { env: upstreamEnv() });
  client = createClient(TrajectoryServiceClient, trajectory.address);
});
afterAll(async () => {
  client.close();
  for (const s of [trajectory, judge, dataset]) await s.stop();
});

const request = (over: Partial<StartGenerationRequest> = {}) => StartGenerationRequest.fromPartial({ requestId: `r-${Math.random()}`, n: 14, maxSteps: 3, seed: 3, outDir: 'gen', concurrency: 4, ...over });

async function runToEnd(req: StartGenerationRequest) {
  const job = await unary(client.startGeneration.bind(client), req, { timeoutMs: 30_000 });
  const events = [];
  for await (const ev of serverStream(client.watchJob.bind(client), { jobId: job.id, afterSeq: 0 })) events.push(ev);
  return { job: await unary(client.getJob.bind(client), { jobId: job.id }, { timeoutMs: 5_000 }), events };
}

/** Trajectories without timing fields, by question id (for comparing runs). */
const canonical = (records: TrajectoryRecord[]) => records
  .map((r) => ({ ...r, steps: r.steps.map(({ duration_ms: _d, ...s }) => s) }))
  .sort((a, b) => a.question_id - b.question_id);

describe('TrajectoryService generation', () => {
  it('rolls out questions rarity-first through the real tools and judge, and streams them', async () => {
    const { job, events } = await runToEnd(request({ outDir: 'gen-a' }));
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(events.at(-1)!.metrics['rollout/tool_entropy_bits']).toBeGreaterThan(1);
    const records = readJsonl<TrajectoryRecord>(join(trajectory.artifactRoot, 'gen-a', 'trajectories.jsonl'));
    expect(records).toHaveLength(14);
    expect(new Set(records.map((r) => r.category)).size).toBeGreaterThan(5);
    for (const r of records) {
      expect(r.steps).toHaveLength(3);
      expect(r.steps[0].candidates).toHaveLength(9);
      expect(r.steps.at(-1)!.is_final).toBe(true);
      expect(r.final_answer).toMatch(/^[A-J]$/);
    }
    // Rarity-first with the offline judge uses many different tools, and the tools really ran.
    const actions = records.flatMap((r) => r.steps.filter((s) => !s.is_final).map((s) => s.action));
    expect(new Set(actions).size).toBeGreaterThanOrEqual(5);
    expect(records.flatMap((r) => r.steps).some((s) => s.action === 'calculator' && s.output && !s.error)).toBe(true);
    const manifest = JSON.parse(readFileSync(join(trajectory.artifactRoot, 'gen-a', 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ generator: 'heuristic', judge: 'offline', questions: 14 });

    const streamed = [];
    for await (const t of serverStream(client.streamTrajectories.bind(client), { jobId: job.id, afterIndex: 10 }, { timeoutMs: 10_000 })) streamed.push(t);
    expect(streamed.map((t) => t.questionId)).toEqual(records.slice(10).map((r) => r.question_id));

    const steps = await unary(client.buildStepExamples.bind(client), { trajectories: { uri: 'gen-a/trajectories.jsonl', mediaType: '', sha256: '', sizeBytes: 0 }, outUri: 'gen-a/steps.jsonl' }, { timeoutMs: 30_000 });
    expect(steps.count).toBe(14 * 3);
    expect(readJsonl(join(trajectory.artifactRoot, 'gen-a', 'steps.jsonl'))).toHaveLength(42);

    const body = await scrape(trajectory.metricsPort);
    expect(sampleValue(body, 'spark_tool_selection_entropy_bits', { job: job.id })).toBeGreaterThan(1);
    const outcomes = ['correct', 'incorrect'].map((o) => sampleValue(body, 'spark_trajectories_total', { outcome: o }) ?? 0);
    expect(outcomes[0]! + outcomes[1]!).toBe(14);
    expect(sampleValue(body, 'spark_rollout_steps_total', { action: 'calculator', reason: 'rarest_viable' })).toBeGreaterThan(0);
  });

  it('is idempotent by request_id', async () => {
    const req = request({ outDir: 'gen-b', n: 2 });
    const a = await unary(client.startGeneration.bind(client), req, { timeoutMs: 30_000 });
    const b = await unary(client.startGeneration.bind(client), req, { timeoutMs: 30_000 });
    expect(b.id).toBe(a.id);
  });

  it('rejects bad requests naming the field', async () => {
    const bad = (over: Partial<StartGenerationRequest>) => unary(client.startGeneration.bind(client), request(over), { timeoutMs: 10_000 }).catch((e) => e);
    expect(await bad({ selection: 99 as SelectionPolicy })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^selection: .*allowed: rarity_first/) });
    expect(await bad({ outDir: '../escape' })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('outDir') });
    expect(await bad({ n: 0 })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('n: must be > 0') });
    expect(await bad({ maxSteps: 50 })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('maxSteps') });
    expect(await bad({ generator: 2 })).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('SPARK_GENERATOR_BASE_URL') });
  });
});

describe('resume after SIGKILL', () => {
  it('continues where it stopped: no duplicate, no lost question, same trajectories as an uninterrupted run', async () => {
    const req = request({ requestId: 'kill-me', n: 16, concurrency: 2, outDir: 'killed' });
    const reference = await runToEnd({ ...req, requestId: 'reference', outDir: 'reference' });
    expect(reference.job.state).toBe(JobState.JOB_STATE_SUCCEEDED);

    const root = tempDir();
    const env = { ...upstreamEnv(), SPARK_ARTIFACT_ROOT: root };
    const first = await spawnService('trajectory', { env });
    const c1 = createClient(TrajectoryServiceClient, first.address);
    const job = await unary(c1.startGeneration.bind(c1), req, { timeoutMs: 30_000 });
    const file = join(root, 'killed', 'trajectories.jsonl');
    while (!existsSync(file) || readJsonl(file).length < 4) await new Promise((r) => setTimeout(r, 100));
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    c1.close();
    const partial = readJsonl(file).length;
    expect(partial).toBeLessThan(16);

    const second = await spawnService('trajectory', { env });
    const c2 = createClient(TrajectoryServiceClient, second.address);
    const resumed = await unary(c2.startGeneration.bind(c2), req, { timeoutMs: 30_000 });
    expect(resumed.id).toBe(job.id);
    for await (const _ of serverStream(c2.watchJob.bind(c2), { jobId: job.id, afterSeq: 0 })) { /* until done */ }
    expect((await unary(c2.getJob.bind(c2), { jobId: job.id }, { timeoutMs: 5_000 })).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    c2.close();
    await second.stop();

    const records = readJsonl<TrajectoryRecord>(file);
    expect(records.map((r) => r.question_id).sort()).toEqual([...new Set(records.map((r) => r.question_id))].sort());
    expect(records).toHaveLength(16);
    expect(canonical(records)).toEqual(canonical(readJsonl<TrajectoryRecord>(join(trajectory.artifactRoot, 'reference', 'trajectories.jsonl'))));
  });
});

describe('spark trajectory', () => {
  it('generates with a progress report and decomposes into step examples', async () => {
    const dir = tempDir();
    const gen = await runSparkAsync(['trajectory', 'generate', '--n', '4', '--steps', '2', '--seed', '1', '--out', join(dir, 'run'), '--dataset', dataset.address, '--judge', judge.address]);
    expect(gen.code, gen.stderr).toBe(0);
    expect(gen.stdout).toMatch(/4 trajectories \(0 dropped\)/);
    expect(gen.stderr).toMatch(/"progress":"generate","done":4,"total":4/);
    const steps = await runSparkAsync(['trajectory', 'steps', '--in', join(dir, 'run'), '--out', join(dir, 'steps.jsonl')]);
    expect(steps.code, steps.stderr).toBe(0);
    expect(steps.stdout).toMatch(/^8 step examples from 4 trajectories/);
  });

  it('rejects a bad flag naming it and the allowed values', async () => {
    const r = await runSparkAsync(['trajectory', 'generate', '--n', '2', '--selection', 'rarest', '--out', tempDir()]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--selection.*rarity_first/);
  });
});

describe('the policy as generator', () => {
  it('rolls out with candidates sampled from a Llama checkpoint through TrainerService.Generate', async () => {
    const { trainerService } = await import('../services/trainer/main.js');
    const { initCheckpoint } = await import('../services/trainer/model/init.js');
    const model = join(tempDir(), 'tiny');
    await initCheckpoint(model, { preset: 'tiny', dtype: 'float32', seed: 0 });
    const trainer = await startTestService(trainerService);
    const withPolicy = await startTestService(trajectoryService, { env: { ...upstreamEnv(), SPARK_TRAINER_ADDRESS: trainer.address, SPARK_GENERATOR_MAX_TOKENS: '24' } });
    const c = createClient(TrajectoryServiceClient, withPolicy.address);
    try {
      const job = await unary(c.startGeneration.bind(c), request({ n: 1, maxSteps: 2, concurrency: 1, outDir: 'policy', generator: 3, generatorModel: { name: 'policy', baseModelPath: model, backend: 1, endpointBaseUrl: '', endpointModel: '' } }), { timeoutMs: 30_000 });
      for await (const _ of serverStream(c.watchJob.bind(c), { jobId: job.id, afterSeq: 0 })) { /* until done */ }
      const done = await unary(c.getJob.bind(c), { jobId: job.id }, { timeoutMs: 5_000 });
      expect(done.state, done.message).toBe(JobState.JOB_STATE_SUCCEEDED);
      const [record] = readJsonl<TrajectoryRecord>(join(withPolicy.artifactRoot, 'policy', 'trajectories.jsonl'));
      expect(record!.steps).toHaveLength(2);
      expect(record!.steps[0]!.candidates.map((x) => x.action)).toHaveLength(9);
      expect(JSON.parse(readFileSync(join(withPolicy.artifactRoot, 'policy', 'manifest.json'), 'utf8')).generator).toBe('policy');
      // Without a model the request is refused before any work, naming the field.
      const err = await unary(c.startGeneration.bind(c), request({ generator: 3 }), { timeoutMs: 10_000 }).catch((e) => e);
      expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('generatorModel') });
    } finally {
      c.close();
      await withPolicy.stop();
      await trainer.stop();
    }
  }, 180_000);
});
