import { describe, expect, it } from 'vitest';
import { computeAdvantages } from './advantages.js';
import { lrAt } from './lr-schedule.js';
import { fromRows, toRows } from './matrix.js';

describe('computeAdvantages', () => {
  const mask = fromRows([[1, 1], [1, 0], [1, 1]]);
  const rewards = Float32Array.from([1, 2, 3]);

  it('batch-normalised: (R − mean) / std over the examples, broadcast over action tokens', () => {
    const { advantages, returns, metrics } = computeAdvantages({ rewards, responseMask: mask, normalize: true });
    // mean 2, unbiased std 1
    const rows = toRows(advantages);
    expect(rows[0]![0]).toBeCloseTo(-1, 5);
    expect(rows[0]![1]).toBeCloseTo(-1, 5);
    expect(rows[1]).toEqual([0, 0]);
    expect(rows[2]![1]).toBeCloseTo(1, 5);
    expect(toRows(returns)).toEqual([[1, 1], [2, 0], [3, 3]]);
    expect(metrics['critic/score/mean']).toBeCloseTo(2, 6);
    expect(metrics['critic/score/max']).toBe(3);
    expect(metrics['critic/advantages/min']).toBeCloseTo(-1, 5);
  });

  it('without normalisation the advantage is the reward', () => {
    expect(toRows(computeAdvantages({ rewards, responseMask: mask, normalize: false }).advantages)).toEqual([[1, 1], [2, 0], [3, 3]]);
  });

  it('equal rewards give zero advantages, not NaN', () => {
    const { advantages } = computeAdvantages({ rewards: Float32Array.from([0.5, 0.5, 0.5]), responseMask: mask, normalize: true });
    expect(Array.from(advantages.data).every((a) => a === 0)).toBe(true);
  });

  it('rows without action tokens are left out of the batch statistics', () => {
    const { advantages } = computeAdvantages({
      rewards: Float32Array.from([1, 3, 100]),
      responseMask: fromRows([[1], [1], [0]]),
      normalize: true,
    });
    expect(advantages.data[0]).toBeCloseTo(-Math.SQRT1_2, 5);
    expect(advantages.data[1]).toBeCloseTo(Math.SQRT1_2, 5);
    expect(advantages.data[2]).toBe(0);
  });

  it('a single example keeps its reward', () => {
    expect(computeAdvantages({ rewards: Float32Array.from([0.7]), responseMask: fromRows([[1]]), normalize: true }).advantages.data[0]).toBeCloseTo(0.7, 6);
  });

  it('with a value head: R − V per token, whitened over tokens when normalised', () => {
    const args = { rewards: Float32Array.from([1]), responseMask: fromRows([[1, 1]]), values: fromRows([[0.5, 0.25]]) };
    expect(toRows(computeAdvantages({ ...args, normalize: false }).advantages)).toEqual([[0.5, 0.75]]);
    const whitened = toRows(computeAdvantages({ ...args, normalize: true }).advantages)[0]!;
    expect(whitened[0]).toBeCloseTo(-Math.SQRT1_2, 4);
    expect(whitened[1]).toBeCloseTo(Math.SQRT1_2, 4);
  });
});

describe('lrAt (warmup + cosine)', () => {
  const schedule = { peakLr: 1, warmupSteps: 4, totalSteps: 14, minLrRatio: 0.1 };

  it('warms up linearly, peaks, decays by a half cosine to the floor, then stays there', () => {
    expect(lrAt(0, schedule)).toBeCloseTo(0.2, 12);
    expect(lrAt(3, schedule)).toBeCloseTo(0.8, 12);
    expect(lrAt(4, schedule)).toBeCloseTo(1, 12);
    expect(lrAt(9, schedule)).toBeCloseTo(0.55, 12);
    expect(lrAt(14, schedule)).toBeCloseTo(0.1, 12);
    expect(lrAt(1000, schedule)).toBeCloseTo(0.1, 12);
  });

  it('decreases monotonically after warmup; no warmup starts at the peak', () => {
    const lrs = Array.from({ length: 11 }, (_, i) => lrAt(4 + i, schedule));
    for (let i = 1; i < lrs.length; i++) expect(lrs[i]!).toBeLessThan(lrs[i - 1]!);
    expect(lrAt(0, { peakLr: 3e-4, warmupSteps: 0, totalSteps: 10 })).toBeCloseTo(3e-4, 12);
  });
});
