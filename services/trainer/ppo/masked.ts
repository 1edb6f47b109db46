/**
 * Masked reductions over `[batch, respLen]` matrices: only action tokens count (prompt and padding
 * positions carry mask 0). Mirrors verl's `verl/utils/torch_functional.py` (`masked_mean`, `masked_var`,
 * `masked_whiten`), accumulating in float64 so the reference is not the noisy side of a comparison.
 */
import { mapMatrix, sameShape, type BatchMatrix } from './matrix.js';

/** Σ values·mask over all positions. */
export function maskedSum(values: BatchMatrix, responseMask: BatchMatrix): number {
  sameShape({ values, responseMask });
  let sum = 0;
  for (let i = 0; i < values.data.length; i++) sum += values.data[i]! * responseMask.data[i]!;
  return sum;
}

/** Mean over masked positions; 0 when the mask is empty (an empty minibatch contributes no loss). */
export function maskedMean(values: BatchMatrix, responseMask: BatchMatrix): number {
  const count = maskedSum(responseMask, responseMask);
  return count > 0 ? maskedSum(values, responseMask) / count : 0;
}

/**
 * Variance over masked positions. `unbiased` applies Bessel's correction n/(n-1), as verl does by
 * default; with a single valid token that correction is undefined and the biased value (0) is returned.
 */
export function maskedVar(values: BatchMatrix, responseMask: BatchMatrix, unbiased = true): number {
  const mean = maskedMean(values, responseMask);
  const count = maskedSum(responseMask, responseMask);
  if (count === 0) return 0;
  let sq = 0;
  for (let i = 0; i < values.data.length; i++) sq += (values.data[i]! - mean) ** 2 * responseMask.data[i]!;
  const variance = sq / count;
  return unbiased && count > 1 ? (variance * count) / (count - 1) : variance;
}

/** Added to the variance before the square root: keeps whitening finite when all values are equal. */
export const WHITEN_EPS = 1e-8;

/**
 * (values − mean) / sqrt(var + ε) over masked positions; masked-out positions become 0.
 * `shiftMean: false` keeps the mean (only rescales), as verl offers.
 */
export function maskedWhiten(values: BatchMatrix, responseMask: BatchMatrix, shiftMean = true): BatchMatrix {
  const mean = maskedMean(values, responseMask);
  const scale = 1 / Math.sqrt(maskedVar(values, responseMask) + WHITEN_EPS);
  return mapMatrix(values, (i) => {
    const whitened = (values.data[i]! - mean) * scale;
    return (shiftMean ? whitened : whitened + mean) * responseMask.data[i]!;
  });
}

/** Number of valid tokens in each row. */
export function rowLengths(responseMask: BatchMatrix): Float64Array {
  const out = new Float64Array(responseMask.batch);
  for (let b = 0; b < responseMask.batch; b++) {
    for (let t = 0; t < responseMask.respLen; t++) out[b]! += responseMask.data[b * responseMask.respLen + t]!;
  }
  return out;
}
