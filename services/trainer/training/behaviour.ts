/**
 * Behaviour log-probs for offline PPO: the log-prob of every completion token under the initial policy,
 * computed once before training and cached in the output folder (`behaviour_logprobs.safetensors`), so
 * a resumed run reads the very same numbers. The PPO ratio of every later step is taken against them.
 *
 * The initial policy is the base model: fresh LoRA adapters start with B = 0 (PEFT's init), so their
 * output equals the base's, and the pass runs with adapters off (no dropout). The cache records the data
 * hash, base model, quantisation and max_seq_len it was computed for and is recomputed when any differs.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LlamaModel } from '../model/llama.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../model/safetensors.js';
import { noGrad, tidy } from '../native/tensor.js';
import type { BatchMatrix } from '../ppo/matrix.js';
import { actionLogProbs, collate, rightAligned, type BatchRow } from './batch.js';

export const BEHAVIOUR_FILE = 'behaviour_logprobs.safetensors';

/** What the cached numbers depend on. */
export interface BehaviourKey {
  dataSha256: string;
  baseModelPath: string;
  quantization: string;
  maxSeqLen: number;
}

/** Per-example completion-token log-probs, flat with offsets. */
export class BehaviourLogProbs {
  constructor(readonly values: Float32Array, readonly offsets: Int32Array) {}

  /** Log-probs of example `i`'s completion tokens. */
  of(i: number): Float32Array {
    return this.values.subarray(this.offsets[i]!, this.offsets[i + 1]!);
  }

  /** The `[batch, A]` matrix of a batch of examples, right-aligned as batch.ts lays completions out. */
  matrix(indices: readonly number[], respLen: number): BatchMatrix {
    return rightAligned(indices.map((ex) => this.of(ex)), respLen);
  }
}

const sameKey = (meta: Record<string, string>, key: BehaviourKey) =>
  meta.data_sha256 === key.dataSha256 && meta.base_model === key.baseModelPath && meta.quantization === key.quantization && meta.max_seq_len === String(key.maxSeqLen);

/** Reads the cache when it matches `key` and `rows`. */
export async function readBehaviourCache(outDir: string, key: BehaviourKey, rows: readonly BatchRow[]): Promise<BehaviourLogProbs | undefined> {
  const path = join(outDir, BEHAVIOUR_FILE);
  if (!existsSync(path) || !sameKey(readSafetensorsHeader(path).metadata, key)) return undefined;
  const tensors = await readSafetensors(path);
  try {
    const values = tensors.get('logprobs')!.data() as Float32Array;
    const offsets = Int32Array.from(tensors.get('offsets')!.toArray());
    const fits = offsets.length === rows.length + 1 && rows.every((r, i) => offsets[i + 1]! - offsets[i]! === r.completionIds.length);
    return fits ? new BehaviourLogProbs(values, offsets) : undefined;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Computes the initial policy's log-probs of every row (no grad, adapters off) and writes the cache. */
export async function computeBehaviour(
  model: LlamaModel,
  rows: readonly BatchRow[],
  opts: { batchSize: number; outDir: string; key: BehaviourKey; signal?: AbortSignal; onProgress?: (done: number) => void },
): Promise<BehaviourLogProbs> {
  const offsets = new Int32Array(rows.length + 1);
  rows.forEach((r, i) => { offsets[i + 1] = offsets[i]! + r.completionIds.length; });
  const values = new Float32Array(offsets[rows.length]!);
  for (let start = 0; start < rows.length; start += opts.batchSize) {
    opts.signal?.throwIfAborted();
    const chunk = rows.slice(start, start + opts.batchSize);
    const lp = await noGrad(() => tidy(async () => {
      const batch = collate(chunk, model.device);
      const { logProb } = await actionLogProbs(model, batch, { adapters: false });
      return logProb.to('float32', 'cpu').data() as Float32Array;
    }));
    const a = lp.length / chunk.length;
    chunk.forEach((r, j) => values.set(lp.subarray(j * a + (a - r.completionIds.length), (j + 1) * a), offsets[start + j]!));
    opts.onProgress?.(Math.min(rows.length, start + opts.batchSize));
  }
  await tidy(() => writeSafetensors(join(opts.outDir, BEHAVIOUR_FILE), [
    { name: 'logprobs', dtype: 'float32', shape: [values.length], bytes: () => new Uint8Array(values.buffer, values.byteOffset, values.byteLength) },
    { name: 'offsets', dtype: 'int32', shape: [offsets.length], bytes: () => new Uint8Array(offsets.buffer, offsets.byteOffset, offsets.byteLength) },
  ], {
    data_sha256: opts.key.dataSha256,
    base_model: opts.key.baseModelPath,
    quantization: opts.key.quantization,
    max_seq_len: String(opts.key.maxSeqLen),
  }));
  return new BehaviourLogProbs(values, offsets);
}

/** The cached behaviour log-probs, or freshly computed ones. */
export async function behaviourLogProbs(
  model: LlamaModel,
  rows: readonly BatchRow[],
  opts: { batchSize: number; outDir: string; key: BehaviourKey; signal?: AbortSignal; onProgress?: (done: number) => void },
): Promise<{ behaviour: BehaviourLogProbs; cached: boolean }> {
  const hit = await readBehaviourCache(opts.outDir, opts.key, rows);
  if (hit) return { behaviour: hit, cached: true };
  return { behaviour: await computeBehaviour(model, rows, opts), cached: false };
}
