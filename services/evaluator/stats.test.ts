/** Entropy of known distributions, the bootstrap interval, McNemar's exact test against exact values. */
import { describe, expect, it } from 'vitest';
import { ACTION_NAMES, NUM_ACTIONS } from '../common/actions.js';
import { normalizedEntropy, shannonEntropyBits } from '../common/entropy.js';
import { bootstrapEntropyCi, comparePaired, countActions, mcnemarExactP, toolEntropyBits } from './stats.js';

describe('tool-selection entropy over trajectories', () => {
  it('is log2 9 for uniform use of the 9 actions, normalised to 1', () => {
    // 9 questions, each using every action once, in a different order.
    const trajectories = ACTION_NAMES.map((_, i) => ACTION_NAMES.map((__, j) => ACTION_NAMES[(i + j) % 9]));
    expect(NUM_ACTIONS).toBe(9);
    expect(toolEntropyBits(trajectories)).toBeCloseTo(Math.log2(9), 12);
    expect(toolEntropyBits(trajectories)).toBeCloseTo(3.169925001442312, 12);
    expect(normalizedEntropy(countActions(trajectories))).toBeCloseTo(1, 12);
  });

  it('is 0 for a model that only ever thinks, and for no steps', () => {
    expect(toolEntropyBits([['cot', 'cot'], ['cot']])).toBe(0);
    expect(toolEntropyBits([])).toBe(0);
  });

  it('matches hand-computed values', () => {
    expect(toolEntropyBits([['cot'], ['python']])).toBeCloseTo(1, 12);
    // p = (1/2, 1/4, 1/4): 0.5 + 0.5 + 0.5 = 1.5 bits.
    expect(toolEntropyBits([['cot', 'python'], ['cot', 'calculator']])).toBeCloseTo(1.5, 12);
    expect(shannonEntropyBits({ cot: 2, python: 1, calculator: 1, logic: 0 })).toBeCloseTo(1.5, 12);
  });

  it('counts actions over trajectories', () => {
    expect(countActions([['cot', 'python'], ['python'], []])).toEqual({ cot: 1, python: 2 });
  });
});

describe('bootstrapEntropyCi', () => {
  const trajectories = Array.from({ length: 60 }, (_, i) => [ACTION_NAMES[i % 9], ACTION_NAMES[(i * 4) % 9], 'cot']);

  it('brackets the point estimate and is reproducible from its seed', () => {
    const point = toolEntropyBits(trajectories);
    const ci = bootstrapEntropyCi(trajectories, { seed: 3 });
    expect(ci.low).toBeLessThan(point);
    expect(ci.high).toBeGreaterThanOrEqual(point - 1e-9);
    expect(ci.high).toBeLessThanOrEqual(Math.log2(9) + 1e-12);
    expect(bootstrapEntropyCi(trajectories, { seed: 3 })).toEqual(ci);
    expect(bootstrapEntropyCi(trajectories, { seed: 4 })).not.toEqual(ci);
  });

  it('narrows with more questions and collapses for a model that always takes one action', () => {
    const few = bootstrapEntropyCi(trajectories.slice(0, 12), { seed: 1 });
    const many = bootstrapEntropyCi([...trajectories, ...trajectories, ...trajectories], { seed: 1 });
    expect(many.high - many.low).toBeLessThan(few.high - few.low);
    expect(bootstrapEntropyCi([['cot'], ['cot', 'cot']], { seed: 1 })).toEqual({ low: 0, high: 0 });
    expect(bootstrapEntropyCi([])).toEqual({ low: 0, high: 0 });
  });

  it('rejects a confidence outside (0, 1) naming it', () => {
    expect(() => bootstrapEntropyCi(trajectories, { confidence: 95 })).toThrow(/confidence/);
  });
});

describe('mcnemarExactP', () => {
  it('equals exact binomial sums (computed with Python integers)', () => {
    expect(mcnemarExactP(1, 9)).toBeCloseTo(0.021484375, 14); // 2 * 11 / 1024
    expect(mcnemarExactP(9, 1)).toBeCloseTo(0.021484375, 14);
    expect(mcnemarExactP(0, 3)).toBeCloseTo(0.25, 14);
    expect(mcnemarExactP(40, 60)).toBeCloseTo(0.05688793364098079, 12);
    // Past n = 1074, 0.5^n underflows a double: the log-space sum still gives the exact value.
    expect(mcnemarExactP(600, 700)).toBeCloseTo(0.0060157938610449525, 10);
    expect(mcnemarExactP(2000, 2150) / 0.02071545604926722).toBeCloseTo(1, 9);
  });

  it('is 1 for no or balanced discordant pairs', () => {
    expect(mcnemarExactP(0, 0)).toBe(1);
    expect(mcnemarExactP(5, 5)).toBe(1);
  });
});

describe('comparePaired', () => {
  it('uses only the questions both models answered', () => {
    const a = new Map([[1, true], [2, true], [3, false], [4, false], [5, true]]);
    const b = new Map([[1, true], [2, false], [3, true], [4, true], [6, true]]);
    const cmp = comparePaired(a, b);
    expect(cmp).toMatchObject({ n: 4, onlyA: 1, onlyB: 2 });
    expect(cmp.accuracyDiff).toBeCloseTo(0.25, 12);
    expect(cmp.pValue).toBeCloseTo(1, 12);
  });
});
