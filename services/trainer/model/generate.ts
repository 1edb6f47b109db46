/**
 * Batched generation with the KV cache: prompts are left-padded into one batch, prefilled in chunks of
 * `PREFILL_CHUNK_TOKENS`, then decoded one token per call (each a single fused native step that also
 * samples). Greedy when temperature is 0, else temperature → top-k → top-p sampling. A row ends at a stop
 * token, a stop string, or `maxNewTokens`. Every generated token comes with its log-prob under the
 * model's own distribution (softmax of the raw logits), which the trainer stores as PPO's behaviour
 * log-probs. Steps of concurrent generations take turns (step-queue.ts).
 */
import { CancelledError, InvalidArgumentError } from '../../common/errors.js';
import type { NativeSampleOptions } from '../native/index.js';
import { Tensor, manualSeed, noGrad, tidy } from '../native/tensor.js';
import { IncrementalDecoder } from './incremental-decode.js';
import type { KvCache, LlamaModel } from './llama.js';
import { generationSteps } from './step-queue.js';
import type { LlamaTokenizer } from './tokenizer.js';

/**
 * Prompt tokens per prefill call. The CPU attention (no fused kernel in Debian's libtorch) materialises
 * [heads, t, s] scores per row; over a whole long prompt they outgrow the caches and come from fresh
 * pages on every call, and half of them are masked anyway. Chunks through the KV cache compute only the
 * causal part: a 2,000-token prompt of the tiny model took 567 ms in one call, 147 ms in chunks of 256
 * (2 cores). Chunks change which products are summed together, not what is computed.
 */
export const PREFILL_CHUNK_TOKENS = 256;

export interface GenerateOptions {
  /** @default 256 */
  maxNewTokens?: number;
  /** 0 = greedy. @default 1 */
  temperature?: number;
  /** Nucleus mass kept; 1 = off. @default 1 */
  topP?: number;
  /** Most likely tokens kept; 0 = off. @default 0 */
  topK?: number;
  /** Texts that end a row (cut from the returned text). Needs a tokenizer. */
  stop?: string[];
  /** Token ids that end a row (kept in `tokens`, cut from `text`). @default the tokenizer's stop ids, else the config's eos ids */
  stopTokenIds?: number[];
  /** Sample with the LoRA adapters on. @default true */
  adapters?: boolean;
  /** Seeds libtorch's generator first, for reproducible sampling. */
  seed?: number;
  signal?: AbortSignal;
  /** Called for each new token of each row still running (streaming). */
  onToken?: (event: { row: number; token: number; logprob: number }) => void;
}

export interface Generation {
  promptTokens: number;
  /** Generated ids, the ending stop token included. */
  tokens: number[];
  /** Log-prob of each generated token. */
  logprobs: number[];
  /** Decoded generation without the stop token / stop string ('' without a tokenizer). */
  text: string;
  finishReason: 'stop' | 'length';
}

function check(opts: GenerateOptions) {
  const maxNewTokens = opts.maxNewTokens ?? 256;
  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  const topK = opts.topK ?? 0;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) throw new InvalidArgumentError('maxNewTokens', `must be an integer >= 1, got ${maxNewTokens}`);
  if (!(temperature >= 0)) throw new InvalidArgumentError('temperature', `must be >= 0, got ${temperature}`);
  if (!(topP > 0 && topP <= 1)) throw new InvalidArgumentError('topP', `must be in (0, 1], got ${topP}`);
  if (!Number.isInteger(topK) || topK < 0) throw new InvalidArgumentError('topK', `must be an integer >= 0, got ${topK}`);
  return { maxNewTokens, temperature, topP, topK };
}

type StepResult = Awaited<ReturnType<LlamaModel['step']>>;

/** One native step over ids [b, t] (with their padding mask), in turn with concurrent generations. */
function step(model: LlamaModel, cache: KvCache, ids: number[], shape: [number, number], o: { mask?: number[]; adapters?: boolean; sample?: NativeSampleOptions }): Promise<StepResult> {
  return generationSteps.run(() => noGrad(() => tidy(() => model.step(cache, Tensor.ids(ids, shape), {
    attentionMask: o.mask && Tensor.fromData(Uint8Array.from(o.mask), shape, 'bool'), adapters: o.adapters, sample: o.sample,
  }))));
}

