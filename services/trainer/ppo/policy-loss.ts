/**
 * PPO policy losses (the actor side), after verl's `compute_policy_loss_*` in
 * `verl/trainer/ppo/core_algos.py`, with a registry of variants keyed by name:
 *
 * - `vanilla`: the clipped surrogate of Schulman et al. 2017 (arXiv 1707.06347), eq. 7, with an optional
 *   asymmetric upper bound (`clipEpsHigh`, "clip-higher" of DAPO, arXiv 2503.14476).
 * - `dual_clip`: vanilla plus the lower bound `−A·c` for negative advantages (Ye et al. 2020,
 *   arXiv 1912.09729), so one very unlikely token with A < 0 cannot dominate the loss.
 * - `gspo`: one importance ratio per sequence, the geometric mean of its token ratios (Zheng et al. 2025,
 *   arXiv 2507.18071): suits SPaRK's step examples, where each action is one decision with one reward.
 *
 * SPaRK's training is offline: `oldLogProb` are the behaviour log-probs computed once by the initial
 * policy, `logProb` the current policy's. Each function returns `{ loss, metrics, gradLogProb }`:
 * `gradLogProb` is ∂loss/∂logProb `[batch, respLen]`, the reference for the fused native backward.
 */
import { InvalidArgumentError } from '../../common/errors.js';
import { aggWeights, checkLossAggMode, type LossAggMode } from './agg.js';
import { LOG_RATIO_CLAMP, clampLogRatio } from './kl.js';
import { maskedMean, rowLengths } from './masked.js';
import { broadcastRows, mapMatrix, sameShape, zeros, type BatchMatrix } from './matrix.js';

export interface PolicyLossArgs {
  /** Behaviour log-probs of the action tokens under the initial policy, `[batch, respLen]`. */
  oldLogProb: BatchMatrix;
  /** Log-probs of the same tokens under the current policy, `[batch, respLen]`. */
  logProb: BatchMatrix;
  /** Advantage of each token (a step's advantage broadcast over its action), `[batch, respLen]`. */
  advantages: BatchMatrix;
  /** 1 on action tokens, 0 on prompt and padding, `[batch, respLen]`. */
  responseMask: BatchMatrix;
  /** Clip range ε: the ratio is kept in [1 − ε, 1 + εHigh]. @default 0.2 */
  clipEps?: number;
  /** Upper clip range; @default clipEps (symmetric). */
  clipEpsHigh?: number;
  /** Dual-clip constant c > 1 (`dual_clip` only). @default 3 */
  clipRatioC?: number;
  /** @default 'token-mean' */
  lossAggMode?: LossAggMode;
}

export interface LossResult {
  loss: number;
  /** verl-style `section/name` keys. */
  metrics: Record<string, number>;
  /** ∂loss/∂logProb, `[batch, respLen]`. */
  gradLogProb: BatchMatrix;
}

export const DEFAULT_CLIP_EPS = 0.2;
export const DEFAULT_CLIP_RATIO_C = 3;

interface Resolved {
  clipLow: number;
  clipHigh: number;
  clipRatioC?: number;
  mode: LossAggMode;
}

function resolve(args: PolicyLossArgs, dualClip: boolean): Resolved {
  sameShape({ responseMask: args.responseMask, oldLogProb: args.oldLogProb, logProb: args.logProb, advantages: args.advantages });
  const clipLow = args.clipEps ?? DEFAULT_CLIP_EPS;
  const clipHigh = args.clipEpsHigh ?? clipLow;
  if (!(clipLow > 0 && clipLow < 1)) throw new InvalidArgumentError('clip_eps', `must be in (0, 1) (got ${clipLow})`);
  if (!(clipHigh > 0)) throw new InvalidArgumentError('clip_eps_high', `must be > 0 (got ${clipHigh})`);
  const clipRatioC = dualClip ? args.clipRatioC ?? DEFAULT_CLIP_RATIO_C : undefined;
  if (clipRatioC !== undefined && !(clipRatioC > 1)) {
    throw new InvalidArgumentError('clip_ratio_c', `must be > 1 for the dual-clip lower bound (got ${clipRatioC})`);
  }
  return { clipLow, clipHigh, clipRatioC, mode: checkLossAggMode(args.lossAggMode ?? 'token-mean') };
}

