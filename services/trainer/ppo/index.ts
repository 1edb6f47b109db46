/**
 * The RL math of SPaRK's offline step-wise PPO, as small pure functions on `[batch, respLen]` float32
 * matrices (verl's `core_algos.py` layout and names). The training loop calls them; the fused native op
 * is tested against them.
 *
 *   const { advantages } = computeAdvantages({ rewards, responseMask, normalize: true });
 *   const pg = getPolicyLoss('vanilla')({ oldLogProb, logProb, advantages, responseMask, clipEps: 0.2 });
 *   const kl = computeKlLoss({ logProb, refLogProb, responseMask, estimator: 'k3' });
 *   const loss = pg.loss + klCoef * kl.loss;   // metrics: { ...pg.metrics, ...kl.metrics }
 */
export { zeros, fromRows, toRows, broadcastRows, type BatchMatrix } from './matrix.js';
export { maskedSum, maskedMean, maskedVar, maskedWhiten } from './masked.js';
export { LOSS_AGG_MODES, aggLoss, aggWeights, checkLossAggMode, type LossAggMode } from './agg.js';
export {
  POLICY_LOSSES,
  POLICY_LOSS_NAMES,
  computePolicyLoss,
  computeDualClipPolicyLoss,
  computeGspoPolicyLoss,
  getPolicyLoss,
  type LossResult,
  type PolicyLossArgs,
  type PolicyLossFn,
  type PolicyLossName,
} from './policy-loss.js';
export { computeValueLoss, type ValueLossArgs } from './value-loss.js';
export { computeEntropy, logProbsFromLogits, type Logits } from './entropy.js';
export { KL_ESTIMATORS, LOG_RATIO_CLAMP, computeKlLoss, klPenalty, klPenaltyGrad, type KlEstimator } from './kl.js';
export { updateKlControl, type KlControl } from './kl-controller.js';
export { computeAdvantages, type AdvantageResult } from './advantages.js';
export { lrAt, type LrSchedule } from './lr-schedule.js';
