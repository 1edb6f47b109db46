/**
 * Llama-3.x architecture config: the Hugging Face `config.json` of a `LlamaForCausalLM` checkpoint,
 * validated once (zod), and the presets `spark model init` writes. Only what the decoder implements is
 * accepted: SiLU MLP without biases, RoPE plain or with `rope_scaling.rope_type = "llama3"`; anything
 * else fails naming the field, rather than loading into a silently different model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, NotFoundError, formatPath } from '../../common/errors.js';
import type { NativeLlamaConfig } from '../native/index.js';

const positiveInt = z.number().int().positive();

const ropeScalingSchema = z
  .object({
    rope_type: z.string().optional(),
    type: z.string().optional(),
    factor: z.number().positive(),
    low_freq_factor: z.number().positive().default(1),
    high_freq_factor: z.number().positive().default(4),
    original_max_position_embeddings: positiveInt.default(8192),
  })
  .passthrough()
  .superRefine((r, ctx) => {
    const kind = r.rope_type ?? r.type ?? 'llama3';
    if (kind !== 'llama3' && kind !== 'default') {
      ctx.addIssue({ code: 'custom', path: ['rope_type'], message: `unsupported rope_type "${kind}" (allowed: llama3, default)` });
    }
  });

/** The HF config.json fields the decoder reads (other keys are kept and ignored). */
export const hfLlamaConfigSchema = z
  .object({
    model_type: z.string().default('llama'),
    hidden_size: positiveInt,
    intermediate_size: positiveInt,
    num_hidden_layers: positiveInt,
    num_attention_heads: positiveInt,
    num_key_value_heads: positiveInt.optional(),
    head_dim: positiveInt.optional(),
    vocab_size: positiveInt,
    max_position_embeddings: positiveInt.default(131_072),
    rms_norm_eps: z.number().positive().default(1e-5),
    rope_theta: z.number().positive().default(500_000),
    rope_scaling: ropeScalingSchema.nullable().optional(),
    tie_word_embeddings: z.boolean().default(false),
    hidden_act: z.string().default('silu'),
    attention_bias: z.boolean().default(false),
    mlp_bias: z.boolean().default(false),
    bos_token_id: z.number().int().optional(),
    eos_token_id: z.union([z.number().int(), z.array(z.number().int())]).optional(),
    torch_dtype: z.string().optional(),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    const fail = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (c.model_type !== 'llama') fail('model_type', `unsupported model_type "${c.model_type}" (allowed: llama)`);
    if (c.hidden_act !== 'silu') fail('hidden_act', `unsupported activation "${c.hidden_act}" (allowed: silu)`);
    if (c.attention_bias) fail('attention_bias', 'attention biases are not supported (allowed: false)');
    if (c.mlp_bias) fail('mlp_bias', 'MLP biases are not supported (allowed: false)');
    const kv = c.num_key_value_heads ?? c.num_attention_heads;
    if (c.num_attention_heads % kv !== 0) {
      fail('num_key_value_heads', `num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${kv})`);
    }
    const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
    if (!Number.isInteger(headDim) || headDim % 2 !== 0) fail('head_dim', `head dimension ${headDim} must be an even integer`);
  });

export type HfLlamaConfig = z.infer<typeof hfLlamaConfigSchema>;

/** The decoder's shape, with derived fields filled in. */
export interface LlamaConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };
  tieWordEmbeddings: boolean;
  bosTokenId?: number;
  eosTokenIds: number[];
}

/** Validates a parsed config.json; `source` names it in errors. */
export function parseLlamaConfig(json: unknown, source = 'config.json'): LlamaConfig {
  const r = hfLlamaConfigSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InvalidArgumentError(`${source}: ${formatPath(issue.path) || '(root)'}`, issue.message);
  }
  const c = r.data;
  const rs = c.rope_scaling && (c.rope_scaling.rope_type ?? c.rope_scaling.type ?? 'llama3') === 'llama3' ? c.rope_scaling : undefined;
  return {
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads: c.num_attention_heads,
    numKvHeads: c.num_key_value_heads ?? c.num_attention_heads,
    headDim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    vocabSize: c.vocab_size,
    maxPositionEmbeddings: c.max_position_embeddings,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    ropeScaling: rs && {
      factor: rs.factor,
      lowFreqFactor: rs.low_freq_factor,
      highFreqFactor: rs.high_freq_factor,
      originalMaxPositionEmbeddings: rs.original_max_position_embeddings,
    },
    tieWordEmbeddings: c.tie_word_embeddings,
    bosTokenId: c.bos_token_id,
    eosTokenIds: c.eos_token_id === undefined ? [] : Array.isArray(c.eos_token_id) ? c.eos_token_id : [c.eos_token_id],
  };
}

