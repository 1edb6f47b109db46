/**
 * Token distributions from logits: entropy (for the entropy bonus) and the log-prob of given tokens, as
 * verl's `entropy_from_logits` / `logprobs_from_logits` (`verl/utils/torch_functional.py`). Both use the
 * log-sum-exp form, H = logsumexp(z) − Σ softmax(z)·z, so large logits never overflow exp().
 * Reference-sized: it materialises `[batch, respLen, vocab]`, which the native op never does.
 */
import { aggWeights, checkLossAggMode, type LossAggMode } from './agg.js';
import { maskedMean } from './masked.js';
import { sameShape, zeros, type BatchMatrix } from './matrix.js';

/** Row-major `[batch, respLen, vocab]` logits. */
export interface Logits {
  readonly batch: number;
  readonly respLen: number;
  readonly vocab: number;
  readonly data: Float32Array;
}

function checkLogits(logits: Logits, responseMask: BatchMatrix): void {
  if (logits.data.length !== logits.batch * logits.respLen * logits.vocab) {
    throw new RangeError(`logits: data has ${logits.data.length} values, expected batch*respLen*vocab = ${logits.batch * logits.respLen * logits.vocab}`);
  }
  sameShape({ responseMask, logits: { batch: logits.batch, respLen: logits.respLen, data: new Float32Array(logits.batch * logits.respLen) } });
}

/** Softmax of one position and its log-sum-exp, in float64. */
function softmaxAt(logits: Logits, position: number): { p: Float64Array; logSumExp: number } {
  const row = logits.data.subarray(position * logits.vocab, (position + 1) * logits.vocab);
  let max = -Infinity;
  for (const z of row) max = Math.max(max, z);
  const p = new Float64Array(logits.vocab);
  let sum = 0;
  for (let v = 0; v < logits.vocab; v++) sum += p[v] = Math.exp(row[v]! - max);
  for (let v = 0; v < logits.vocab; v++) p[v]! /= sum;
  return { p, logSumExp: max + Math.log(sum) };
}

export interface EntropyArgs {
  /** `[batch, respLen, vocab]`. */
  logits: Logits;
  /** `[batch, respLen]`. */
  responseMask: BatchMatrix;
  /** @default 'token-mean' */
  lossAggMode?: LossAggMode;
}

/**
 * Entropy (nats) of each action token's distribution, aggregated over the action tokens. The trainer
 * subtracts `entropyCoef · loss` from the actor loss (a bonus). `gradLogits` is ∂loss/∂logits
 * `[batch, respLen, vocab]`: −p_j (log p_j + H) per position, times the token's aggregation weight.
 */
export function computeEntropy(args: EntropyArgs): { loss: number; metrics: Record<string, number>; entropy: BatchMatrix; gradLogits: Float32Array } {
  const { logits, responseMask } = args;
  checkLogits(logits, responseMask);
  const weights = aggWeights(responseMask, checkLossAggMode(args.lossAggMode ?? 'token-mean'));
  const entropy = zeros(logits.batch, logits.respLen);
  const gradLogits = new Float32Array(logits.data.length);
  let loss = 0;
  for (let pos = 0; pos < logits.batch * logits.respLen; pos++) {
    const { p, logSumExp } = softmaxAt(logits, pos);
    let expected = 0;
    // p = 0 terms (logits of −∞, e.g. a vocabulary mask) contribute 0, not 0·(−∞) = NaN.
    for (let v = 0; v < logits.vocab; v++) if (p[v]! > 0) expected += p[v]! * logits.data[pos * logits.vocab + v]!;
    const h = logSumExp - expected;
    entropy.data[pos] = h;
    const w = weights.data[pos]!;
    loss += w * h;
    if (w === 0) continue;
    for (let v = 0; v < logits.vocab; v++) {
      if (p[v] === 0) continue;
      const logP = logits.data[pos * logits.vocab + v]! - logSumExp;
      gradLogits[pos * logits.vocab + v] = -w * p[v]! * (logP + h);
    }
  }
  return { loss, metrics: { 'actor/entropy': maskedMean(entropy, responseMask) }, entropy, gradLogits };
}

/** log softmax(logits)[tokenIds] per position, `[batch, respLen]`; `tokenIds` is `[batch, respLen]`. */
export function logProbsFromLogits(logits: Logits, tokenIds: Int32Array): BatchMatrix {
  if (tokenIds.length !== logits.batch * logits.respLen) {
    throw new RangeError(`tokenIds has ${tokenIds.length} entries, expected batch*respLen = ${logits.batch * logits.respLen}`);
  }
  const out = zeros(logits.batch, logits.respLen);
  for (let pos = 0; pos < tokenIds.length; pos++) {
    const id = tokenIds[pos]!;
    if (id < 0 || id >= logits.vocab) throw new RangeError(`tokenIds[${pos}] = ${id} is outside the vocabulary [0, ${logits.vocab})`);
    out.data[pos] = logits.data[pos * logits.vocab + id]! - softmaxAt(logits, pos).logSumExp;
  }
  return out;
}
