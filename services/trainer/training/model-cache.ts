/**
 * Loaded policies for Generate and ScoreSequences: base model + optional LoRA adapter + tokenizer, kept
 * in a small LRU so repeated calls (the evaluator asks hundreds of times) do not reload weights. LoRA
 * attaches to one model instance, so each (base, adapter) pair is its own entry: an adapter that also
 * carries whole matrices (PEFT modules_to_save, e.g. a trained embed_tokens) puts them into its own
 * model only, and the bare base or another adapter never sees them. An entry evicted while
 * a call still uses it is freed when that call releases it; concurrent first calls share one load.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../../common/errors.js';
import { LlamaModel, type Quantization } from '../model/llama.js';
import { loadLora, type LoraAdapter } from '../model/lora.js';
import { LlamaTokenizer } from '../model/tokenizer.js';

export interface LoadedPolicy {
  model: LlamaModel;
  tokenizer: LlamaTokenizer;
  adapter?: LoraAdapter;
}

export interface PolicyKey {
  /** Absolute base model folder. */
  baseModelPath: string;
  /** Absolute adapter folder, or undefined for the base alone. */
  adapterPath?: string;
}

interface Entry {
  loading: Promise<LoadedPolicy>;
  users: number;
  evicted: boolean;
}

export class PolicyCache {
  private readonly entries = new Map<string, Entry>();
  /** Models loaded since start (a cache hit loads nothing). */
  loads = 0;

  constructor(
    private readonly capacity: number,
    private readonly options: { device: string; quantization?: Quantization; onLoad?: (key: PolicyKey) => void },
  ) {}

  /** The policy for `key`, loaded on first use; call `release` when done with it. */
  async acquire(key: PolicyKey): Promise<{ policy: LoadedPolicy; release: () => void }> {
    const id = `${key.baseModelPath}\u0000${key.adapterPath ?? ''}`;
    let entry = this.entries.get(id);
    if (entry) {
      this.entries.delete(id); // re-insert: Map order is the LRU order
    } else {
      entry = { loading: this.load(key), users: 0, evicted: false };
    }
    this.entries.set(id, entry);
    entry.users += 1;
    this.evict();
    const e = entry;
    let policy: LoadedPolicy;
    try {
      policy = await e.loading;
    } catch (err) {
      e.users -= 1;
      if (this.entries.get(id) === e) this.entries.delete(id); // do not cache a failure
      throw err;
    }
    let released = false;
    return {
      policy,
      release: () => {
        if (released) return;
        released = true;
        e.users -= 1;
        if (e.evicted && e.users === 0) free(policy);
      },
    };
  }

  /** Frees every entry nobody uses (shutdown). */
  clear(): void {
    for (const [id, e] of this.entries) {
      e.evicted = true;
      this.entries.delete(id);
      if (e.users === 0) void e.loading.then(free, () => undefined);
    }
  }

  private evict(): void {
    while (this.entries.size > this.capacity) {
      const [id, e] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(id);
      e.evicted = true;
      if (e.users === 0) void e.loading.then(free, () => undefined);
    }
  }

  private async load(key: PolicyKey): Promise<LoadedPolicy> {
    if (!existsSync(join(key.baseModelPath, 'config.json'))) throw new NotFoundError('model (config.json) in', key.baseModelPath);
    this.loads += 1;
    this.options.onLoad?.(key);
    const model = await LlamaModel.load(key.baseModelPath, { device: this.options.device, quantization: this.options.quantization });
    try {
      const tokenizer = LlamaTokenizer.load(key.baseModelPath);
      const adapter = key.adapterPath ? await loadLora(key.adapterPath, model) : undefined;
      return { model, tokenizer, adapter };
    } catch (err) {
      model.dispose();
      throw err;
    }
  }
}

function free(p: LoadedPolicy): void {
  p.adapter?.dispose();
  p.model.dispose();
}
