/**
 * Batches of (context → completion) rows and the log-probs of their completion tokens.
 *
 * Rows are left-padded so that every row ends at the same position; the completion tokens are then the
 * last ones of each row and their predictions come from the last A + 1 positions (A = the longest
 * completion). The forward asks the model for logits at those positions only (`logitsToKeep`): the
 * vocabulary is 128,256 wide, and full-sequence logits for a batch of 8 × 2,048 tokens would be 8.4 GB
 * of float32 (plus as much again for their gradient), against 8 × 65 × 128,256 × 4 B ≈ 270 MB here.
 *
 * Layout of the action matrices (`[batch, A]`): row r's c_r completion tokens sit in the last c_r
 * columns; the first A − c_r columns are padding with mask 0.
 */
import type { BatchMatrix } from '../ppo/matrix.js';
import type { LlamaModel } from '../model/llama.js';
import { Tensor, tidy, tokenLogprobs } from '../native/tensor.js';

export interface BatchRow {
  contextIds: readonly number[];
  completionIds: readonly number[];
}

export interface ActionBatch {
  /** `[batch, seq]` int64, left-padded. */
  ids: Tensor;
  /** `[batch, seq]` bool, 1 = token; undefined when no row is padded. */
  attentionMask?: Tensor;
  /** `[batch, A]` int64: the completion token each kept position predicts (0 on padding). */
  targets: Tensor;
  /** `[batch, A]` 1 on completion tokens, 0 on padding (plain numbers, for the RL math). */
  responseMask: BatchMatrix;
  /** Completion length per row. */
  completionLengths: number[];
  /** Non-padding tokens of the batch (context + completion). */
  tokens: number;
  /** Row lengths (context + completion), for the FLOPs estimate. */
  rowLengths: number[];
}

/** Left-pads rows into one batch (the tensors belong to the caller's scope). */
export function collate(rows: readonly BatchRow[], device?: string): ActionBatch {
  if (rows.length === 0) throw new RangeError('a batch needs at least one row');
  const seq = Math.max(...rows.map((r) => r.contextIds.length + r.completionIds.length));
  const a = Math.max(...rows.map((r) => r.completionIds.length));
  const b = rows.length;
  const ids: number[] = [];
  const mask = new Uint8Array(b * seq);
  const targets: number[] = [];
  const responseMask = new Float32Array(b * a);
  rows.forEach((r, i) => {
    const full = [...r.contextIds, ...r.completionIds];
    const pad = seq - full.length;
    ids.push(...new Array<number>(pad).fill(0), ...full);
    mask.fill(1, i * seq + pad, (i + 1) * seq);
    const c = r.completionIds.length;
    targets.push(...new Array<number>(a - c).fill(0), ...r.completionIds);
    responseMask.fill(1, i * a + (a - c), (i + 1) * a);
  });
  const padded = rows.some((r) => r.contextIds.length + r.completionIds.length < seq);
  const rowLengths = rows.map((r) => r.contextIds.length + r.completionIds.length);
  return {
    ids: Tensor.ids(ids, [b, seq], device),
    attentionMask: padded ? Tensor.fromData(mask, [b, seq], 'bool', device) : undefined,
    targets: Tensor.ids(targets, [b, a], device),
    responseMask: { batch: b, respLen: a, data: responseMask },
    completionLengths: rows.map((r) => r.completionIds.length),
    tokens: rowLengths.reduce((x, y) => x + y, 0),
    rowLengths,
  };
}

export interface ActionForwardOptions {
  /** LoRA on (the policy) or off (the reference / the initial policy). @default true */
  adapters?: boolean;
  /** Dropout on. @default false */
  training?: boolean;
  /** Also return the final hidden states at the kept positions (value head). */
  wantHidden?: boolean;
}

export interface ActionForward {
  /** `[batch, A]` log-probs of the completion tokens (differentiable unless in noGrad). */
  logProb: Tensor;
  /** `[batch, A, vocab]` logits predicting the completion tokens. */
  logits: Tensor;
  /** `[batch, A, hidden]` when asked. */
  hidden?: Tensor;
}

/** One forward pass producing the completion tokens' log-probs (tensors in the caller's scope). */
export async function actionLogProbs(model: LlamaModel, batch: ActionBatch, opts: ActionForwardOptions = {}): Promise<ActionForward> {
  const a = batch.responseMask.respLen;
  const { logits, hidden } = await model.forward(batch.ids, {
    attentionMask: batch.attentionMask,
    adapters: opts.adapters ?? true,
    training: opts.training ?? false,
    // Position t predicts token t + 1: the last A + 1 positions cover every completion token, the very
    // last one predicts past the end and is dropped.
    logitsToKeep: a + 1,
    wantHidden: opts.wantHidden,
  });
  const kept = logits.narrow(1, 0, a);
  return { logProb: tokenLogprobs(kept, batch.targets), logits: kept, hidden: hidden?.narrow(1, 0, a) };
}

/**
 * Per-position entropy of the softmax of `[.., vocab]` logits: logsumexp(z) − Σ softmax(z)·z. The
 * vocabulary-wide temporaries (hundreds of MB for a batch) are freed as soon as the result exists.
 */
export function entropyFromLogits(logits: Tensor): Tensor {
  const last = logits.shape.length - 1;
  return tidy(() => logits.logsumexp(last).sub(logits.softmax(last).mul(logits).sum(last)));
}

/** A `[batch, A]` float32 tensor as the RL math's matrix. */
export function toMatrix(t: Tensor): BatchMatrix {
  const [batch, respLen] = t.shape as [number, number];
  const data = t.dtype === 'float32' ? (t.data() as Float32Array) : Float32Array.from(t.toArray());
  return { batch, respLen, data };
}
