/**
 * The per-micro-batch objectives of the two training modes, on the `[batch, A]` action matrices, built
 * from the pure RL functions of `../ppo/` (which return each loss with its exact gradient):
 *
 * - `ppo`: clipped surrogate against the behaviour log-probs + β · KL(policy ‖ reference) (k1/k2/k3)
 *   [+ c_v · value loss] − c_H · entropy; SPaRK's offline PPO (DESIGN §6).
 * - `sft`: mean negative log-likelihood of the action tokens (the baseline), aggregated the same way.
 *
 * Each returns the loss value, verl-style metrics and ∂loss/∂logProb; the trainer back-propagates that
 * gradient through the model (`Σ logProb ⊙ g` has exactly that gradient), so the loss is written once,
 * here, and the model's backward stays one fused native call. The entropy bonus is the exception: its
 * gradient needs the whole vocabulary, so the trainer adds it on the logits tensor, weighted by
 * `entropyWeights` (the aggregation weights of the same mode).
 */
import {
  aggLoss,
  aggWeights,
  computeKlLoss,
  computeValueLoss,
  getPolicyLoss,
  type BatchMatrix,
  type LossAggMode,
  type PolicyLossName,
  type KlEstimator,
} from '../ppo/index.js';
import { mapMatrix } from '../ppo/matrix.js';

export interface ObjectiveResult {
  /** The loss of the micro-batch (entropy bonus excluded: see `entropyWeights`). */
  loss: number;
  metrics: Record<string, number>;
  /** ∂loss/∂logProb, `[batch, A]`. */
  gradLogProb: BatchMatrix;
  /** ∂loss/∂valuePreds, `[batch, A]` (value head only). */
  gradValues?: BatchMatrix;
}

export interface PpoSettings {
  policyLoss: PolicyLossName;
  clipEps: number;
  clipEpsHigh?: number;
  lossAggMode: LossAggMode;
  klEstimator: KlEstimator;
  valueLossCoef: number;
}

export interface PpoInputs {
  /** Behaviour log-probs (the initial policy's, computed once), `[batch, A]`. */
  oldLogProb: BatchMatrix;
  /** Current policy, `[batch, A]`. */
  logProb: BatchMatrix;
  /** Reference policy (adapters off), `[batch, A]`. */
  refLogProb: BatchMatrix;
  /** `[batch, A]`. */
  advantages: BatchMatrix;
  /** `[batch, A]`. */
  responseMask: BatchMatrix;
  /** Current KL coefficient β. */
  klCoef: number;
  /** Value head: predictions now and their regression targets, `[batch, A]`. */
  values?: { preds: BatchMatrix; returns: BatchMatrix };
}

const addScaled = (a: BatchMatrix, b: BatchMatrix, scale: number): BatchMatrix => mapMatrix(a, (i) => a.data[i]! + scale * b.data[i]!);

/** PPO: surrogate + β · KL (+ value loss); the gradient is their sum's. */
export function ppoObjective(inputs: PpoInputs, s: PpoSettings): ObjectiveResult {
  const { responseMask } = inputs;
  const pg = getPolicyLoss(s.policyLoss)({
    oldLogProb: inputs.oldLogProb,
    logProb: inputs.logProb,
    advantages: inputs.advantages,
    responseMask,
    clipEps: s.clipEps,
    clipEpsHigh: s.clipEpsHigh,
    lossAggMode: s.lossAggMode,
  });
  const kl = computeKlLoss({ logProb: inputs.logProb, refLogProb: inputs.refLogProb, responseMask, estimator: s.klEstimator, lossAggMode: s.lossAggMode });
  let loss = pg.loss + inputs.klCoef * kl.loss;
  const metrics: Record<string, number> = { ...pg.metrics, ...kl.metrics, 'actor/kl_coef': inputs.klCoef };
  let gradValues: BatchMatrix | undefined;
  if (inputs.values) {
    // Each batch is scored right before its update, so the clipping anchor is the prediction itself
    // (the clip only bites within one step's micro-batches, as in PPO's inner epochs).
    const vf = computeValueLoss({
      valuePreds: inputs.values.preds,
      oldValues: inputs.values.preds,
      returns: inputs.values.returns,
      responseMask,
      lossAggMode: s.lossAggMode,
    });
    loss += s.valueLossCoef * vf.loss;
    Object.assign(metrics, vf.metrics);
    gradValues = mapMatrix(vf.gradValuePreds, (i) => s.valueLossCoef * vf.gradValuePreds.data[i]!);
  }
  return { loss, metrics, gradLogProb: addScaled(pg.gradLogProb, kl.gradLogProb, inputs.klCoef), gradValues };
}

/** SFT: −agg(logProb) over the action tokens. */
export function sftObjective(logProb: BatchMatrix, responseMask: BatchMatrix, lossAggMode: LossAggMode): ObjectiveResult {
  const nll = mapMatrix(logProb, (i) => -logProb.data[i]!);
  const loss = aggLoss(nll, responseMask, lossAggMode);
  const weights = aggWeights(responseMask, lossAggMode);
  return {
    loss,
    metrics: { 'actor/sft_loss': loss },
    gradLogProb: mapMatrix(weights, (i) => -weights.data[i]!),
  };
}

/** Weights of each position in the aggregated entropy (the loss gets −c_H · Σ w ⊙ H). */
export function entropyWeights(responseMask: BatchMatrix, lossAggMode: LossAggMode): BatchMatrix {
  return aggWeights(responseMask, lossAggMode);
}
