import { describe, expect, it } from 'vitest';
import { computeEntropy, logProbsFromLogits, type Logits } from './entropy.js';
import { fromRows, toRows } from './matrix.js';
import { computeValueLoss } from './value-loss.js';

describe('computeValueLoss', () => {
  // token 0: v = 1 moved past old + 0.5, so the clipped branch (0.5 − 2)² = 2.25 wins; token 1 inside
  const args = {
    valuePreds: fromRows([[1, 0.3]]),
    oldValues: fromRows([[0, 0]]),
    returns: fromRows([[2, 1]]),
    responseMask: fromRows([[1, 1]]),
    clipRangeValue: 0.5,
  };

  it('0.5 · mean of max(unclipped, clipped) squared errors', () => {
    const r = computeValueLoss(args);
    expect(r.loss).toBeCloseTo((0.5 * 2.25 + 0.5 * 0.49) / 2, 6);
    expect(r.metrics['critic/vf_clipfrac']).toBe(0.5);
    expect(r.metrics['critic/vpred_mean']).toBeCloseTo(0.65, 6);
    const g = toRows(r.gradValuePreds)[0]!;
    expect(g[0]).toBe(0);
    expect(g[1]).toBeCloseTo(-0.35, 6);
  });
});

const logits = (rows: number[][][]): Logits => ({
  batch: rows.length,
  respLen: rows[0]!.length,
  vocab: rows[0]![0]!.length,
  data: Float32Array.from(rows.flat(2)),
});

describe('computeEntropy', () => {
  it('uniform logits give ln(vocab); a skewed pair its Shannon entropy in nats', () => {
    const r = computeEntropy({ logits: logits([[[0, 0, 0, 0], [0, Math.log(3), -Infinity, -Infinity]]]), responseMask: fromRows([[1, 1]]) });
    const h1 = -(0.25 * Math.log(0.25) + 0.75 * Math.log(0.75));
    expect(r.entropy.data[0]).toBeCloseTo(Math.log(4), 5);
    expect(r.entropy.data[1]).toBeCloseTo(h1, 5);
    expect(r.loss).toBeCloseTo((Math.log(4) + h1) / 2, 5);
    expect(r.metrics['actor/entropy']).toBeCloseTo(r.loss, 6);
  });

  it('stays finite for huge logits (log-sum-exp form)', () => {
    const r = computeEntropy({ logits: logits([[[1000, 1000]]]), responseMask: fromRows([[1]]) });
    expect(r.loss).toBeCloseTo(Math.log(2), 5);
  });

  it('masked positions count for nothing', () => {
    const r = computeEntropy({ logits: logits([[[0, 0], [0, 50]]]), responseMask: fromRows([[0, 1]]) });
    expect(r.loss).toBeLessThan(1e-6);
    expect(Array.from(r.gradLogits.subarray(0, 2))).toEqual([0, 0]);
  });
});

describe('logProbsFromLogits', () => {
  it('is log softmax at the token', () => {
    const lp = logProbsFromLogits(logits([[[0, Math.log(3)]]]), Int32Array.from([1]));
    expect(lp.data[0]).toBeCloseTo(Math.log(0.75), 6);
  });

  it('rejects a token id outside the vocabulary', () => {
    expect(() => logProbsFromLogits(logits([[[0, 0]]]), Int32Array.from([2]))).toThrow(/tokenIds\[0\] = 2 is outside/);
  });
});
