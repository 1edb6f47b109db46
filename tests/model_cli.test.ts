/** `spark model init|info` and `spark doctor` as processes (the built CLI). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runSpark } from './helpers/cli.js';

const root = mkdtempSync(join(tmpdir(), 'spark-model-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('spark model and spark doctor', () => {
  it('init writes a tiny checkpoint, info summarises it, doctor prints the engine and memory per parameter', () => {
    const out = join(root, 'tiny');
    const init = runSpark(['model', 'init', '--preset', 'tiny', '--out', out, '--seed', '1']);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/wrote tiny \(8\.\d M parameters, bfloat16\)/);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) expect(existsSync(join(out, f))).toBe(true);

    const info = runSpark(['model', 'info', out]);
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('2 × (hidden 64, heads 4/2 kv, head_dim 16, mlp 192)');
    expect(info.stdout).toContain('vocab        128256 (tied embeddings)');

    const doctor = runSpark(['doctor', '--threads', '2', '--model', out, '--load', '--quant', 'nf4', '--double-quant']);
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toMatch(/libtorch   1\.13\.\d \(cpu build\)/);
    expect(doctor.stdout).toMatch(/blas       OpenBLAS/);
    expect(doctor.stdout).toContain('threads    2 intra-op');
    expect(doctor.stdout).toMatch(/nf4\+dq\s+\d\.\d{3} bytes\/parameter/);
    expect(doctor.stdout).toMatch(/loaded   cpu float32, nf4 \+ double quant: \d\.\d{3} bytes\/parameter/);
  });

  it('rejects bad flags naming them and the allowed values', () => {
    const bad = runSpark(['model', 'init', '--preset', 'huge', '--out', join(root, 'x')]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--preset.*huge.*tiny, small, 8b-shape/);
    const full = runSpark(['model', 'init', '--preset', 'tiny', '--out', join(root, 'tiny')]);
    expect(full.code).not.toBe(0);
    expect(full.stderr).toContain('is not empty');
    const missing = runSpark(['doctor', '--model', join(root, 'nope')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('config.json');
  });
});
