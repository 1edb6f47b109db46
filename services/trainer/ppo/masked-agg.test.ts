import { describe, expect, it } from 'vitest';
import { aggLoss, aggWeights, LOSS_AGG_MODES } from './agg.js';
import { maskedMean, maskedSum, maskedVar, maskedWhiten } from './masked.js';
import { broadcastRows, fromRows, toRows } from './matrix.js';

const values = fromRows([[1, 2, 3], [4, 5, 6]]);
const mask = fromRows([[1, 1, 0], [1, 0, 0]]);

describe('masked helpers', () => {
  it('sum, mean and variance count only masked positions', () => {
    expect(maskedSum(values, mask)).toBe(7);
    expect(maskedMean(values, mask)).toBeCloseTo(7 / 3, 6);
    // 1, 2, 4 around 7/3: squared deviations 16/9 + 1/9 + 25/9 = 14/3
    expect(maskedVar(values, mask, false)).toBeCloseTo(14 / 9, 6);
    expect(maskedVar(values, mask)).toBeCloseTo(7 / 3, 6);
  });

  it('an empty mask gives 0, not NaN', () => {
    const empty = fromRows([[0, 0, 0], [0, 0, 0]]);
    expect(maskedMean(values, empty)).toBe(0);
    expect(maskedVar(values, empty)).toBe(0);
  });

  it('whitens to zero mean and unit (unbiased) variance, zeroing masked positions', () => {
    const w = maskedWhiten(values, mask);
    const s = Math.sqrt(7 / 3);
    const rows = toRows(w);
    expect(rows[0]![0]).toBeCloseTo((1 - 7 / 3) / s, 5);
    expect(rows[1]![0]).toBeCloseTo((4 - 7 / 3) / s, 5);
    expect(rows[0]![2]).toBe(0);
    expect(maskedMean(w, mask)).toBeCloseTo(0, 6);
    expect(maskedVar(w, mask)).toBeCloseTo(1, 5);
    const kept = maskedWhiten(values, mask, false);
    expect(maskedMean(kept, mask)).toBeCloseTo(7 / 3, 5);
  });

  it('rejects matrices of different shapes, naming them', () => {
    expect(() => maskedMean(values, fromRows([[1, 1]]))).toThrow('responseMask is [1, 2] but values is [2, 3]');
  });

  it('broadcasts one value per row over the valid tokens', () => {
    expect(toRows(broadcastRows(Float32Array.from([2, -1]), mask))).toEqual([[2, 2, 0], [-1, 0, 0]]);
  });
});

describe('aggLoss', () => {
  // Row 0: tokens 1, 2; row 1: token 4; row 2: no valid token (left out of sequence means).
  const lossMat = fromRows([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  const responseMask = fromRows([[1, 1, 0], [1, 0, 0], [0, 0, 0]]);

  it('token-mean: every valid token weighs the same', () => {
    expect(aggLoss(lossMat, responseMask, 'token-mean')).toBeCloseTo(7 / 3, 6);
  });

  it('seq-mean-token-sum: sum per sequence, mean over sequences', () => {
    expect(aggLoss(lossMat, responseMask, 'seq-mean-token-sum')).toBeCloseTo((3 + 4) / 2, 6);
  });

  it('seq-mean-token-mean: mean per sequence, mean over sequences', () => {
    expect(aggLoss(lossMat, responseMask, 'seq-mean-token-mean')).toBeCloseTo((1.5 + 4) / 2, 6);
  });

  it('weights sum to 1 for the mean modes and equal the aggregate linearly', () => {
    for (const mode of ['token-mean', 'seq-mean-token-mean'] as const) {
      expect(aggWeights(responseMask, mode).data.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    }
    for (const mode of LOSS_AGG_MODES) {
      const w = aggWeights(responseMask, mode);
      expect(w.data.reduce((a, x, i) => a + x * lossMat.data[i]!, 0)).toBeCloseTo(aggLoss(lossMat, responseMask, mode), 6);
    }
  });

  it('an all-zero mask aggregates to 0', () => {
    for (const mode of LOSS_AGG_MODES) expect(aggLoss(lossMat, fromRows([[0, 0, 0], [0, 0, 0], [0, 0, 0]]), mode)).toBe(0);
  });

  it('rejects an unknown mode, listing the valid ones', () => {
    expect(() => aggLoss(lossMat, responseMask, 'sum' as never)).toThrow(
      'loss_agg_mode: unknown mode "sum" (allowed: token-mean, seq-mean-token-sum, seq-mean-token-mean)',
    );
  });
});
