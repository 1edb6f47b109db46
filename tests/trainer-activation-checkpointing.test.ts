/**
 * `Hyperparameters.activation_checkpointing` end to end: two PPO jobs over real gRPC (TrainerService
 * in-process on loopback, local executor, a tiny random Llama on the CPU), the same seed and data, one
 * with activation checkpointing and one without. The flag reaches the model the run trains (a
 * pass-through spy on LlamaModel.setActivationCheckpointing: the only way to see it, the addon keeps the
 * setting to itself), is recorded in the checkpoint's spark_training.json, and changes nothing else: the
 * per-step losses, gradient norms and the final LoRA weights agree within float tolerance. Dropout is
 * on (proto 0 means the default 0.05), so the recomputed blocks must also replay the dropout masks, and
 * two micro-batches per step check that the replay leaves the random state as the plain forward does.
 * `spark train sft --activation-checkpointing` (the built CLI) documents the flag and records it too.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClient, serverStream, unary } from '../services/common/client.js';
import { JobState } from '../services/common/gen/spark/v1/common.js';
import { StartTrainingRequest, TrainerServiceClient, TrainingMode } from '../services/common/gen/spark/v1/trainer.js';
import { LlamaModel } from '../services/trainer/model/llama.js';
import { readSafetensors } from '../services/trainer/model/safetensors.js';
import { trainerService } from '../services/trainer/main.js';
import { readTrainingConfig } from '../services/trainer/training/checkpoint.js';
import { runSpark, runSparkAsync } from './helpers/cli.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';
import { oneActionRewarded, tinyModel, writeSteps } from './helpers/trainer-fixtures.js';

let root: string;
let service: TestService;
let client: TrainerServiceClient;

beforeAll(async () => {
  root = tempDir('spark-actckpt-');
  await tinyModel(join(root, 'models'), { name: 'tiny' });
  mkdirSync(join(root, 'data'));
  // A different judge score per example: no step's batch has equal rewards, whose advantages normalise to 0.
  writeSteps(join(root, 'data', 'steps.jsonl'), oneActionRewarded(1).map((s, i) => ({ ...s, reward: { ...s.reward, judge_score: (i + 1) / 10 } })));
  service = await startTestService(trainerService, { env: { SPARK_TRAINER_THREADS: '2' }, overrides: { artifactRoot: root } });
  client = createClient(TrainerServiceClient, service.address);
}, 120_000);

afterEach(() => vi.restoreAllMocks());

afterAll(async () => {
  client?.close();
  await service?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Runs a 2-step PPO job to its end; returns its per-step metrics and final adapter folder. */
async function train(name: string, activationCheckpointing: boolean) {
  const req = StartTrainingRequest.fromPartial({
    requestId: name, mode: TrainingMode.TRAINING_MODE_PPO, data: { uri: 'data/steps.jsonl' }, baseModelPath: 'models/tiny', outDir: `runs/${name}`,
    lora: { rank: 4, alpha: 8 },
    hyper: { lr: 5e-3, maxSteps: 2, batchSize: 2, gradAccum: 2, warmupSteps: 1, seed: 7, saveEvery: 100, activationCheckpointing },
  });
  const job = await unary(client.startTraining.bind(client), req, { timeoutMs: 30_000 });
  const steps: Array<Record<string, number>> = [];
  let last: JobState = JobState.JOB_STATE_UNSPECIFIED;
  for await (const ev of serverStream(client.watchJob.bind(client), { jobId: job.id, afterSeq: 0 }, { timeoutMs: 180_000 })) {
    if (ev.state === JobState.JOB_STATE_RUNNING && ev.metrics['train/step'] !== undefined) steps.push(ev.metrics);
    last = ev.state;
  }
  expect(last).toBe(JobState.JOB_STATE_SUCCEEDED);
  return { steps, finalDir: join(root, 'runs', name, 'final') };
}

async function adapterWeights(dir: string): Promise<Map<string, number[]>> {
  const tensors = await readSafetensors(join(dir, 'adapter_model.safetensors'));
  const out = new Map([...tensors].map(([k, t]) => [k, t.toArray()]));
  for (const t of tensors.values()) t.dispose();
  return out;
}

const maxDiff = (x: number[], y: number[]) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
const maxAbs = (x: number[]) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('activation checkpointing through StartTraining', () => {
  it('reaches the model, is recorded with the checkpoint, and gives the losses and LoRA weights of a plain run', async () => {
    const spy = vi.spyOn(LlamaModel.prototype, 'setActivationCheckpointing');
    const plain = await train('plain', false);
    expect(spy).not.toHaveBeenCalled(); // off is the model's default: nothing to set
    const ckpt = await train('ckpt', true);
    expect(spy.mock.calls).toEqual([[true]]);

    expect(readTrainingConfig(plain.finalDir).hyper.activationCheckpointing).toBe(false);
    expect(readTrainingConfig(ckpt.finalDir).hyper.activationCheckpointing).toBe(true);

    expect(plain.steps.map((m) => m['train/step'])).toEqual([1, 2]);
    expect(ckpt.steps.map((m) => m['train/step'])).toEqual([1, 2]);
    for (const key of ['actor/loss', 'actor/grad_norm', 'actor/entropy', 'actor/kl_ref']) {
      for (let i = 0; i < 2; i++) {
        const a = plain.steps[i]![key]!, b = ckpt.steps[i]![key]!;
        expect(Number.isFinite(a), key).toBe(true);
        expect(Math.abs(a - b), `${key} at step ${i + 1}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(a)));
      }
    }
    for (const m of plain.steps) expect(m['actor/grad_norm']).toBeGreaterThan(1e-6); // there were gradients to compare

    const a = await adapterWeights(plain.finalDir);
    const b = await adapterWeights(ckpt.finalDir);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    expect(a.size).toBe(2 * 2 * 7); // tiny preset: 2 layers × 7 projections × (A, B)
    let trainedB = 0;
    for (const [key, w] of a) {
      expect(maxDiff(w, b.get(key)!), key).toBeLessThan(1e-5 * Math.max(1, maxAbs(w)));
      if (key.endsWith('lora_B.weight')) trainedB = Math.max(trainedB, maxAbs(w));
    }
    expect(trainedB).toBeGreaterThan(1e-4); // B starts at zero: the two steps moved it
  }, 240_000);

  it('spark train sft --activation-checkpointing: listed in --help, recorded in the run\'s spark_training.json', async () => {
    expect(runSpark(['train', 'sft', '--help']).stdout).toMatch(/--activation-checkpointing\s+keep only each decoder block's input/);
    const out = join(root, 'runs', 'cli');
    const r = await runSparkAsync([
      'train', 'sft', '--data', join(root, 'data', 'steps.jsonl'), '--model', join(root, 'models', 'tiny'), '--out', out,
      '--steps', '1', '--warmup-steps', '0', '--batch-size', '2', '--grad-accum', '1', '--rank', '4', '--threads', '1', '--device', 'cpu',
      '--activation-checkpointing',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readTrainingConfig(join(out, 'final')).hyper.activationCheckpointing).toBe(true);
  }, 120_000);
});
