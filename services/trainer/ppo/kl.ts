/**
 * KL to the reference policy (the base model with its adapters switched off), per token, with the three
 * Monte-Carlo estimators of John Schulman's note "Approximating KL Divergence"
 * (http://joschu.net/blog/kl-approx.html). Tokens are sampled from the policy π, the reference is π_ref,
 * and r = π_ref/π, so log r = refLogProb − logProb:
 *
 * - k1 = −log r            unbiased, high variance, can be negative per token;
 * - k2 = ½ (log r)²        biased, low variance, always ≥ 0;
 * - k3 = (r − 1) − log r   unbiased and always ≥ 0 (verl's "low_var_kl"); the default.
 *
 * As in verl's `kl_penalty`, each returns a `[batch, respLen]` matrix; `computeKlLoss` aggregates it
 * into the regulariser added to the actor loss.
 */
import { aggLoss, aggWeights, checkLossAggMode, type LossAggMode } from './agg.js';
import { mapMatrix, sameShape, type BatchMatrix } from './matrix.js';
import { maskedMean } from './masked.js';
import { InvalidArgumentError } from '../../common/errors.js';

export const KL_ESTIMATORS = ['k1', 'k2', 'k3'] as const;
export type KlEstimator = (typeof KL_ESTIMATORS)[number];

/**
 * Log-ratios are clamped to ±20 before any exp(): a token whose probability collapsed under one model
 * (log-ratio of −50, say) would otherwise give exp(50) ≈ 5e21, an infinite float32 loss once multiplied,
 * and a NaN gradient that ruins the whole step. e^20 ≈ 4.9e8 is still finite and far past any clip range.
 */
export const LOG_RATIO_CLAMP = 20;

export function clampLogRatio(logRatio: number): number {
  return Math.min(Math.max(logRatio, -LOG_RATIO_CLAMP), LOG_RATIO_CLAMP);
}

function checkEstimator(estimator: string): KlEstimator {
  if (!(KL_ESTIMATORS as readonly string[]).includes(estimator)) {
    throw new InvalidArgumentError('kl_estimator', `unknown estimator ${JSON.stringify(estimator)}`, KL_ESTIMATORS.join(', '));
  }
  return estimator as KlEstimator;
}

/**
 * Per-token KL estimate between the policy (`logProb`, `[batch, respLen]`) and the reference
 * (`refLogProb`, `[batch, respLen]`) with estimator k1, k2 or k3.
 */
export function klPenalty(logProb: BatchMatrix, refLogProb: BatchMatrix, estimator: KlEstimator): BatchMatrix {
  sameShape({ logProb, refLogProb });
  const kind = checkEstimator(estimator);
  return mapMatrix(logProb, (i) => {
    const logR = clampLogRatio(refLogProb.data[i]! - logProb.data[i]!);
    if (kind === 'k1') return clampLogRatio(logProb.data[i]! - refLogProb.data[i]!);
    if (kind === 'k2') return 0.5 * logR * logR;
    return Math.exp(logR) - 1 - logR;
  });
}

/** ∂klPenalty/∂logProb per token (0 where the log-ratio was clamped). */
export function klPenaltyGrad(logProb: BatchMatrix, refLogProb: BatchMatrix, estimator: KlEstimator): BatchMatrix {
  sameShape({ logProb, refLogProb });
  const kind = checkEstimator(estimator);
  return mapMatrix(logProb, (i) => {
    const logR = refLogProb.data[i]! - logProb.data[i]!;
    if (Math.abs(logR) > LOG_RATIO_CLAMP) return 0;
    if (kind === 'k1') return 1;
    if (kind === 'k2') return logProb.data[i]! - refLogProb.data[i]!;
    return 1 - Math.exp(logR);
  });
}

export interface KlLossArgs {
  /** Current policy log-probs of the action tokens, `[batch, respLen]`. */
  logProb: BatchMatrix;
  /** Reference (adapters off) log-probs of the same tokens, `[batch, respLen]`. */
  refLogProb: BatchMatrix;
  /** `[batch, respLen]`. */
  responseMask: BatchMatrix;
  /** @default 'k3' */
  estimator?: KlEstimator;
  /** @default 'token-mean' */
  lossAggMode?: LossAggMode;
}

/**
 * The KL regulariser (before its coefficient): the aggregated per-token estimate, its gradient, and
 * `actor/kl_loss` plus `actor/kl_ref` (the k1 mean, the plain "how far from the base" figure for logs).
 */
export function computeKlLoss(args: KlLossArgs): { loss: number; metrics: Record<string, number>; gradLogProb: BatchMatrix } {
  sameShape({ responseMask: args.responseMask, logProb: args.logProb, refLogProb: args.refLogProb });
  const estimator = args.estimator ?? 'k3';
  const mode = checkLossAggMode(args.lossAggMode ?? 'token-mean');
  const loss = aggLoss(klPenalty(args.logProb, args.refLogProb, estimator), args.responseMask, mode);
  const weights = aggWeights(args.responseMask, mode);
  const grad = klPenaltyGrad(args.logProb, args.refLogProb, estimator);
  return {
    loss,
    metrics: {
      'actor/kl_loss': loss,
      'actor/kl_ref': maskedMean(klPenalty(args.logProb, args.refLogProb, 'k1'), args.responseMask),
    },
    gradLogProb: mapMatrix(grad, (i) => (weights.data[i] === 0 ? 0 : grad.data[i]! * weights.data[i]!)),
  };
}
