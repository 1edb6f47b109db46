/**
 * Batches of (context → completion) rows and the log-probs of their completion tokens.
 *
 * Rows are left-padded so that every row ends at the same position; the completion tokens are then the
 * last ones of each row and their predictions come from the last A positions (A = the longest
 * completion). A row's own last token predicts nothing that is trained, so it is left out of the input
 * (position t predicts token t + 1): the last A positions of the shortened rows predict exactly the A
 * completion columns. The forward asks the model for logits at those positions only (`logitsToKeep`):
 * the vocabulary is 128,256 wide, and full-sequence logits for a batch of 8 × 2,048 tokens would be
 * 8.4 GB of float32 (plus as much again for their gradient), against 8 × 64 × 128,256 × 4 B ≈ 263 MB here.
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
  /** `[batch, seq]` int64, left-padded: each row without its last token (it predicts nothing trained). */
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
  /** Row lengths as computed (context + completion − 1), for the FLOPs estimate. */
  rowLengths: number[];
}

/** Tokens of a row as the model computes it: context + completion without its last token. */
export function inputLength(row: BatchRow): number {
  return row.contextIds.length + row.completionIds.length - 1;
}

/** Left-pads rows into one batch (the tensors belong to the caller's scope). */
export function collate(rows: readonly BatchRow[], device?: string): ActionBatch {
  if (rows.length === 0) throw new RangeError('a batch needs at least one row');
  rows.forEach((r, i) => {
    if (r.contextIds.length === 0 || r.completionIds.length === 0) throw new RangeError(`row ${i} needs context and completion tokens`);
  });
  const rowLengths = rows.map(inputLength);
  const seq = Math.max(...rowLengths);
  const a = Math.max(...rows.map((r) => r.completionIds.length));
  const b = rows.length;
  const ids: number[] = [];
  const mask = new Uint8Array(b * seq);
  const targets: number[] = [];
  const responseMask = new Float32Array(b * a);
  rows.forEach((r, i) => {
    const pad = seq - rowLengths[i]!;
    ids.push(...new Array<number>(pad).fill(0), ...r.contextIds, ...r.completionIds.slice(0, -1));
    mask.fill(1, i * seq + pad, (i + 1) * seq);
    const c = r.completionIds.length;
    targets.push(...new Array<number>(a - c).fill(0), ...r.completionIds);
    responseMask.fill(1, i * a + (a - c), (i + 1) * a);
  });
  const padded = rowLengths.some((n) => n < seq);
  return {
    ids: Tensor.ids(ids, [b, seq], device),
    attentionMask: padded ? Tensor.fromData(mask, [b, seq], 'bool', device) : undefined,
    targets: Tensor.ids(targets, [b, a], device),
    responseMask: { batch: b, respLen: a, data: responseMask },
    completionLengths: rows.map((r) => r.completionIds.length),
    tokens: rows.reduce((n, r) => n + r.contextIds.length + r.completionIds.length, 0),
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
  const { logits, hidden } = await model.forward(batch.ids, {
    attentionMask: batch.attentionMask,
    adapters: opts.adapters ?? true,
    training: opts.training ?? false,
    logitsToKeep: batch.responseMask.respLen,
    wantHidden: opts.wantHidden,
  });
  return { logProb: tokenLogprobs(logits, batch.targets), logits, hidden };
}

/**
 * Per-position entropy of the softmax of `[.., vocab]` logits: logsumexp(z) − Σ softmax(z)·z. The
 * vocabulary-wide temporaries (hundreds of MB for a batch) are freed as soon as the result exists.
 */
export function entropyFromLogits(logits: Tensor): Tensor {
  const last = logits.shape.length - 1;
  return tidy(() => logits.logsumexp(last).sub(logits.softmax(last).mul(logits).sum(last)));
}

/**
 * Positions per entropy call. The vocabulary-wide temporaries of a dozen positions (6 MB) stay in the
 * CPU caches through the five passes of entropyFromLogits; the whole `[batch, A]` block at once streams
 * each pass through memory. Measured on 2 cores, completion positions of batches of 4 and 8: 33–38 % less
 * time than the whole block in one call (chunks of 4: slower again, per-call overhead).
 */
const ENTROPY_CHUNK_POSITIONS = 12;

/**
 * The entropy at each row's completion positions only, `[Σ c_r]` (row by row, in row order), from
 * `[batch, A, vocab]` logits: row r's are its last c_r positions, a contiguous block, so nothing is
 * copied, and the padding columns (a fifth to a quarter of the block in batches of 4 to 8) are skipped.
 * Differentiable unless in noGrad.
 */
export function completionEntropy(logits: Tensor, completionLengths: readonly number[]): Tensor {
  const [, a, vocab] = logits.shape as [number, number, number];
  return tidy(() => Tensor.cat(completionLengths.flatMap((c, r) => {
    const row = logits.narrow(0, r, 1).narrow(1, a - c, c).reshape([c, vocab]);
    const parts: Tensor[] = [];
    for (let s = 0; s < c; s += ENTROPY_CHUNK_POSITIONS) parts.push(entropyFromLogits(row.narrow(0, s, Math.min(ENTROPY_CHUNK_POSITIONS, c - s))));
    return parts;
  }), 0));
}

/** Per-row values of the completion positions as a `[batch, A]` matrix, right-aligned as collate lays them out. */
export function rightAligned(rows: readonly Float32Array[], respLen: number): BatchMatrix {
  const data = new Float32Array(rows.length * respLen);
  rows.forEach((values, r) => data.set(values, r * respLen + (respLen - values.length)));
  return { batch: rows.length, respLen, data };
}

/** Values at each row's completion positions, concatenated (`[Σ c_r]`), as a right-aligned `[batch, A]` matrix. */
export function completionMatrix(values: Float32Array, completionLengths: readonly number[], respLen: number): BatchMatrix {
  const total = completionLengths.reduce((x, y) => x + y, 0);
  if (total !== values.length) throw new RangeError(`expected ${total} values, got ${values.length}`);
  let offset = 0;
  return rightAligned(completionLengths.map((c) => values.subarray(offset, (offset += c))), respLen);
}

/** The inverse of completionMatrix: a `[batch, A]` matrix's values at the completion positions, `[Σ c_r]`. */
export function completionValues(m: BatchMatrix, completionLengths: readonly number[]): Float32Array {
  const out = new Float32Array(completionLengths.reduce((x, y) => x + y, 0));
  let offset = 0;
  completionLengths.forEach((c, r) => {
    out.set(m.data.subarray((r + 1) * m.respLen - c, (r + 1) * m.respLen), offset);
    offset += c;
  });
  return out;
}

/** A `[batch, A]` float32 tensor as the RL math's matrix. */
export function toMatrix(t: Tensor): BatchMatrix {
  const [batch, respLen] = t.shape as [number, number];
  const data = t.dtype === 'float32' ? (t.data() as Float32Array) : Float32Array.from(t.toArray());
  return { batch, respLen, data };
}
