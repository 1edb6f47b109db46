/**
 * Advantages for offline step-wise PPO. Each step example (context → action) has one scalar reward (the
 * composite reward of `../reward.ts`) and is a one-decision episode, so with γ = λ = 1 GAE reduces to
 * A_t = R − V_t and the return is R at every action token. Two estimators:
 *
 * - no value head: the reward itself, batch-normalised when `normalize` (GRPO-style
 *   (R − mean) / (std + ε) over the batch's examples, verl's `compute_grpo_outcome_advantage` with the
 *   whole batch as the group): the batch mean is the baseline;
 * - value head: R − V_t per token, whitened over the batch's action tokens when `normalize`
 *   (verl's `compute_gae_advantage_return` with γ = λ = 1).
 *
 * Either way the advantage is broadcast over the action tokens and 0 elsewhere.
 */
import { maskedMean, maskedWhiten, rowLengths } from './masked.js';
import { broadcastRows, mapMatrix, sameShape, type BatchMatrix } from './matrix.js';

/** Added to the batch std: keeps a batch of equal rewards at advantage 0 instead of 0/0. */
export const ADVANTAGE_EPS = 1e-6;

export interface AdvantageArgs {
  /** One composite reward per step example, `[batch]`. */
  rewards: Float32Array;
  /** `[batch, respLen]`. */
  responseMask: BatchMatrix;
  /** Value-head predictions per token, `[batch, respLen]`; when given, A = R − V. */
  values?: BatchMatrix;
  /** Normalise over the batch (see the file comment). */
  normalize: boolean;
}

export interface AdvantageResult {
  /** `[batch, respLen]`. */
  advantages: BatchMatrix;
  /** Value targets, `[batch, respLen]`: R broadcast. */
  returns: BatchMatrix;
  metrics: Record<string, number>;
}

/** Mean and unbiased std of the rewards of rows with at least one action token. */
function batchStats(rewards: Float32Array, lengths: Float64Array): { mean: number; std: number; count: number } {
  const xs = Array.from(rewards).filter((_, b) => lengths[b]! > 0);
  const count = xs.length;
  if (count === 0) return { mean: 0, std: 1, count };
  const mean = xs.reduce((a, b) => a + b, 0) / count;
  const variance = count > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (count - 1) : 0;
  return { mean, std: Math.sqrt(variance), count };
}

export function computeAdvantages(args: AdvantageArgs): AdvantageResult {
  const { rewards, responseMask, values, normalize } = args;
  const returns = broadcastRows(rewards, responseMask);
  let advantages: BatchMatrix;
  if (values) {
    sameShape({ responseMask, values });
    const raw = mapMatrix(returns, (i) => (returns.data[i]! - values.data[i]!) * responseMask.data[i]!);
    advantages = normalize ? maskedWhiten(raw, responseMask) : raw;
  } else if (normalize) {
    const { mean, std, count } = batchStats(rewards, rowLengths(responseMask));
    // A single example has no batch to compare with: keep its reward (verl does the same for a group of 1).
    const scaled = count < 2 ? rewards : rewards.map((r) => (r - mean) / (std + ADVANTAGE_EPS));
    advantages = broadcastRows(scaled, responseMask);
  } else {
    advantages = returns;
  }
  const valid = Array.from(advantages.data).filter((_, i) => responseMask.data[i]! > 0);
  const scores = Array.from(rewards);
  return {
    advantages,
    returns,
    metrics: {
      'critic/score/mean': scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : 0,
      'critic/score/max': scores.length ? Math.max(...scores) : 0,
      'critic/score/min': scores.length ? Math.min(...scores) : 0,
      'critic/advantages/mean': maskedMean(advantages, responseMask),
      'critic/advantages/max': valid.length ? Math.max(...valid) : 0,
      'critic/advantages/min': valid.length ? Math.min(...valid) : 0,
      'critic/returns/mean': maskedMean(returns, responseMask),
    },
  };
}
