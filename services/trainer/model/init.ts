/**
 * Random Llama-shaped checkpoints in the real file formats — config.json, (sharded) safetensors, the
 * Llama-3.1 tokenizer files — so tests, benchmarks and the laptop pipeline run without downloading
 * weights. Initialisation follows HF `LlamaPreTrainedModel._init_weights`: linear and embedding weights
 * N(0, initializer_range = 0.02), RMSNorm weights 1.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import { Tensor, manualSeed, noGrad, tidy } from '../native/tensor.js';
import { parameterCount, parseLlamaConfig, presetConfigJson, type LlamaConfig, type ModelPreset } from './config.js';
import { layerTensorNames } from './llama.js';
import { writeCheckpointWeights, type TensorSource } from './safetensors.js';
import { writeLlama31TokenizerFiles } from './tokenizer.js';

export const INIT_DTYPES = ['bfloat16', 'float32', 'float16'] as const;
export type InitDtype = (typeof INIT_DTYPES)[number];

export interface InitOptions {
  preset: ModelPreset;
  /** Stored dtype. @default 'bfloat16' (as released Llama checkpoints) */
  dtype?: InitDtype;
  /** @default 0 */
  seed?: number;
  /** config.json fields to change (e.g. num_hidden_layers, vocab_size). */
  overrides?: Record<string, unknown>;
  /** Shard size limit of the safetensors files. @default 5 GB (HF's default) */
  maxShardBytes?: number;
}

/** The HF tensor names and shapes of a config, in checkpoint order. */
export function checkpointTensors(c: LlamaConfig): Array<{ name: string; shape: number[]; norm: boolean }> {
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim, h = c.hiddenSize, i = c.intermediateSize;
  const out = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, h], norm: false }];
  for (let l = 0; l < c.numLayers; l++) {
    const n = layerTensorNames(l);
    out.push(
      { name: n.inputNorm, shape: [h], norm: true },
      { name: n.q, shape: [q, h], norm: false },
      { name: n.k, shape: [kv, h], norm: false },
      { name: n.v, shape: [kv, h], norm: false },
      { name: n.o, shape: [h, q], norm: false },
      { name: n.postNorm, shape: [h], norm: true },
      { name: n.gate, shape: [i, h], norm: false },
      { name: n.up, shape: [i, h], norm: false },
      { name: n.down, shape: [h, i], norm: false },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [h], norm: true });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, h], norm: false });
  return out;
}

/** Writes a random checkpoint folder; returns its config, files and parameter count. */
export async function initCheckpoint(dir: string, opts: InitOptions): Promise<{ config: LlamaConfig; files: string[]; parameters: number }> {
  const dtype = opts.dtype ?? 'bfloat16';
  const json = presetConfigJson(opts.preset, { torch_dtype: dtype, ...opts.overrides });
  const config = parseLlamaConfig(json, 'overrides');
  const std = typeof json.initializer_range === 'number' ? json.initializer_range : 0.02;
  mkdirSync(dir, { recursive: true });
  manualSeed(opts.seed ?? 0);
  const sources: TensorSource[] = checkpointTensors(config).map(({ name, shape, norm }) => ({
    name,
    dtype,
    shape,
    // Generated when the writer reaches it, so only one tensor is in memory at a time.
    bytes: () => noGrad(() => tidy(() => (norm ? Tensor.ones(shape, dtype) : Tensor.randn(shape).mul(std).to(dtype)).bytes())),
  }));
  const files = await writeCheckpointWeights(dir, sources, opts.maxShardBytes);
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(json, null, 2) + '\n');
  writeLlama31TokenizerFiles(dir);
  return { config, files: ['config.json', ...files, 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'], parameters: parameterCount(config) };
}
