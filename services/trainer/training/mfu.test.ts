import { describe, expect, it } from 'vitest';
import { parseLlamaConfig, presetConfigJson } from '../model/config.js';
import { cpuPeak, devicePeak, forwardFlops, linearParameters, trainingStepFlops } from './mfu.js';

describe('MFU', () => {
  it('estimates a CPU peak from clock and SIMD width', () => {
    const info = 'processor\t: 0\ncpu MHz\t\t: 3000.000\nflags\t\t: fpu sse avx avx2 fma avx512f\n';
    expect(cpuPeak(2, info).flops).toBe(2 * 3e9 * 64);
    expect(cpuPeak(4, info.replace(' avx512f', '')).flops).toBe(4 * 3e9 * 32);
  });

  it('knows GPU peaks by name, and takes a configured one', () => {
    expect(devicePeak('cuda:0', { description: 'cuda:0 NVIDIA H100 80GB HBM3 (80 GB)' }).flops).toBe(989e12);
    expect(devicePeak('cuda:0', { description: 'cuda:0 NVIDIA A100-SXM4-40GB' }).flops).toBe(312e12);
    expect(devicePeak('cuda:0', { description: 'cuda:0 Mystery GPU' })).toMatchObject({ flops: 0, source: expect.stringContaining('SPARK_TRAINER_PEAK_TFLOPS') });
    expect(devicePeak('cpu', { overrideTflops: 2.5 }).flops).toBe(2.5e12);
  });

  it('counts FLOPs from the model shape', () => {
    const c = parseLlamaConfig(presetConfigJson('8b-shape'));
    expect(linearParameters(c) / 1e9).toBeCloseTo(6.98, 2); // 8.03 B minus the two 0.53 B embeddings
    // One 1-token row, one kept position: ≈ 2 FLOPs per parameter.
    expect(forwardFlops(c, [1], 1) / 2 / 1e9).toBeCloseTo(7.5, 1);
    // Attention grows with the square of the length; a step is a forward and a backward of its worth.
    expect(forwardFlops(c, [2048], 0) - 2048 * forwardFlops(c, [1], 0)).toBeGreaterThan(0);
    expect(trainingStepFlops(c, [10, 12], 3) / forwardFlops(c, [10, 12], 3)).toBe(2);
  });
});
