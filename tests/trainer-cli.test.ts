/**
 * `spark train` as users and Kubernetes pods run it (the built CLI, child processes): bad specs are
 * rejected before any work naming the flag; a run SIGKILLed mid-way and continued with
 * `spark train resume` ends with the same weights, optimiser state and loss curve as one that never
 * stopped (deterministic CPU); `train run --spec` prints one JSON line per step; `train merge` writes a
 * full checkpoint.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJsonl } from '../services/common/files.js';
import { SPARK_BIN } from '../services/common/launcher.js';
import { parseStepLine } from '../services/trainer/training/step-log.js';
import { runSparkAsync } from './helpers/cli.js';
import { tempDir } from './helpers/service.js';
import { oneActionRewarded, tinyModel, writeSteps } from './helpers/trainer-fixtures.js';

let root: string;
let model: string;
let data: string;

beforeAll(async () => {
  root = tempDir('spark-train-cli-');
  model = await tinyModel(root, { initRange: 0.02 });
  data = writeSteps(join(root, 'steps.jsonl'), oneActionRewarded(1));
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Flags of a small PPO run with dropout on (so the per-step RNG matters) and frequent checkpoints. */
const runFlags = (out: string) => [
  '--data', data, '--model', model, '--out', out, '--steps', '10', '--batch-size', '3', '--grad-accum', '2', '--warmup-steps', '1',
  '--lr', '5e-3', '--rank', '4', '--alpha', '8', '--dropout', '0.1', '--save-every', '2', '--threads', '1',
];

describe('spark train', () => {
  it('rejects bad specs before any work, naming the flag', async () => {
    const out = join(root, 'never');
    const cases: Array<[string[], RegExp]> = [
      [['ppo', '--data', join(root, 'missing.jsonl'), '--model', model, '--out', out], /--data: no such file/],
      [['ppo', '--data', data, '--model', model, '--out', out, '--rank', '0'], /--rank: .*>0/],
      [['sft', '--data', data, '--model', model, '--out', out, '--lr', '0'], /--lr: .*>0/],
      [['ppo', '--data', data, '--model', root, '--out', out], /--model: .* has no config\.json/],
      [['ppo', '--data', data, '--model', model, '--out', out, '--kl-estimator', 'k9'], /--kl-estimator: .*allowed: k1, k2, k3/],
      [['sft', '--data', data, '--model', model, '--out', out, '--modules-to-save', 'embed_tokens,wte'], /--modules-to-save: .*allowed: embed_tokens, lm_head/],
      [['ppo', '--data', data, '--model', model, '--out', out, '--modules-to-save', 'embed_tokens'], /--modules-to-save: only sft supports it/],
      [['dpo', '--data', data], /unknown command 'dpo'/],
    ];
    for (const [args, message] of cases) {
      const r = await runSparkAsync(['train', ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(out)).toBe(false);
  }, 120_000);

  it('SIGKILL mid-run, then `train resume`, gives the same final weights as an uninterrupted run', async () => {
    const whole = join(root, 'whole');
    const parts = join(root, 'parts');
    const uninterrupted = runSparkAsync(['train', 'ppo', ...runFlags(whole)]);

    const child = spawn(process.execPath, [SPARK_BIN, 'train', 'ppo', ...runFlags(parts)], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    while (!existsSync(join(parts, 'checkpoint-4', 'trainer_state.json'))) await sleep(20);
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(parts, 'final'))).toBe(false); // it really died mid-run

    const resumed = await runSparkAsync(['train', 'resume', parts, '--threads', '1']);
    expect(resumed.stderr).toMatch(/ppo: 10 steps \(resumed at [4-9]\)/);
    expect(resumed.stdout).toContain(`adapter: ${join(parts, 'final')}`);
    const first = await uninterrupted;
    expect(first.code, first.stderr).toBe(0);

    for (const f of ['adapter_model.safetensors', 'optimizer.safetensors']) {
      expect(readFileSync(join(parts, 'final', f)).equals(readFileSync(join(whole, 'final', f))), f).toBe(true);
    }
    const curve = (dir: string) => readJsonl<Record<string, number>>(join(dir, 'metrics.jsonl')).map((m) => [m['train/step'], m['actor/loss'], m['actor/grad_norm']]);
    expect(curve(parts)).toHaveLength(10);
    expect(curve(parts)).toEqual(curve(whole));
  }, 240_000);

  it('`train run --spec` prints one JSON line per step; `train merge` writes full weights', async () => {
    const out = join(root, 'run');
    const specFile = join(root, 'spec.json');
    writeFileSync(specFile, JSON.stringify({ mode: 'sft', data, baseModelPath: model, outDir: out, lora: { rank: 4 }, hyper: { maxSteps: 3, batchSize: 3, gradAccum: 1, warmupSteps: 0 } }));
    const r = await runSparkAsync(['train', 'run', '--spec', specFile, '--threads', '1']);
    expect(r.code, r.stderr).toBe(0);
    const steps = r.stdout.split('\n').map(parseStepLine).filter((s) => s !== undefined);
    expect(steps.map((s) => [s.step, s.totalSteps, s.metrics['train/step']])).toEqual([[1, 3, 1], [2, 3, 2], [3, 3, 3]]);
    expect(steps[0]!.metrics['actor/loss']).toBeGreaterThan(0);

    const merged = join(root, 'merged');
    const m = await runSparkAsync(['train', 'merge', '--model', model, '--adapter', join(out, 'final'), '--out', merged]);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/merged 14 projections/);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) expect(existsSync(join(merged, f)), f).toBe(true);
  }, 120_000);
});
