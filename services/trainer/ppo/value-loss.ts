/**
 * The value-head loss (the critic side) with value clipping, after verl's `compute_value_loss`
 * (`verl/trainer/ppo/core_algos.py`) and the PPO2 baselines: 0.5 · agg(max((v − R)², (v_clip − R)²)),
 * v_clip = oldValues + clip(v − oldValues, ±clipRangeValue). Used when a training spec enables the value
 * head; otherwise advantages are batch-normalised rewards and there is no critic.
 */
import { aggWeights, checkLossAggMode, type LossAggMode } from './agg.js';
import { maskedMean } from './masked.js';
import { sameShape, zeros, type BatchMatrix } from './matrix.js';

export interface ValueLossArgs {
  /** Current value-head predictions per token, `[batch, respLen]`. */
  valuePreds: BatchMatrix;
  /** Predictions of the value head when the batch was scored (the clipping anchor), `[batch, respLen]`. */
  oldValues: BatchMatrix;
  /** Targets (the step's reward, broadcast), `[batch, respLen]`. */
  returns: BatchMatrix;
  /** `[batch, respLen]`. */
  responseMask: BatchMatrix;
  /** How far a prediction may move from `oldValues` before its loss stops improving. @default 0.5 */
  clipRangeValue?: number;
  /** @default 'token-mean' */
  lossAggMode?: LossAggMode;
}

export const DEFAULT_CLIP_RANGE_VALUE = 0.5;

/** `{ loss, metrics, gradValuePreds }` with `critic/vf_loss`, `critic/vf_clipfrac`, `critic/vpred_mean`. */
export function computeValueLoss(args: ValueLossArgs): { loss: number; metrics: Record<string, number>; gradValuePreds: BatchMatrix } {
  const { valuePreds, oldValues, returns, responseMask } = args;
  sameShape({ responseMask, valuePreds, oldValues, returns });
  const clip = args.clipRangeValue ?? DEFAULT_CLIP_RANGE_VALUE;
  const weights = aggWeights(responseMask, checkLossAggMode(args.lossAggMode ?? 'token-mean'));
  const clipped = zeros(responseMask.batch, responseMask.respLen);
  const gradValuePreds = zeros(responseMask.batch, responseMask.respLen);
  let loss = 0;
  for (let i = 0; i < valuePreds.data.length; i++) {
    const v = valuePreds.data[i]!;
    const old = oldValues.data[i]!;
    const target = returns.data[i]!;
    const vClipped = Math.min(Math.max(v, old - clip), old + clip);
    const unclippedLoss = (v - target) ** 2;
    const clippedLoss = (vClipped - target) ** 2;
    // The clipped branch only wins when v is outside the band, where ∂v_clip/∂v = 0.
    const clippedWins = clippedLoss > unclippedLoss;
    clipped.data[i] = clippedWins ? 1 : 0;
    loss += 0.5 * weights.data[i]! * Math.max(unclippedLoss, clippedLoss);
    gradValuePreds.data[i] = clippedWins ? 0 : weights.data[i]! * (v - target);
  }
  return {
    loss,
    metrics: {
      'critic/vf_loss': loss,
      'critic/vf_clipfrac': maskedMean(clipped, responseMask),
      'critic/vpred_mean': maskedMean(valuePreds, responseMask),
    },
    gradValuePreds,
  };
}
