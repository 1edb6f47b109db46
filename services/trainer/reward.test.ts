import { describe, expect, it } from 'vitest';
import { computeRewards, entropyGainDiversity, rewardSpecSchema, type RewardedStep } from './reward.js';

const LOG2_9 = Math.log2(9);
const step = (action: string, parts: Partial<RewardedStep['reward']> = {}, isFinal = false): RewardedStep => ({
  action,
  is_final: isFinal,
  reward: { judge_score: 0.8, correctness: 1, diversity: 0.5, ...parts },
});

describe('reward spec', () => {
  it('has documented defaults: w_c 1, w_j 0.5, w_d 0.25, inverse_frequency', () => {
    expect(rewardSpecSchema.parse({})).toEqual({ correctnessWeight: 1, judgeWeight: 0.5, diversityWeight: 0.25, diversityKind: 'inverse_frequency' });
  });

  it('rejects negative weights, unknown kinds and unknown keys', () => {
    expect(() => rewardSpecSchema.parse({ judgeWeight: -1 })).toThrow(/judgeWeight/);
    expect(() => rewardSpecSchema.parse({ diversityKind: 'novelty' })).toThrow(/inverse_frequency|entropy_gain/);
    expect(() => rewardSpecSchema.parse({ diversity_weight: 1 })).toThrow(/diversity_weight/);
  });
});

describe('computeRewards', () => {
  it('w_c·correctness + w_j·judge_score + w_d·diversity with the file diversity (inverse_frequency)', () => {
    const spec = rewardSpecSchema.parse({});
    const { rewards, metrics } = computeRewards([step('python', { diversity: 1.2 }), step('cot', { correctness: 0, judge_score: 0.6, diversity: 0.4 })], spec);
    expect(rewards[0]).toBeCloseTo(1 + 0.5 * 0.8 + 0.25 * 1.2, 6);
    expect(rewards[1]).toBeCloseTo(0 + 0.5 * 0.6 + 0.25 * 0.4, 6);
    expect(metrics['reward/correctness/mean']).toBe(0.5);
    expect(metrics['reward/judge/mean']).toBeCloseTo(0.7, 6);
    expect(metrics['reward/diversity/mean']).toBeCloseTo(0.8, 6);
    expect(metrics['reward/mean']).toBeCloseTo((rewards[0]! + rewards[1]!) / 2, 6);
  });

  it('a weight of 0 switches its term off', () => {
    const spec = rewardSpecSchema.parse({ judgeWeight: 0, diversityWeight: 0 });
    expect(Array.from(computeRewards([step('python', { diversity: 2 }), step('cot', { correctness: 0 })], spec).rewards)).toEqual([1, 0]);
  });

  it('with the defaults a correct step with a common tool beats a wrong one with a rare tool', () => {
    const spec = rewardSpecSchema.parse({});
    const { rewards } = computeRewards([step('cot', { correctness: 1, diversity: 0.3, judge_score: 0.6 }), step('logic', { correctness: 0, diversity: 2.1, judge_score: 1 })], spec);
    expect(rewards[0]!).toBeGreaterThan(rewards[1]!);
  });

  it('names the example and field of a malformed reward part', () => {
    const spec = rewardSpecSchema.parse({});
    expect(() => computeRewards([step('cot'), step('cot', { judge_score: 7 })], spec)).toThrow('data[1].reward.judge_score: must be in [0, 1] (got 7)');
    expect(() => computeRewards([step('cot', { correctness: 0.5 })], spec)).toThrow(/data\[0\]\.reward\.correctness: must be 0 or 1/);
  });

  it('entropy_gain replaces the file diversity by the batch computation', () => {
    const spec = rewardSpecSchema.parse({ correctnessWeight: 0, judgeWeight: 0, diversityWeight: 1, diversityKind: 'entropy_gain' });
    const steps = [step('cot'), step('cot'), step('python')];
    expect(Array.from(computeRewards(steps, spec).rewards)).toEqual(Array.from(entropyGainDiversity(steps), Math.fround));
  });
});

describe('entropyGainDiversity', () => {
  it('n · (H(batch) − H(batch without the step)) / log2 9, by hand for [a, a, b]', () => {
    // H(2/3, 1/3) = 0.918296 bits; without an a: H(1/2, 1/2) = 1; without the b: H(1) = 0
    const h = -(2 / 3) * Math.log2(2 / 3) - (1 / 3) * Math.log2(1 / 3);
    const gains = entropyGainDiversity([step('a'), step('a'), step('b')]);
    expect(gains[0]).toBeCloseTo((3 * (h - 1)) / LOG2_9, 9);
    expect(gains[1]).toBeCloseTo(gains[0]!, 12);
    expect(gains[2]).toBeCloseTo((3 * h) / LOG2_9, 9);
    expect(gains[2]!).toBeGreaterThan(0);
    expect(gains[0]!).toBeLessThan(0);
  });

  it('final steps get 0 and do not count in the batch distribution', () => {
    const withFinal = entropyGainDiversity([step('a'), step('a'), step('b'), step('a', {}, true)]);
    const without = entropyGainDiversity([step('a'), step('a'), step('b')]);
    expect(withFinal[3]).toBe(0);
    expect(Array.from(withFinal.subarray(0, 3))).toEqual(Array.from(without));
  });

  it('a batch of one action (or one step) has no gain', () => {
    expect(Array.from(entropyGainDiversity([step('cot'), step('cot')]))).toEqual([0, 0]);
    expect(Array.from(entropyGainDiversity([step('cot')]))).toEqual([0]);
  });

  it('for a large batch approaches the surprisal centred on the batch entropy', () => {
    // p(a) = 0.75, p(b) = 0.25 over 4000 steps
    const steps = [...Array.from({ length: 3000 }, () => step('a')), ...Array.from({ length: 1000 }, () => step('b'))];
    const gains = entropyGainDiversity(steps);
    const h = -(0.75 * Math.log2(0.75) + 0.25 * Math.log2(0.25));
    expect(gains[0]).toBeCloseTo((-Math.log2(0.75) - h) / LOG2_9, 3);
    expect(gains[3999]).toBeCloseTo((-Math.log2(0.25) - h) / LOG2_9, 3);
  });
});
