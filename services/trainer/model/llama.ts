/**
 * `LlamaModel`: a Llama-3.x decoder (HF `LlamaForCausalLM`) loaded from a checkpoint folder —
 * `config.json` + `model.safetensors` (or shards with `model.safetensors.index.json`) — onto the native
 * model of `native/` (its whole forward is one fused C++ call). Base weights are frozen, dense in the
 * compute dtype or NF4-quantised (QLoRA); LoRA adapters (lora.ts) are the only trainable tensors, and
 * every forward can switch them off, which gives the KL reference policy without a second copy. (An
 * adapter with modules_to_save also trains a private copy of the embedding / head, which stays on.)
 */
import { InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import type { DType, NativeKvCache, NativeLlama, NativeSampleOptions } from '../native/index.js';
import { Tensor, native, tidy } from '../native/tensor.js';
import { parameterCount, readLlamaConfig, toNativeConfig, type LlamaConfig } from './config.js';
import { loadTensor, openCheckpoint, type TensorEntry } from './safetensors.js';

export const COMPUTE_DTYPES = ['float32', 'bfloat16', 'float16'] as const;
export type ComputeDtype = (typeof COMPUTE_DTYPES)[number];
export const QUANTIZATIONS = ['none', 'nf4'] as const;
export type Quantization = (typeof QUANTIZATIONS)[number];

export interface LoadOptions {
  /** 'cpu', 'cuda', 'cuda:N'. @default 'cpu' */
  device?: string;
  /** Compute dtype of activations and dense weights. @default float32 on CPU, bfloat16 on CUDA */
  dtype?: ComputeDtype;
  /** Frozen base weights: dense, or NF4 4-bit (QLoRA). @default 'none' */
  quantization?: Quantization;
  /** NF4 block size (elements per absmax). @default 64 (QLoRA) */
  nf4BlockSize?: number;
  /** Quantise the NF4 absmax values too (QLoRA double quantisation). @default false */
  doubleQuant?: boolean;
}

export interface ForwardOptions {
  /** [batch, seq] 1 = token, 0 = padding (left padding for batched prompts). */
  attentionMask?: Tensor;
  /** Apply LoRA adapters (false = the base / reference policy). @default true */
  adapters?: boolean;
  /** Training mode: LoRA dropout on. @default false */
  training?: boolean;
  /**
   * Logits for the last N positions only (HF's `logits_to_keep`): with left-padded rows that end
   * together, the action tokens of a training batch are the last N. @default 0 = every position
   */
  logitsToKeep?: number;
  /** Also return the final hidden states (for a value head). @default false */
  wantHidden?: boolean;
}

/** HF tensor names of layer `i`, in the order the native layer takes them. */
export function layerTensorNames(i: number) {
  const p = `model.layers.${i}.`;
  return {
    inputNorm: `${p}input_layernorm.weight`, postNorm: `${p}post_attention_layernorm.weight`,
    q: `${p}self_attn.q_proj.weight`, k: `${p}self_attn.k_proj.weight`, v: `${p}self_attn.v_proj.weight`,
    o: `${p}self_attn.o_proj.weight`, gate: `${p}mlp.gate_proj.weight`, up: `${p}mlp.up_proj.weight`,
    down: `${p}mlp.down_proj.weight`,
  };
}

/** A KV cache for `LlamaModel.step`: [batch, capacity] tokens, freed by dispose(). */
export class KvCache {
  constructor(readonly native: NativeKvCache, readonly batch: number) {}
  get length(): number { return this.native.length; }
  get capacity(): number { return this.native.capacity; }
  get nbytes(): number { return this.native.nbytes; }
  dispose(): void { this.native.dispose(); }
}

export class LlamaModel {
  private constructor(
    readonly config: LlamaConfig,
    readonly native: NativeLlama,
    readonly device: string,
    readonly dtype: ComputeDtype,
    readonly quantization: Quantization,
    readonly dir?: string,
  ) {}

  /** Loads a checkpoint folder (config.json + safetensors). */
  static async load(dir: string, opts: LoadOptions = {}): Promise<LlamaModel> {
    const config = readLlamaConfig(dir);
    const entries = openCheckpoint(dir);
    return LlamaModel.fromTensors(config, (name) => {
      const e = entries.get(name);
      if (!e) throw new NotFoundError('weight', `${name} (in ${dir})`);
      return loadTensor(e, 'cpu');
    }, opts, dir, entries);
  }

  /**
   * Builds a model from tensors by HF name, fetched one layer at a time (so peak memory stays one
   * layer above the model's own).
   */
  static async fromTensors(
    config: LlamaConfig,
    get: (name: string) => Promise<Tensor> | Tensor,
    opts: LoadOptions = {},
    dir?: string,
    available?: Map<string, TensorEntry>,
  ): Promise<LlamaModel> {
    const device = opts.device ?? 'cpu';
    const dtype = opts.dtype ?? (device.startsWith('cuda') ? 'bfloat16' : 'float32');
    if (!(COMPUTE_DTYPES as readonly string[]).includes(dtype)) throw new InvalidArgumentError('dtype', `unsupported ${JSON.stringify(dtype)}`, COMPUTE_DTYPES.join(', '));
    const quantization = opts.quantization ?? 'none';
    if (!(QUANTIZATIONS as readonly string[]).includes(quantization)) {
      throw new InvalidArgumentError('quantization', `unknown ${JSON.stringify(quantization)}`, QUANTIZATIONS.join(', '));
    }
    const handle = new (native().NativeLlama)(toNativeConfig(config), dtype as DType, device);
    const model = new LlamaModel(config, handle, device, dtype, quantization, dir);
    await tidy(async () => {
      handle.setGlobal('embed', (await get('model.embed_tokens.weight')).native);
      handle.setGlobal('norm', (await get('model.norm.weight')).native);
      const headStored = available ? available.has('lm_head.weight') : !config.tieWordEmbeddings;
      if (!config.tieWordEmbeddings) {
        if (!headStored) throw new NotFoundError('weight', `lm_head.weight (config says tie_word_embeddings: false)`);
        handle.setGlobal('lm_head', (await get('lm_head.weight')).native);
      }
    });
    const quant = { nf4: quantization === 'nf4', blockSize: opts.nf4BlockSize ?? 64, doubleQuant: opts.doubleQuant ?? false };
    for (let i = 0; i < config.numLayers; i++) {
      await tidy(async () => {
        const names = layerTensorNames(i);
        const w = {} as Record<keyof typeof names, Tensor>;
        for (const [key, name] of Object.entries(names) as Array<[keyof typeof names, string]>) w[key] = await get(name);
        await handle.setLayer(i, {
          inputNorm: w.inputNorm.native, postNorm: w.postNorm.native, q: w.q.native, k: w.k.native, v: w.v.native,
          o: w.o.native, gate: w.gate.native, up: w.up.native, down: w.down.native,
        }, quant);
      });
    }
    return model;
  }

  /** Logits (fp32) for ids [batch, seq]; runs off the JS thread, recording autograd unless in noGrad. */
  async forward(ids: Tensor, opts: ForwardOptions = {}): Promise<{ logits: Tensor; hidden?: Tensor }> {
    native();  // carries this async context's grad mode to the call
    const r = await this.native.forward(ids.native, {
      attentionMask: opts.attentionMask?.native, adapters: opts.adapters, training: opts.training,
      logitsToKeep: opts.logitsToKeep, wantHidden: opts.wantHidden,
    });
    return { logits: new Tensor(r.logits), hidden: r.hidden && new Tensor(r.hidden) };
  }

  /** An empty KV cache for `batch` rows of up to `capacity` tokens. */
  newCache(batch: number, capacity: number): KvCache {
    return new KvCache(this.native.newCache(batch, capacity), batch);
  }

  /**
   * Appends ids [batch, t] to the cache (no autograd) and returns, from the last position, the sampled
   * next tokens with their log-probs (when `sample` is given) and/or the logits [batch, vocab].
   */
  async step(
    cache: KvCache,
    ids: Tensor,
    opts: { attentionMask?: Tensor; adapters?: boolean; sample?: NativeSampleOptions; wantLogits?: boolean } = {},
  ): Promise<{ tokens?: Int32Array; logprobs?: Float32Array; logits?: Tensor }> {
    native();
    const r = await this.native.step(cache.native, ids.native, {
      attentionMask: opts.attentionMask?.native, adapters: opts.adapters, sample: opts.sample, wantLogits: opts.wantLogits,
    });
    return { tokens: r.tokens, logprobs: r.logprobs, logits: r.logits && new Tensor(r.logits) };
  }

  /**
   * Activation checkpointing: training forwards keep only each decoder block's input and run the block
   * again in the backward pass — one more forward, for one block's activations instead of all of them
   * (an 8B model at 8 × 1024 tokens: tens of GB → a few). Off by default.
   */
  setActivationCheckpointing(on: boolean): void {
    this.native.setCheckpointing(on);
  }

  /** A base weight by HF name, dense (dequantised when NF4). */
  weight(name: string): Tensor {
    native();
    return new Tensor(this.native.weight(name));
  }

  /** Parameters of the base model. */
  get parameterCount(): number {
    return parameterCount(this.config);
  }

  /** Bytes held by the base weights (dense or NF4), LoRA excluded. */
  get nbytes(): number {
    return this.native.nbytes();
  }

  /** Frees the weights now. */
  dispose(): void {
    this.native.dispose();
  }
}
