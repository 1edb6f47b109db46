/**
 * LoRA adapters (Hu et al. 2021, arXiv 2106.09685) on a `LlamaModel`: Δ = (dropout(x) Aᵀ) · (alpha / r) · Bᵀ
 * on any of q, k, v, o, gate, up, down, initialised as PEFT does (A Kaiming-uniform with a = √5, B = 0,
 * so training starts from the base model). Saved and loaded in PEFT's format — `adapter_config.json` +
 * `adapter_model.safetensors` with keys like `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`
 * — so HF PEFT and vLLM load them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, NotFoundError, formatPath } from '../../common/errors.js';
import { Tensor, keep, noGrad, tidy } from '../native/tensor.js';
import type { LlamaModel } from './llama.js';
import { buildAdapterConfig, loraKey, readAdapterConfig, writeAdapterConfig } from '../peft.js';
import { readSafetensors, tensorSource, writeSafetensors } from './safetensors.js';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export const loraConfigSchema = z
  .object({
    rank: z.number().int().positive().default(16).describe('LoRA rank r'),
    alpha: z.number().positive().default(32).describe('LoRA alpha; the update is scaled by alpha / r'),
    dropout: z.number().min(0).lt(1).default(0.05).describe('dropout on the adapter input while training'),
    targets: z.array(z.enum(LORA_TARGETS)).min(1).default([...LORA_TARGETS]).describe('projections that get adapters'),
  })
  .strict();

export type LoraConfig = z.infer<typeof loraConfigSchema>;

/** Validates LoRA settings; `field` prefixes the names in errors. */
export function parseLoraConfig(input: unknown, field = 'lora'): LoraConfig {
  const r = loraConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InvalidArgumentError(`${field}.${formatPath(issue.path)}`, issue.message, issue.path[0] === 'targets' ? LORA_TARGETS.join(', ') : undefined);
  }
  return r.data;
}


/** The PEFT key of one adapter matrix. */
export function peftKey(layer: number, target: LoraTarget, which: 'A' | 'B'): string {
  return loraKey(layer, target, which);
}

const PEFT_KEY = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+_proj)\.lora_([AB])\.weight$/;

/** The adapter tensors attached to a model, by PEFT key. */
export class LoraAdapter {
  constructor(
    readonly config: LoraConfig,
    /** PEFT key → trainable fp32 tensor, in layer/target/A-B order. */
    readonly tensors: Map<string, Tensor>,
  ) {}

  /** The trainable tensors, in a stable order (for the optimiser and its saved state). */
  parameters(): Tensor[] {
    return [...this.tensors.values()];
  }

  get parameterCount(): number {
    return this.parameters().reduce((a, t) => a + t.numel, 0);
  }

  dispose(): void {
    for (const t of this.tensors.values()) t.dispose();
  }
}

function shapeOf(model: LlamaModel, target: LoraTarget): { in: number; out: number } {
  const c = model.config;
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  switch (target) {
    case 'q_proj': return { in: c.hiddenSize, out: q };
    case 'k_proj':
    case 'v_proj': return { in: c.hiddenSize, out: kv };
    case 'o_proj': return { in: q, out: c.hiddenSize };
    case 'gate_proj':
    case 'up_proj': return { in: c.hiddenSize, out: c.intermediateSize };
    case 'down_proj': return { in: c.intermediateSize, out: c.hiddenSize };
  }
}

function attach(model: LlamaModel, config: LoraConfig, tensors: Map<string, Tensor>): LoraAdapter {
  model.native.clearLora();
  for (let layer = 0; layer < model.config.numLayers; layer++) {
    for (const target of config.targets) {
      const a = tensors.get(peftKey(layer, target, 'A'));
      const b = tensors.get(peftKey(layer, target, 'B'));
      if (!a || !b) throw new NotFoundError('LoRA tensor', peftKey(layer, target, a ? 'B' : 'A'));
      model.native.setLora(layer, target, a.native, b.native);
    }
  }
  model.native.setLoraOptions(config.alpha / config.rank, config.dropout);
  return new LoraAdapter(config, tensors);
}

/** New adapters on `model` (fp32, on the model's device), initialised as PEFT does. */
export function createLora(model: LlamaModel, input: Partial<LoraConfig> = {}): LoraAdapter {
  const config = parseLoraConfig(input);
  const tensors = new Map<string, Tensor>();
  noGrad(() => {
    for (let layer = 0; layer < model.config.numLayers; layer++) {
      for (const target of config.targets) {
        const { in: fanIn, out } = shapeOf(model, target);
        // kaiming_uniform_(a=√5) on [r, in]: bound = gain·√(3 / fan_in), gain = √(2 / (1 + 5)) → 1/√fan_in.
        const bound = 1 / Math.sqrt(fanIn);
        const a = Tensor.zeros([config.rank, fanIn], 'float32', model.device).uniform_(-bound, bound).setRequiresGrad(true);
        const b = Tensor.zeros([out, config.rank], 'float32', model.device).setRequiresGrad(true);
        tensors.set(peftKey(layer, target, 'A'), keep(a));
        tensors.set(peftKey(layer, target, 'B'), keep(b));
      }
    }
  });
  return attach(model, config, tensors);
}

/** Writes `adapter_config.json` + `adapter_model.safetensors` (atomically) into `dir`. */
export async function saveLora(dir: string, adapter: LoraAdapter, baseModel = ''): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const sources = [...adapter.tensors].map(([name, t]) => tensorSource(name, t));
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), sources, { format: 'pt' });
  writeAdapterConfig(dir, buildAdapterConfig({
    r: adapter.config.rank, loraAlpha: adapter.config.alpha, loraDropout: adapter.config.dropout,
    targetModules: adapter.config.targets, baseModelNameOrPath: baseModel,
  }));
}

/** Reads a PEFT LoRA adapter folder and attaches it to `model` (trainable again). */
export async function loadLora(dir: string, model: LlamaModel): Promise<LoraAdapter> {
  const cfgPath = join(dir, 'adapter_config.json');
  const raw = readAdapterConfig(dir); // validates peft_type, target modules, no DoRA
  if (raw.use_rslora) throw new InvalidArgumentError(`${cfgPath}: use_rslora`, 'not supported', 'false');
  const targets = raw.target_modules;
  const config = parseLoraConfig(
    { rank: raw.r, alpha: raw.lora_alpha, dropout: raw.lora_dropout ?? 0, targets: Array.isArray(targets) ? targets : [] },
    cfgPath,
  );
  const loaded = await readSafetensors(join(dir, 'adapter_model.safetensors'), 'cpu');
  const tensors = new Map<string, Tensor>();
  tidy(() => {
    for (const [name, t] of loaded) {
      if (!PEFT_KEY.test(name)) throw new InvalidArgumentError(`${dir}: ${name}`, 'not a LoRA key of a Llama layer');
      const p = noGrad(() => t.to('float32', model.device).contiguous().clone()).setRequiresGrad(true);
      tensors.set(name, keep(p));
      t.dispose();
    }
  });
  // Same order as createLora, so optimiser state lines up however the file was ordered.
  const ordered = new Map<string, Tensor>();
  for (let layer = 0; layer < model.config.numLayers; layer++) {
    for (const target of config.targets) {
      for (const which of ['A', 'B'] as const) {
        const key = peftKey(layer, target, which);
        const t = tensors.get(key);
        if (!t) throw new NotFoundError('LoRA tensor', `${key} (in ${dir})`);
        ordered.set(key, t);
      }
    }
  }
  return attach(model, config, ordered);
}
