/**
 * Loss aggregation: how a `[batch, respLen]` matrix of per-token losses becomes one number, as in verl's
 * `agg_loss` (`verl/trainer/ppo/core_algos.py`). Every mode is linear in the losses, so each is written
 * as a weight matrix: `aggLoss = Σ w ⊙ lossMat`, and the gradient of the aggregate with respect to a
 * token's loss is that token's weight. The reference gradients in this folder use exactly that.
 *
 * - `token-mean`: every action token of the batch weighs the same (long actions weigh more in total).
 * - `seq-mean-token-sum`: sum over a sequence's tokens, then mean over sequences.
 * - `seq-mean-token-mean`: mean over a sequence's tokens, then mean over sequences (each step example
 *   weighs the same whatever its length).
 *
 * Rows with no valid token are left out of the sequence means (they would add a 0/0 otherwise).
 */
import { InvalidArgumentError } from '../../common/errors.js';
import { rowLengths } from './masked.js';
import { mapMatrix, sameShape, type BatchMatrix } from './matrix.js';

export const LOSS_AGG_MODES = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean'] as const;
export type LossAggMode = (typeof LOSS_AGG_MODES)[number];

/** Throws InvalidArgumentError naming the valid modes unless `mode` is one of them. */
export function checkLossAggMode(mode: string): LossAggMode {
  if (!(LOSS_AGG_MODES as readonly string[]).includes(mode)) {
    throw new InvalidArgumentError('loss_agg_mode', `unknown mode ${JSON.stringify(mode)}`, LOSS_AGG_MODES.join(', '));
  }
  return mode as LossAggMode;
}

/** The weight of each token in the aggregate: `aggLoss(L) = Σ aggWeights ⊙ L`. Masked positions weigh 0. */
export function aggWeights(responseMask: BatchMatrix, mode: LossAggMode): BatchMatrix {
  checkLossAggMode(mode);
  const lengths = rowLengths(responseMask);
  const tokens = lengths.reduce((a, b) => a + b, 0);
  const rows = lengths.filter((n) => n > 0).length;
  return mapMatrix(responseMask, (i) => {
    const m = responseMask.data[i]!;
    if (m === 0) return 0;
    if (mode === 'token-mean') return m / tokens;
    if (mode === 'seq-mean-token-sum') return m / rows;
    return m / (rows * lengths[Math.floor(i / responseMask.respLen)]!);
  });
}

/**
 * Aggregates per-token losses `lossMat` `[batch, respLen]` over the valid tokens of `responseMask`
 * `[batch, respLen]`. An all-zero mask gives 0.
 */
export function aggLoss(lossMat: BatchMatrix, responseMask: BatchMatrix, mode: LossAggMode): number {
  sameShape({ lossMat, responseMask });
  const weights = aggWeights(responseMask, mode);
  let sum = 0;
  for (let i = 0; i < lossMat.data.length; i++) if (weights.data[i] !== 0) sum += weights.data[i]! * lossMat.data[i]!;
  return sum;
}