/** Reads and validates `<dir>/config.json`. */
export function readLlamaConfig(dir: string): LlamaConfig {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NotFoundError('model config', path, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(path, `not valid JSON (${(err as Error).message})`, undefined, { cause: err });
  }
  return parseLlamaConfig(json, path);
}

export function toNativeConfig(c: LlamaConfig): NativeLlamaConfig {
  return {
    hiddenSize: c.hiddenSize, numLayers: c.numLayers, numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim,
    intermediateSize: c.intermediateSize, vocabSize: c.vocabSize, rmsNormEps: c.rmsNormEps, ropeTheta: c.ropeTheta,
    tieWordEmbeddings: c.tieWordEmbeddings, ropeScaling: c.ropeScaling,
  };
}

/** Parameter count of the decoder (embeddings counted once when tied). */
export function parameterCount(c: LlamaConfig): number {
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  const perLayer = c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize + 2 * c.hiddenSize;
  return c.numLayers * perLayer + c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2) + c.hiddenSize;
}

/** Llama-3 tokenizer ids (the special tokens are the same in every Llama-3.x release). */
export const LLAMA3_VOCAB_SIZE = 128_256;
export const LLAMA3_BOS_ID = 128_000;
/** <|end_of_text|>, <|eom_id|>, <|eot_id|>: generation stops at any of them (Llama-3.1 generation_config.json). */
export const LLAMA31_EOS_IDS = [128_001, 128_008, 128_009];

const LLAMA31_ROPE_SCALING = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, rope_type: 'llama3' };

/**
 * `spark model init` presets, as config.json contents. All use the real Llama-3 vocabulary so the real
 * tokenizer drives them. `tiny`: tests (≈ 8.3 M parameters, almost all embedding). `small`: ≈ 90 M, a
 * CPU-trainable policy. `8b-shape`: Llama-3.1-8B's exact shape (8.0 B parameters, 16 GB in bf16).
 */
export const MODEL_PRESETS = {
  tiny: { hidden_size: 64, intermediate_size: 192, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, tie_word_embeddings: true, max_position_embeddings: 4096 },
  small: { hidden_size: 512, intermediate_size: 1408, num_hidden_layers: 8, num_attention_heads: 8, num_key_value_heads: 4, tie_word_embeddings: true, max_position_embeddings: 8192 },
  '8b-shape': { hidden_size: 4096, intermediate_size: 14_336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, tie_word_embeddings: false, max_position_embeddings: 131_072 },
} as const;

export type ModelPreset = keyof typeof MODEL_PRESETS;
export const MODEL_PRESET_NAMES = Object.keys(MODEL_PRESETS) as ModelPreset[];

/** A full HF config.json for a preset (Llama-3.1 conventions: rope_theta 500k, llama3 rope scaling). */
export function presetConfigJson(preset: ModelPreset, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const shape = MODEL_PRESETS[preset];
  if (!shape) throw new InvalidArgumentError('preset', `unknown preset ${JSON.stringify(preset)}`, MODEL_PRESET_NAMES.join(', '));
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    hidden_act: 'silu',
    initializer_range: 0.02,
    rms_norm_eps: 1e-5,
    rope_theta: 500_000,
    rope_scaling: LLAMA31_ROPE_SCALING,
    vocab_size: LLAMA3_VOCAB_SIZE,
    bos_token_id: LLAMA3_BOS_ID,
    eos_token_id: LLAMA31_EOS_IDS,
    use_cache: true,
    torch_dtype: 'bfloat16',
    ...shape,
    ...overrides,
  };
}