/** Generates a continuation of each prompt (token ids). */
export async function generate(
  model: LlamaModel,
  tokenizer: LlamaTokenizer | null,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions = {},
): Promise<Generation[]> {
  const { maxNewTokens, temperature, topP, topK } = check(opts);
  if (prompts.length === 0) return [];
  prompts.forEach((p, i) => { if (p.length === 0) throw new InvalidArgumentError(`prompts[${i}]`, 'is empty'); });
  const stops = opts.stop?.filter((s) => s.length > 0) ?? [];
  if (stops.length && !tokenizer) throw new InvalidArgumentError('stop', 'stop strings need a tokenizer');
  const stopIds = new Set(opts.stopTokenIds ?? tokenizer?.stopIds ?? model.config.eosTokenIds);
  if (opts.seed !== undefined) manualSeed(opts.seed);

  const b = prompts.length;
  const width = Math.max(...prompts.map((p) => p.length));
  const padded = prompts.flatMap((p) => [...Array<number>(width - p.length).fill(0), ...p]);
  const needsMask = prompts.some((p) => p.length < width);
  const rows = prompts.map((p) => ({
    promptTokens: p.length, tokens: [] as number[], logprobs: [] as number[], finishReason: 'length' as Generation['finishReason'], done: false,
    text: stops.length ? new IncrementalDecoder((ids) => tokenizer!.decode(ids)) : undefined,
  }));
  const sample = { temperature, topK, topP };
  const keep = needsMask ? prompts.flatMap((p) => [...Array<number>(width - p.length).fill(0), ...p.map(() => 1)]) : undefined;
  /** Columns [start, start + n) of every row of a [b, width] row-major list. */
  const columns = (values: readonly number[], start: number, n: number) => Array.from({ length: b }, (_, r) => values.slice(r * width + start, r * width + start + n)).flat();
  const cache = model.newCache(b, width + maxNewTokens);
  try {
    let next: StepResult = {};
    for (let start = 0; start < width; start += PREFILL_CHUNK_TOKENS) {
      if (opts.signal?.aborted) throw new CancelledError('generation cancelled');
      const n = Math.min(PREFILL_CHUNK_TOKENS, width - start);
      const last = start + n === width;
      next = await step(model, cache, columns(padded, start, n), [b, n], {
        mask: keep && columns(keep, start, n), adapters: opts.adapters, sample: last ? sample : undefined,
      });
    }
    for (let t = 0; t < maxNewTokens; t++) {
      if (opts.signal?.aborted) throw new CancelledError('generation cancelled');
      const tokens = next.tokens!, logprobs = next.logprobs!;
      for (let r = 0; r < b; r++) {
        const row = rows[r]!;
        if (row.done) continue;
        row.tokens.push(tokens[r]!);
        row.logprobs.push(logprobs[r]!);
        opts.onToken?.({ row: r, token: tokens[r]!, logprob: logprobs[r]! });
        if (stopIds.has(tokens[r]!)) {
          row.done = true;
          row.finishReason = 'stop';
        } else if (row.text) {
          const text = row.text.push(tokens[r]!);
          if (stops.some((s) => text.includes(s))) {
            row.done = true;
            row.finishReason = 'stop';
          }
        }
      }
      if (t === maxNewTokens - 1 || rows.every((r) => r.done)) break;
      next = await step(model, cache, Array.from(tokens), [b, 1], { adapters: opts.adapters, sample });
    }
  } finally {
    cache.dispose();
  }
  return rows.map(({ promptTokens, tokens, logprobs, finishReason }) => {
    let text = '';
    if (tokenizer) {
      const body = finishReason === 'stop' && stopIds.has(tokens.at(-1)!) ? tokens.slice(0, -1) : tokens;
      text = tokenizer.decode(body);
      const cut = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
      if (Number.isFinite(cut)) text = text.slice(0, cut);
    }
    return { promptTokens, tokens, logprobs, text, finishReason };
  });
}
