/**
 * Merges a PEFT LoRA adapter into its base model and writes full weights in the HF layout — config.json,
 * model.safetensors (sharded past 5 GB) and the tokenizer files — so the result loads anywhere a Llama
 * checkpoint does (vLLM without --enable-lora, transformers, `spark model info`). For every adapted
 * projection W' = W + s · B·A with s = α/r (α/√r with rsLoRA), computed in float32 and stored in the
 * base tensor's own dtype; a module the adapter saved whole (PEFT `modules_to_save`: embed_tokens,
 * lm_head) replaces the base tensor, in the base's dtype (a tied model's saved embed_tokens is its head
 * too, as config.json still says); other tensors are copied unchanged. Tensors stream one at a time, so
 * peak memory is one weight matrix, and the folder appears atomically (atomic-dir.ts).
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/files.js';
import { readLlamaConfig } from '../model/config.js';
import { checkSavedModules } from '../model/lora.js';
import { loadTensor, openCheckpoint, readSafetensors, writeCheckpointWeights, type TensorSource } from '../model/safetensors.js';
import { copyTokenizerFiles } from '../model/tokenizer.js';
import { Tensor, noGrad, tidy } from '../native/tensor.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SAVED_MODULE_WEIGHT, loraScaling, parseLoraKey, readAdapterConfig, savedModuleKey } from '../peft.js';
import { writeDirAtomic } from './atomic-dir.js';

export interface MergeResult {
  outDir: string;
  /** Files written, config.json first. */
  files: string[];
  /** Projections that received an adapter update. */
  mergedTensors: number;
  /** Base tensors replaced by a module the adapter saved whole (e.g. model.embed_tokens.weight). */
  replacedTensors: string[];
}

/** The base tensor a PEFT LoRA key adapts: `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight` → `model.layers.0.self_attn.q_proj.weight`. */
function baseNameOf(peftKey: string): string {
  return peftKey.replace(/^base_model\.model\./, '').replace(/\.lora_[AB]\.weight$/, '.weight');
}

/** Writes base + adapter as full weights into `outDir` (replaced atomically if it exists). */
export async function mergeAdapter(baseDir: string, adapterDir: string, outDir: string): Promise<MergeResult> {
  const baseConfig = readLlamaConfig(baseDir); // a readable Llama config, or a clear error naming it
  const adapterConfig = readAdapterConfig(adapterDir);
  checkSavedModules(adapterConfig, baseConfig.tieWordEmbeddings, join(adapterDir, ADAPTER_CONFIG_FILE));
  const modulesToSave = adapterConfig.modules_to_save ?? [];
  const scaling = loraScaling(adapterConfig);
  const weightsFile = join(adapterDir, ADAPTER_WEIGHTS_FILE);
  if (!existsSync(weightsFile)) throw new NotFoundError('adapter weights', weightsFile);
  const entries = openCheckpoint(baseDir);
  const adapter = await readSafetensors(weightsFile);
  try {
    // Pair each adapted projection's A and B; take saved modules as they are.
    const pairs = new Map<string, { a?: Tensor; b?: Tensor }>();
    const replaced = new Map<string, Tensor>();
    for (const [key, t] of adapter) {
      const parts = parseLoraKey(key); // throws, naming the key, when it is neither a LoRA key nor a saved module
      const name = parts.kind === 'saved' ? SAVED_MODULE_WEIGHT[parts.module] : baseNameOf(key);
      const entry = entries.get(name);
      if (!entry) throw new InvalidArgumentError(`${weightsFile}: ${key}`, `adapts ${name}, which ${baseDir} does not have`);
      if (parts.kind === 'saved') {
        if (!modulesToSave.includes(parts.module)) throw new InvalidArgumentError(`${weightsFile}: ${key}`, `saves ${parts.module}, which modules_to_save in ${ADAPTER_CONFIG_FILE} does not list`);
        if (t.shape.join() !== entry.shape.join()) throw new InvalidArgumentError(`${weightsFile}: ${key}`, `has shape [${t.shape.join(', ')}], ${name} has [${entry.shape.join(', ')}]`);
        replaced.set(name, t);
        continue;
      }
      const pair = pairs.get(name) ?? {};
      if (parts.matrix === 'A') pair.a = t; else pair.b = t;
      pairs.set(name, pair);
    }
    for (const [name, p] of pairs) if (!p.a || !p.b) throw new NotFoundError('LoRA pair of', `${name} (in ${weightsFile})`);
    for (const module of modulesToSave) {
      if (!replaced.has(SAVED_MODULE_WEIGHT[module])) throw new NotFoundError('saved module tensor', `${savedModuleKey(module)} (in ${weightsFile})`);
    }
    const sources: TensorSource[] = [...entries.values()].map((e) => ({
      name: e.name,
      dtype: e.dtype,
      shape: e.shape,
      bytes: () => noGrad(() => tidy(async () => {
        const saved = replaced.get(e.name);
        if (saved) return saved.to(e.dtype).contiguous().bytes();
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
      const replacedTensors = [...replaced.keys()];
      writeFileAtomic(join(tmp, 'spark_merge.json'), `${JSON.stringify({ base_model: baseDir, adapter: adapterDir, scaling, merged_tensors: pairs.size, replaced_tensors: replacedTensors }, null, 2)}\n`);
      return { outDir, files: ['config.json', ...weightFiles], mergedTensors: pairs.size, replacedTensors };
    });
  } finally {
    for (const t of adapter.values()) t.dispose();
  }
}