/**
 * The clipped surrogate for given per-token ratios. `ratioGrad[i]` is ∂ratio_i/∂logProb_i (ratio_i when
 * the log-ratio was not clamped, else 0); the gradient returned is through the aggregate.
 */
function clippedSurrogate(args: PolicyLossArgs, ratio: Float64Array, ratioGrad: Float64Array, opts: Resolved): LossResult {
  const { advantages, responseMask } = args;
  const weights = aggWeights(responseMask, opts.mode);
  const clipped = zeros(responseMask.batch, responseMask.respLen);
  const clippedLower = zeros(responseMask.batch, responseMask.respLen);
  const gradLogProb = zeros(responseMask.batch, responseMask.respLen);
  let loss = 0;
  for (let i = 0; i < ratio.length; i++) {
    const a = advantages.data[i]!;
    const r = ratio[i]!;
    const rClipped = Math.min(Math.max(r, 1 - opts.clipLow), 1 + opts.clipHigh);
    const unclippedLoss = -a * r;
    const clippedLoss = -a * rClipped;
    // max(): the pessimistic bound. When the clipped branch wins, the ratio is outside the range and the
    // token contributes no gradient: that is what stops the policy moving too far from the behaviour one.
    let tokenLoss = Math.max(unclippedLoss, clippedLoss);
    let grad = clippedLoss > unclippedLoss ? 0 : -a * ratioGrad[i]!;
    clipped.data[i] = clippedLoss > unclippedLoss ? 1 : 0;
    if (opts.clipRatioC !== undefined && a < 0) {
      const lowerBound = -a * opts.clipRatioC;
      if (tokenLoss > lowerBound) {
        tokenLoss = lowerBound;
        grad = 0;
        clippedLower.data[i] = 1;
      }
    }
    loss += weights.data[i]! * tokenLoss;
    gradLogProb.data[i] = weights.data[i]! * grad;
  }
  const metrics: Record<string, number> = {
    'actor/pg_loss': loss,
    'actor/pg_clipfrac': maskedMean(clipped, responseMask),
    // k1 estimate of KL(behaviour ‖ current) over the action tokens: how far the policy has moved.
    'actor/ppo_kl': maskedMean(mapMatrix(responseMask, (i) => args.oldLogProb.data[i]! - args.logProb.data[i]!), responseMask),
  };
  if (opts.clipRatioC !== undefined) metrics['actor/pg_clipfrac_lower'] = maskedMean(clippedLower, responseMask);
  return { loss, metrics, gradLogProb };
}

/** Per-token ratios exp(logProb − oldLogProb), the log-ratio clamped to ±LOG_RATIO_CLAMP. */
function tokenRatios(args: PolicyLossArgs): { ratio: Float64Array; ratioGrad: Float64Array } {
  const n = args.logProb.data.length;
  const ratio = new Float64Array(n);
  const ratioGrad = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const logRatio = args.logProb.data[i]! - args.oldLogProb.data[i]!;
    ratio[i] = Math.exp(clampLogRatio(logRatio));
    ratioGrad[i] = Math.abs(logRatio) > LOG_RATIO_CLAMP ? 0 : ratio[i]!;
  }
  return { ratio, ratioGrad };
}

/** The PPO clipped surrogate (vanilla): mean of max(−A·r, −A·clip(r, 1−ε, 1+εHigh)) over action tokens. */
export function computePolicyLoss(args: PolicyLossArgs): LossResult {
  const { ratio, ratioGrad } = tokenRatios(args);
  return clippedSurrogate(args, ratio, ratioGrad, resolve(args, false));
}

