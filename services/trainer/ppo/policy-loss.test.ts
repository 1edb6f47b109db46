import { describe, expect, it } from 'vitest';
import { fromRows, toRows } from './matrix.js';
import { computeDualClipPolicyLoss, computeGspoPolicyLoss, computePolicyLoss, getPolicyLoss, POLICY_LOSSES } from './policy-loss.js';

const ones = (n: number) => fromRows([Array(n).fill(1)]);
const logRatios = (ratios: number[]) => ({
  oldLogProb: fromRows([ratios.map(() => -1)]),
  logProb: fromRows([ratios.map((r) => -1 + Math.log(r))]),
});

describe('computePolicyLoss (vanilla clipped surrogate)', () => {
  // ratios 1.5 (A=+1, clipped to 1.2), 0.9 (A=+1, inside), 0.5 (A=−1, clipped to 0.8)
  const args = { ...logRatios([1.5, 0.9, 0.5]), advantages: fromRows([[1, 1, -1]]), responseMask: ones(3), clipEps: 0.2 };

  it('takes the pessimistic branch per token and averages over tokens', () => {
    const { loss, metrics } = computePolicyLoss(args);
    expect(loss).toBeCloseTo((-1.2 - 0.9 + 0.8) / 3, 5);
    expect(metrics['actor/pg_loss']).toBeCloseTo(loss, 6);
    expect(metrics['actor/pg_clipfrac']).toBeCloseTo(2 / 3, 6);
    // k1 estimate of KL(old ‖ new): mean of old − new = −mean(log r)
    expect(metrics['actor/ppo_kl']).toBeCloseTo(-Math.log(1.5 * 0.9 * 0.5) / 3, 5);
    expect(metrics['actor/pg_clipfrac_lower']).toBeUndefined();
  });

  it('clipped tokens carry no gradient; the others −A·r times their weight', () => {
    const g = toRows(computePolicyLoss(args).gradLogProb)[0]!;
    expect(g[0]).toBe(0);
    expect(g[1]).toBeCloseTo(-0.9 / 3, 5);
    expect(g[2]).toBe(0);
  });

  it('clip range is configurable, and asymmetric with clipEpsHigh', () => {
    expect(computePolicyLoss({ ...args, clipEps: 0.6 }).metrics['actor/pg_clipfrac']).toBe(0);
    const high = computePolicyLoss({ ...args, clipEps: 0.2, clipEpsHigh: 0.6 });
    expect(high.loss).toBeCloseTo((-1.5 - 0.9 + 0.8) / 3, 5);
  });

  it('ignores masked tokens', () => {
    const masked = computePolicyLoss({ ...args, responseMask: fromRows([[0, 1, 0]]) });
    expect(masked.loss).toBeCloseTo(-0.9, 5);
    expect(masked.metrics['actor/pg_clipfrac']).toBe(0);
  });

  it('rejects ε outside (0, 1) naming the field', () => {
    expect(() => computePolicyLoss({ ...args, clipEps: 0 })).toThrow(/clip_eps: must be in \(0, 1\)/);
  });

  it('rejects mismatched shapes naming the argument', () => {
    expect(() => computePolicyLoss({ ...args, advantages: fromRows([[1, 1]]) })).toThrow(/advantages is \[1, 2\]/);
  });
});

describe('dual clip', () => {
  // r = 5 with A = −1: the clipped surrogate gives max(5, 1.2) = 5; the dual clip caps it at c·|A| = 3.
  const args = { ...logRatios([5]), advantages: fromRows([[-1]]), responseMask: ones(1) };

  it('bounds the loss of negative-advantage tokens by −A·c', () => {
    const vanilla = computePolicyLoss(args);
    expect(vanilla.loss).toBeCloseTo(5, 4);
    expect(toRows(vanilla.gradLogProb)[0]![0]).toBeCloseTo(5, 4);
    const dual = computeDualClipPolicyLoss(args);
    expect(dual.loss).toBeCloseTo(3, 6);
    expect(dual.metrics['actor/pg_clipfrac_lower']).toBe(1);
    expect(toRows(dual.gradLogProb)[0]![0]).toBe(0);
  });

  it('rejects c <= 1', () => {
    expect(() => computeDualClipPolicyLoss({ ...args, clipRatioC: 1 })).toThrow(/clip_ratio_c/);
  });
});

describe('GSPO', () => {
  it('uses the geometric-mean sequence ratio for every token', () => {
    // token log-ratios 0.1 and 0.3 → sequence ratio e^0.2; A = 1 inside the clip range
    const args = {
      oldLogProb: fromRows([[-1, -2]]),
      logProb: fromRows([[-0.9, -1.7]]),
      advantages: fromRows([[1, 1]]),
      responseMask: ones(2),
      clipEps: 0.3,
    };
    const s = Math.exp(0.2);
    const { loss, gradLogProb, metrics } = computeGspoPolicyLoss(args);
    expect(loss).toBeCloseTo(-s, 5);
    expect(toRows(gradLogProb)[0]![0]).toBeCloseTo(-s / 2, 5);
    expect(toRows(gradLogProb)[0]![1]).toBeCloseTo(-s / 2, 5);
    expect(metrics['actor/pg_clipfrac']).toBe(0);
    // with GSPO's tight range the whole sequence is clipped
    expect(computeGspoPolicyLoss({ ...args, clipEps: 3e-4 }).metrics['actor/pg_clipfrac']).toBe(1);
  });
});

describe('policy loss registry', () => {
  it('returns variants by name', () => {
    expect(getPolicyLoss('vanilla')).toBe(computePolicyLoss);
    expect(Object.keys(POLICY_LOSSES)).toEqual(['vanilla', 'dual_clip', 'gspo']);
  });

  it('an unknown name throws listing the valid ones', () => {
    expect(() => getPolicyLoss('ppo2')).toThrow('policy_loss: unknown variant "ppo2" (allowed: vanilla, dual_clip, gspo)');
    expect(() => getPolicyLoss('toString')).toThrow(/unknown variant/);
  });
});
