/**
 * Merges a PEFT LoRA adapter into its base model and writes full weights in the HF layout — config.json,
 * model.safetensors (sharded past 5 GB) and the tokenizer files — so the result loads anywhere a Llama
 * checkpoint does (vLLM without --enable-lora, transformers, `spark model info`). For every adapted
 * projection W' = W + s · B·A with s = α/r (α/√r with rsLoRA), computed in float32 and stored in the
 * base tensor's own dtype; other tensors are copied unchanged. Tensors stream one at a time, so peak
 * memory is one weight matrix, and the folder appears atomically (atomic-dir.ts).
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/files.js';
import { readLlamaConfig } from '../model/config.js';
import { loadTensor, openCheckpoint, readSafetensors, writeCheckpointWeights, type TensorSource } from '../model/safetensors.js';
import { copyTokenizerFiles } from '../model/tokenizer.js';
import { Tensor, noGrad, tidy } from '../native/tensor.js';
import { ADAPTER_WEIGHTS_FILE, loraScaling, parseLoraKey, readAdapterConfig } from '../peft.js';
import { writeDirAtomic } from './atomic-dir.js';

export interface MergeResult {
  outDir: string;
  /** Files written, config.json first. */
  files: string[];
  /** Projections that received an adapter update. */
  mergedTensors: number;
}

/** The base tensor a PEFT key adapts: `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` → `model.layers.0.self_attn.q_proj.weight`. */
function baseNameOf(peftKey: string): string {
  parseLoraKey(peftKey); // throws, naming the key, when it is not a PEFT LoRA key of a Llama projection
  return peftKey.replace(/^base_model\.model\./, '').replace(/\.lora_[AB]\.weight$/, '.weight');
}

/** Writes base + adapter as full weights into `outDir` (replaced atomically if it exists). */
export async function mergeAdapter(baseDir: string, adapterDir: string, outDir: string): Promise<MergeResult> {
  readLlamaConfig(baseDir); // a readable Llama config, or a clear error naming it
  const adapterConfig = readAdapterConfig(adapterDir);
  const scaling = loraScaling(adapterConfig);
  const weightsFile = join(adapterDir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weightsFile)) throw new NotFoundError('adapter weights', weightsFile);
  const entries = openCheckpoint(baseDir);
  const adapter = await readSafetensors(weightsFile);
  try {
    // Pair each adapted projection's A and B.
    const pairs = new Map<string, { a?: Tensor; b?: Tensor }>();
    for (const [key, t] of adapter) {
      const name = baseNameOf(key);
      if (!entries.has(name)) throw new InvalidArgumentError(`${weightsFile}: ${key}`, `adapts ${name}, which ${baseDir} does not have`);
      const pair = pairs.get(name) ?? {};
      if (parseLoraKey(key).matrix === 'A') pair.a = t; else pair.b = t;
      pairs.set(name, pair);
    }
    for (const [name, p] of pairs) if (!p.a || !p.b) throw new NotFoundError('LoRA pair of', `${name} (in ${weightsFile})`);
    const sources: TensorSource[] = [...entries.values()].map((e) => ({
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      bytes: () => noGrad(() => tidy(async () => {
        const w = await loadTensor(e);
        const pair = pairs.get(e.name);
        if (!pair) return w.bytes();
        const delta = pair.b!.to('float32').matmul(pair.a!.to('float32')).mul(scaling);
        return w.to('float32').add(delta).to(e.dtype).contiguous().bytes();
      })),
    }));
    return await writeDirAtomic(outDir, async (tmp) => {
      const weightFiles = await writeCheckpointWeights(tmp, sources);
      copyFileSync(join(baseDir, 'config.json'), join(tmp, 'config.json'));
      copyTokenizerFiles(baseDir, tmp);
      writeFileAtomic(join(tmp, 'spark_merge.json'), `${JSON.stringify({ base_model: baseDir, adapter: adapterDir, scaling, merged_tensors: pairs.size }, null, 2)}\n`);
      return { outDir, files: ['config.json', ...weightFiles], mergedTensors: pairs.size };
    });
  } finally {
    for (const t of adapter.values()) t.dispose();
  }
}