/** The clipped surrogate with the dual-clip lower bound −A·c for A < 0. */
export function computeDualClipPolicyLoss(args: PolicyLossArgs): LossResult {
  const { ratio, ratioGrad } = tokenRatios(args);
  return clippedSurrogate(args, ratio, ratioGrad, resolve(args, true));
}

/**
 * GSPO: every token of sequence i uses the sequence ratio s_i = exp(mean_t(logProb − oldLogProb)),
 * clipped as in PPO, and the row's advantage (the mean of its tokens' advantages). Written as verl does,
 * with stop-gradients: token t's term is s_i · exp(logProb_t − sg(logProb_t)), so its gradient is s_i
 * times the token's aggregation weight; since weight and advantage are constant along a row in every
 * aggregation mode, that equals the exact gradient of the returned loss. The GSPO paper clips far
 * tighter than PPO (ε ≈ 3e-4 .. 4e-4); pass `clipEps` accordingly.
 */
export function computeGspoPolicyLoss(args: PolicyLossArgs): LossResult {
  const opts = resolve(args, false);
  const { responseMask, logProb, oldLogProb } = args;
  const lengths = rowLengths(responseMask);
  // GSPO's advantage is per sequence: each row's mean over its action tokens.
  const rowAdvantage = new Float32Array(responseMask.batch);
  for (let b = 0; b < responseMask.batch; b++) {
    let sum = 0;
    for (let t = 0; t < responseMask.respLen; t++) sum += args.advantages.data[b * responseMask.respLen + t]! * responseMask.data[b * responseMask.respLen + t]!;
    rowAdvantage[b] = lengths[b]! > 0 ? sum / lengths[b]! : 0;
  }
  const advantages = broadcastRows(rowAdvantage, responseMask);
  const ratio = new Float64Array(logProb.data.length);
  const ratioGrad = new Float64Array(logProb.data.length);
  for (let b = 0; b < responseMask.batch; b++) {
    let sum = 0;
    for (let t = 0; t < responseMask.respLen; t++) {
      const i = b * responseMask.respLen + t;
      sum += (logProb.data[i]! - oldLogProb.data[i]!) * responseMask.data[i]!;
    }
    const seqLogRatio = lengths[b]! > 0 ? sum / lengths[b]! : 0;
    const seqRatio = Math.exp(clampLogRatio(seqLogRatio));
    const grad = Math.abs(seqLogRatio) > LOG_RATIO_CLAMP ? 0 : seqRatio;
    ratio.fill(seqRatio, b * responseMask.respLen, (b + 1) * responseMask.respLen);
    ratioGrad.fill(grad, b * responseMask.respLen, (b + 1) * responseMask.respLen);
  }
  return clippedSurrogate({ ...args, advantages }, ratio, ratioGrad, opts);
}

export type PolicyLossFn = (args: PolicyLossArgs) => LossResult;

/** The policy-loss variants by name (`hyper.policyLoss` in a training spec). */
export const POLICY_LOSSES = {
  vanilla: computePolicyLoss,
  dual_clip: computeDualClipPolicyLoss,
  gspo: computeGspoPolicyLoss,
} as const satisfies Record<string, PolicyLossFn>;

export type PolicyLossName = keyof typeof POLICY_LOSSES;
export const POLICY_LOSS_NAMES = Object.keys(POLICY_LOSSES) as PolicyLossName[];

/** The variant called `name`; an unknown name throws InvalidArgumentError listing the valid ones. */
export function getPolicyLoss(name: string): PolicyLossFn {
  if (!Object.hasOwn(POLICY_LOSSES, name)) {
    throw new InvalidArgumentError('policy_loss', `unknown variant ${JSON.stringify(name)}`, POLICY_LOSS_NAMES.join(', '));
  }
  return POLICY_LOSSES[name as PolicyLossName];
}
