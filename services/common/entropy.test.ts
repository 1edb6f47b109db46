import { describe, expect, it } from 'vitest';
import { countBy, normalizedEntropy, shannonEntropyBits } from './entropy.js';

describe('entropy', () => {
  it('is log2 9 for a uniform choice among the 9 actions', () => {
    expect(shannonEntropyBits(Array(9).fill(5))).toBeCloseTo(Math.log2(9), 12);
    expect(normalizedEntropy(Array(9).fill(5))).toBeCloseTo(1, 12);
  });
  it('is 0 for a single action and for no data', () => {
    expect(shannonEntropyBits({ cot: 12 })).toBe(0);
    expect(shannonEntropyBits({})).toBe(0);
  });
  it('is 1 bit for a fair coin and 1.5 bits for (1/2, 1/4, 1/4)', () => {
    expect(shannonEntropyBits([3, 3])).toBeCloseTo(1, 12);
    expect(shannonEntropyBits({ a: 2, b: 1, c: 1 })).toBeCloseTo(1.5, 12);
  });
  it('counts items', () => {
    expect(countBy(['cot', 'python', 'cot'])).toEqual({ cot: 2, python: 1 });
  });
});
