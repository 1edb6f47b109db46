/**
 * TrainerService over real gRPC, started in-process on a temporary artifact root holding a tiny random
 * Llama and a synthetic step file: StartTraining (local executor) → WatchJob per-step metrics with verl
 * keys and `train/step` → SUCCEEDED with the PEFT adapter; ListCheckpoints; Generate (streamed tokens
 * with log-probs, stop strings, seeded sampling, cached models); ScoreSequences; MergeAdapter;
 * CancelJob saving a checkpoint; and the Kubernetes executor against a local API server.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { Job as JobModel } from 'kubernetes-models/batch/v1/Job';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, serverStream, unary } from '../services/common/client.js';
import { JobState, ModelBackend, type JobEvent } from '../services/common/gen/spark/v1/common.js';
import { StartTrainingRequest, TrainerServiceClient, TrainingMode, type GenerateResponse } from '../services/common/gen/spark/v1/trainer.js';
import { TRAIN_COMMAND } from '../services/trainer/k8s/manifest.js';
import { trainerService } from '../services/trainer/main.js';
import { loadTrainingSpecFile } from '../services/trainer/spec.js';
import { formatStepLine } from '../services/trainer/training/step-log.js';
import { KubeApiServer } from './helpers/kube-api-server.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';
import { contextFor, oneActionRewarded, tinyModel, writeSteps } from './helpers/trainer-fixtures.js';

const VERL_KEYS = ['actor/loss', 'actor/pg_clipfrac', 'actor/ppo_kl', 'actor/kl_ref', 'actor/entropy', 'actor/grad_norm', 'actor/lr', 'critic/score/mean', 'perf/tokens_per_second', 'perf/mfu'];

let root: string;
let service: TestService;
let client: TrainerServiceClient;

beforeAll(async () => {
  root = tempDir('spark-trainer-');
  await tinyModel(join(root, 'models'), { name: 'tiny' });
  mkdirSync(join(root, 'data'));
  writeSteps(join(root, 'data', 'steps.jsonl'), oneActionRewarded(1));
  service = await startTestService(trainerService, { env: { SPARK_TRAINER_THREADS: '2' }, overrides: { artifactRoot: root } });
  client = createClient(TrainerServiceClient, service.address);
}, 120_000);

afterAll(async () => {
  client?.close();
  await service?.stop();
});

const request = (requestId: string, outDir: string, hyper: Partial<StartTrainingRequest['hyper']> = {}, mode = TrainingMode.TRAINING_MODE_PPO) => StartTrainingRequest.fromPartial({
  requestId, mode, data: { uri: 'data/steps.jsonl' }, baseModelPath: 'models/tiny', outDir,
  lora: { rank: 4, alpha: 8 }, hyper: { lr: 5e-3, maxSteps: 4, batchSize: 3, gradAccum: 1, warmupSteps: 1, saveEvery: 2, ...hyper },
});

async function watch(c: TrainerServiceClient, jobId: string, until?: (ev: JobEvent) => boolean): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const ev of serverStream(c.watchJob.bind(c), { jobId, afterSeq: 0 }, { timeoutMs: 180_000 })) {
    events.push(ev);
    if (until?.(ev)) break;
  }
  return events;
}

const model = (adapter?: string) => ({
  name: 'policy', backend: ModelBackend.MODEL_BACKEND_TRAINER, baseModelPath: 'models/tiny',
  adapter: adapter ? { uri: adapter, mediaType: '', sha256: '', sizeBytes: 0 } : undefined, endpointBaseUrl: '', endpointModel: '',
});

async function generate(req: Parameters<TrainerServiceClient['generate']>[0]): Promise<GenerateResponse[]> {
  const out: GenerateResponse[] = [];
  for await (const piece of serverStream(client.generate.bind(client), req, { timeoutMs: 60_000 })) out.push(piece);
  return out;
}

describe('TrainerService (local executor)', () => {
  it('StartTraining runs a job whose WatchJob events carry per-step metrics and end with the adapter', async () => {
    const job = await unary(client.startTraining.bind(client), request('ppo-1', 'runs/ppo'), { timeoutMs: 30_000 });
    expect(job.kind).toBe('training');
    const events = await watch(client, job.id);
    const steps = events.filter((e) => e.state === JobState.JOB_STATE_RUNNING && e.metrics['train/step'] !== undefined);
    expect(steps.map((e) => e.metrics['train/step'])).toEqual([1, 2, 3, 4]);
    for (const e of steps) for (const key of VERL_KEYS) expect(Number.isFinite(e.metrics[key]), key).toBe(true);
    expect(steps.map((e) => e.progress)).toEqual([0.25, 0.5, 0.75, 1]);
    const last = events.at(-1)!;
    expect(last.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(last.artifacts).toEqual([{ uri: 'runs/ppo/final', mediaType: 'application/x-peft-adapter', sha256: '', sizeBytes: 0 }]);
    expect(existsSync(join(root, 'runs/ppo/final/adapter_model.safetensors'))).toBe(true);
    // Idempotent by request_id: the same job comes back.
    expect((await unary(client.startTraining.bind(client), request('ppo-1', 'runs/ppo'), { timeoutMs: 10_000 })).id).toBe(job.id);

    const body = await scrape(service.metricsPort);
    expect(sampleValue(body, 'spark_train_steps_total', { mode: 'ppo' })).toBe(4);
    expect(sampleValue(body, 'spark_train_lr')).toBeCloseTo(steps.at(-1)!.metrics['actor/lr']!, 10);
    for (const name of ['spark_train_loss', 'spark_train_kl', 'spark_train_clipfrac', 'spark_train_entropy', 'spark_train_reward', 'spark_train_grad_norm', 'spark_train_tokens_per_second', 'spark_train_mfu_ratio']) {
      expect(sampleValue(body, name), name).toBeDefined();
    }
    expect(sampleValue(body, 'spark_train_tokens_per_second')).toBeGreaterThan(0);

    const byJob = await unary(client.listCheckpoints.bind(client), { jobId: job.id, outDir: '' }, { timeoutMs: 10_000 });
    expect(byJob.checkpoints.map((c) => [c.adapter!.uri, c.step])).toEqual([['runs/ppo/checkpoint-2', 2], ['runs/ppo/final', 4]]);
    expect(byJob.checkpoints[1]!.metrics['train/step']).toBe(4);
    const byDir = await unary(client.listCheckpoints.bind(client), { jobId: '', outDir: 'runs/ppo' }, { timeoutMs: 10_000 });
    expect(byDir.checkpoints).toEqual(byJob.checkpoints);
    await expect(unary(client.listCheckpoints.bind(client), { jobId: '', outDir: '' }, { timeoutMs: 10_000 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
  }, 180_000);

  it('rejects a bad spec before any work, naming the field', async () => {
    await expect(unary(client.startTraining.bind(client), request('bad-1', 'runs/bad', {}, TrainingMode.TRAINING_MODE_UNSPECIFIED), { timeoutMs: 10_000 }))
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('mode') });
    await expect(unary(client.startTraining.bind(client), { ...request('bad-2', 'runs/bad'), lora: { rank: 0, alpha: 0, dropout: 0, targetModules: [], quantization: 0, doubleQuant: false, modulesToSave: [] } }, { timeoutMs: 10_000 }))
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('lora.rank') });
    await expect(unary(client.startTraining.bind(client), { ...request('bad-3', 'runs/bad'), data: { uri: 'data/missing.jsonl', mediaType: '', sha256: '', sizeBytes: 0 } }, { timeoutMs: 10_000 }))
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('data.uri') });
    const saving = (requestId: string, modulesToSave: string[], mode = TrainingMode.TRAINING_MODE_SFT) =>
      ({ ...request(requestId, 'runs/bad', {}, mode), lora: { rank: 4, alpha: 8, dropout: 0, targetModules: [], quantization: 0, doubleQuant: false, modulesToSave } });
    await expect(unary(client.startTraining.bind(client), saving('bad-4', ['embed_tokens'], TrainingMode.TRAINING_MODE_PPO), { timeoutMs: 10_000 }))
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^lora\.modules_to_save: only sft supports it/) });
    await expect(unary(client.startTraining.bind(client), saving('bad-5', ['lm_head']), { timeoutMs: 10_000 })) // the tiny model is tied
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^lora\.modules_to_save: lm_head is tied to embed_tokens/) });
    await expect(unary(client.startTraining.bind(client), saving('bad-6', ['wte']), { timeoutMs: 10_000 }))
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^lora\.modules_to_save\[0\]: .*\(allowed: embed_tokens, lm_head\)/) });
  });

  it('Generate streams tokens with log-probs, honours stop strings and seeds, and keeps the model loaded', async () => {
    const conversations = [{ messages: contextFor(0) }, { messages: contextFor(1) }];
    const sampling = { maxTokens: 6, temperature: 0.9, topP: 0, topK: 0, stop: [], seed: 5 };
    const first = await generate({ model: model('runs/ppo/final'), conversations, sampling });
    for (const row of [0, 1]) {
      const pieces = first.filter((p) => p.index === row);
      expect(pieces.length).toBeGreaterThan(0);
      expect(pieces.length).toBeLessThanOrEqual(6);
      expect(pieces.filter((p) => p.finished)).toHaveLength(1);
      expect(pieces.at(-1)!.finished).toBe(true);
      expect(['stop', 'length']).toContain(pieces.at(-1)!.finishReason);
      for (const p of pieces) expect(p.logprob).toBeLessThanOrEqual(0);
    }
    const again = await generate({ model: model('runs/ppo/final'), conversations, sampling });
    expect(again.map((p) => p.tokenId)).toEqual(first.map((p) => p.tokenId));
    const body = await scrape(service.metricsPort);
    expect(sampleValue(body, 'spark_train_model_loads_total')).toBe(1);

    // Greedy, then again with a stop string taken from the middle of that text.
    const greedy = { ...sampling, maxTokens: 12, temperature: 0 };
    const free = (await generate({ model: model(), conversations: [conversations[0]!], sampling: greedy })).map((p) => p.text).join('');
    expect(free.length).toBeGreaterThan(6);
    const stop = free.slice(Math.floor(free.length / 2), Math.floor(free.length / 2) + 3);
    const cut = await generate({ model: model(), conversations: [conversations[0]!], sampling: { ...greedy, stop: [stop] } });
    expect(cut.map((p) => p.text).join('')).toBe(free.slice(0, free.indexOf(stop)));
    expect(cut.at(-1)).toMatchObject({ finished: true, finishReason: 'stop' });

    await expect(generate({ model: { ...model(), backend: ModelBackend.MODEL_BACKEND_OPENAI }, conversations, sampling }))
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('model.backend') });
    await expect(generate({ model: { ...model(), baseModelPath: 'models/none' }, conversations, sampling })).rejects.toMatchObject({ code: status.NOT_FOUND });
  }, 120_000);

  it('ScoreSequences returns per-token log-probs of each continuation', async () => {
    const res = await unary(client.scoreSequences.bind(client), {
      model: model('runs/ppo/final'), contexts: [{ messages: contextFor(0) }, { messages: contextFor(1) }], continuations: ['use calculator<|eot_id|>', 'use python'],
    }, { timeoutMs: 60_000 });
    expect(res.rows.map((r) => r.logprobs.length)).toEqual([3, 2]); // "use", " calculator", "<|eot_id|>"
    for (const r of res.rows) {
      expect(r.total).toBeCloseTo(r.logprobs.reduce((a, b) => a + b, 0), 4);
      for (const lp of r.logprobs) expect(lp).toBeLessThan(0);
    }
  }, 60_000);

  it('MergeAdapter writes full weights under the artifact root', async () => {
    const res = await unary(client.mergeAdapter.bind(client), {
      baseModelPath: 'models/tiny', adapter: { uri: 'runs/ppo/final', mediaType: '', sha256: '', sizeBytes: 0 }, outDir: 'models/merged',
    }, { timeoutMs: 120_000 });
    expect(res.model).toMatchObject({ uri: 'models/merged', mediaType: 'application/x-llama-checkpoint' });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) expect(existsSync(join(root, 'models/merged', f)), f).toBe(true);
    await expect(unary(client.mergeAdapter.bind(client), { baseModelPath: 'models/tiny', adapter: { uri: '../outside', mediaType: '', sha256: '', sizeBytes: 0 }, outDir: 'x' }, { timeoutMs: 10_000 }))
      .rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('adapter.uri') });
  }, 120_000);

  it('CancelJob saves a checkpoint and stops', async () => {
    const job = await unary(client.startTraining.bind(client), request('long-1', 'runs/long', { maxSteps: 500, saveEvery: 1000 }), { timeoutMs: 30_000 });
    await watch(client, job.id, (e) => (e.metrics['train/step'] ?? 0) >= 1);
    const cancelled = await unary(client.cancelJob.bind(client), { jobId: job.id, reason: 'enough' }, { timeoutMs: 60_000 });
    expect(cancelled.state).toBe(JobState.JOB_STATE_CANCELLED);
    const list = await unary(client.listCheckpoints.bind(client), { jobId: job.id, outDir: '' }, { timeoutMs: 10_000 });
    expect(list.checkpoints).toHaveLength(1);
    expect(list.checkpoints[0]!.adapter!.uri).toMatch(/^runs\/long\/checkpoint-\d+$/);
    expect(list.checkpoints[0]!.step).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

describe('TrainerService (kubernetes executor)', () => {
  async function k8sService(outcome: 'succeed' | 'hang', logLines: string[]) {
    const api = await KubeApiServer.start({ outcome, logLines });
    const kubeconfig = join(root, `kubeconfig-${outcome}`);
    writeFileSync(kubeconfig, api.kubeconfig('spark'));
    const s = await startTestService(trainerService, {
      artifactRoot: root,
      env: { SPARK_TRAINER_EXECUTOR: 'kubernetes', SPARK_TRAINER_KUBECONFIG: kubeconfig, SPARK_TRAINER_NAMESPACE: 'spark', SPARK_TRAINER_POD_POLL_MS: '20', SPARK_TRAINER_LOG_DRAIN_MS: '5000' },
    });
    const c = createClient(TrainerServiceClient, s.address);
    return { api, s, c, close: async () => { c.close(); await s.stop({ keepArtifacts: true }); await api.close(); } };
  }

  it('runs a training Job on the GPU pool and turns its step lines into WatchJob metrics', async () => {
    const lines = [formatStepLine({ step: 1, totalSteps: 2, metrics: { 'train/step': 1, 'actor/loss': 0.7 } }), 'saved checkpoint-1', formatStepLine({ step: 2, totalSteps: 2, metrics: { 'train/step': 2, 'actor/loss': 0.5 } })];
    const k = await k8sService('succeed', lines);
    try {
      const job = await unary(k.c.startTraining.bind(k.c), request('k8s-1', 'runs/k8s'), { timeoutMs: 30_000 });
      const events = await watch(k.c, job.id);
      expect(events.filter((e) => e.state === JobState.JOB_STATE_RUNNING && e.metrics['train/step']).map((e) => [e.metrics['train/step'], e.metrics['actor/loss'], e.progress])).toEqual([[1, 0.7, 0.5], [2, 0.5, 1]]);
      expect(events.map((e) => e.message)).toContain('saved checkpoint-1');
      expect(events.some((e) => /pod .*: Running/.test(e.message))).toBe(true);
      expect(events.at(-1)).toMatchObject({ state: JobState.JOB_STATE_SUCCEEDED, artifacts: [{ uri: 'runs/k8s/final', mediaType: 'application/x-peft-adapter' }] });
      const create = k.api.requests.find((r) => r.method === 'POST')!;
      expect(() => new JobModel(create.body as never).validate()).not.toThrow();
      const specPath = join(root, 'runs/k8s/spec.json');
      const container = create.body!.spec.template.spec.containers[0];
      expect(container.command).toEqual([...TRAIN_COMMAND, '--spec', specPath]);
      expect(container.resources.limits['nvidia.com/gpu']).toBe('1');
      expect(loadTrainingSpecFile(specPath)).toMatchObject({ mode: 'ppo', executor: 'kubernetes', outDir: join(root, 'runs/k8s'), lora: { rank: 4 } });
      expect(JSON.parse(readFileSync(specPath, 'utf8')).hyper.maxSteps).toBe(4);
    } finally {
      await k.close();
    }
  }, 60_000);

  it('CancelJob deletes the training Job', async () => {
    const k = await k8sService('hang', ['{"event":"train_step","step":1,"total_steps":9,"metrics":{"train/step":1}}']);
    try {
      const job = await unary(k.c.startTraining.bind(k.c), request('k8s-2', 'runs/k8s-cancel'), { timeoutMs: 30_000 });
      await watch(k.c, job.id, (e) => e.metrics['train/step'] === 1);
      const cancelled = await unary(k.c.cancelJob.bind(k.c), { jobId: job.id, reason: 'stop' }, { timeoutMs: 30_000 });
      expect(cancelled.state).toBe(JobState.JOB_STATE_CANCELLED);
      const del = k.api.requests.find((r) => r.method === 'DELETE');
      expect(del?.path).toMatch(/^\/apis\/batch\/v1\/namespaces\/spark\/jobs\/spark-train-/);
    } finally {
      await k.close();
    }
  }, 60_000);
});
