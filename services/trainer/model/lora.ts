/**
 * LoRA adapters (Hu et al. 2021, arXiv 2106.09685) on a `LlamaModel`: Δ = (dropout(x) Aᵀ) · (alpha / r) · Bᵀ
 * on any of q, k, v, o, gate, up, down, initialised as PEFT does (A Kaiming-uniform with a = √5, B = 0,
 * so training starts from the base model). Saved and loaded in PEFT's format — `adapter_config.json` +
 * `adapter_model.safetensors` with keys like `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`
 * — so HF PEFT and vLLM load them.
 *
 * `modulesToSave` (PEFT's `modules_to_save`) also trains base matrices in full: `embed_tokens` (on a
 * tied model that is the output head too) and `lm_head` (untied models). The adapter owns a private
 * copy, put into the model in place of the base matrix; the copy is the trainable parameter, so neither
 * the base file nor another holder of the base weights ever sees the change, and disposing the adapter
 * (which detaches it) or attaching another puts the base matrix back. The copy is in the model's compute dtype (float32 on
 * the CPU; bfloat16 on CUDA trains it in bfloat16). Forwards with `adapters: false` still read the copy:
 * only LoRA's low-rank updates switch off, which is why PPO (its reference pass) does not support it.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, NotFoundError, formatPath } from '../../common/errors.js';
import { Tensor, keep, noGrad, tidy } from '../native/tensor.js';
import type { LlamaModel } from './llama.js';
import {
  MODULES_TO_SAVE, SAVED_MODULE_WEIGHT, buildAdapterConfig, checkTiedModulesToSave, loraKey, parseLoraKey, readAdapterConfig, savedModuleKey, writeAdapterConfig,
  type AdapterConfig, type ModuleToSave,
} from '../peft.js';
import { readSafetensors, tensorSource, writeSafetensors } from './safetensors.js';

export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export const loraConfigSchema = z
  .object({
    rank: z.number().int().positive().default(16).describe('LoRA rank r'),
    alpha: z.number().positive().default(32).describe('LoRA alpha; the update is scaled by alpha / r'),
    dropout: z.number().min(0).lt(1).default(0.05).describe('dropout on the adapter input while training'),
    targets: z.array(z.enum(LORA_TARGETS)).min(1).default([...LORA_TARGETS]).describe('projections that get adapters'),
    modulesToSave: z
      .array(z.enum(MODULES_TO_SAVE))
      .default([])
      .refine((ms) => new Set(ms).size === ms.length, 'must not repeat a module')
      // One order everywhere (createLora, loadLora, the file), so optimiser state lines up.
      .transform((ms) => MODULES_TO_SAVE.filter((m) => ms.includes(m)))
      .describe('base modules trained in full and saved whole (PEFT modules_to_save)'),
  })
  .strict();

export type LoraConfig = z.infer<typeof loraConfigSchema>;

/** Validates LoRA settings; `field` prefixes the names in errors. */
export function parseLoraConfig(input: unknown, field = 'lora'): LoraConfig {
  const r = loraConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const allowed = issue.path[0] === 'targets' ? LORA_TARGETS.join(', ') : issue.path[0] === 'modulesToSave' ? MODULES_TO_SAVE.join(', ') : undefined;
    throw new InvalidArgumentError(`${field}.${formatPath(issue.path)}`, issue.message, allowed);
  }
  return r.data;
}

/** The PEFT key of one adapter matrix. */
export function peftKey(layer: number, target: LoraTarget, which: 'A' | 'B'): string {
  return loraKey(layer, target, which);
}

/** The native model's name for the global weight a saved module replaces. */
const NATIVE_GLOBAL: Readonly<Record<ModuleToSave, 'embed' | 'lm_head'>> = { embed_tokens: 'embed', lm_head: 'lm_head' };

/** Per model: the base matrices the attached adapter's saved modules replaced. */
const swaps = new WeakMap<LlamaModel, Map<ModuleToSave, Tensor>>();
/** Per model: the adapter attached to it. */
const attached = new WeakMap<LlamaModel, LoraAdapter>();

/** Puts the model's own base matrices back where saved modules replaced them (no-op otherwise). */
function restoreBase(model: LlamaModel): void {
  const swap = swaps.get(model);
  if (!swap) return;
  for (const [module, base] of swap) {
    model.native.setGlobal(NATIVE_GLOBAL[module], base.native);
    base.dispose();
  }
  swaps.delete(model);
}

/**
 * Puts a private copy of `values` (in the model's dtype and device) into the model in place of the base
 * matrix and returns the model's own handle of it, made trainable: the forward reads that tensor, so its
 * gradient lands there and the optimiser's in-place update is what the next forward sees.
 */
function installSaved(model: LlamaModel, module: ModuleToSave, values: Tensor): Tensor {
  const name = SAVED_MODULE_WEIGHT[module];
  const swap = swaps.get(model) ?? new Map<ModuleToSave, Tensor>();
  swaps.set(model, swap);
  if (!swap.has(module)) swap.set(module, keep(model.weight(name)));
  noGrad(() => tidy(() => {
    const copy = values.detach().to(model.dtype, model.device).contiguous().clone();
    model.native.setGlobal(NATIVE_GLOBAL[module], copy.native);
  }));
  return keep(model.weight(name)).setRequiresGrad(true);
}


/** The adapter tensors attached to a model, by PEFT key. */
export class LoraAdapter {
  constructor(
    readonly config: LoraConfig,
    /**
     * PEFT key → trainable tensor: the fp32 LoRA matrices in layer/target/A-B order, then the saved
     * modules (the model's own copy, in its dtype).
     */
    readonly tensors: Map<string, Tensor>,
    /** The base ties lm_head to embed_tokens (a saved embed_tokens is the head too). */
    readonly tiedEmbeddings = false,
    private readonly model?: LlamaModel,
  ) {}

  /** The trainable tensors, in a stable order (for the optimiser and its saved state). */
  parameters(): Tensor[] {
    return [...this.tensors.values()];
  }

  get parameterCount(): number {
    return this.parameters().reduce((a, t) => a + t.numel, 0);
  }

  /** Detaches from the model (which is the base again) and frees the tensors; dispose it before its model. */
  dispose(): void {
    if (this.model && attached.get(this.model) === this) {
      this.model.native.clearLora();
      restoreBase(this.model);
      attached.delete(this.model);
    }
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

/**
 * Attaches LoRA `tensors` and installs the saved modules' values (`saved`, by module) on `model`,
 * replacing whatever adapter it had.
 */
function attach(model: LlamaModel, config: LoraConfig, tensors: Map<string, Tensor>, saved: ReadonlyMap<ModuleToSave, Tensor>): LoraAdapter {
  model.native.clearLora();
  restoreBase(model);
  for (let layer = 0; layer < model.config.numLayers; layer++) {
    for (const target of config.targets) {
      const a = tensors.get(peftKey(layer, target, 'A'));
      const b = tensors.get(peftKey(layer, target, 'B'));
      if (!a || !b) throw new NotFoundError('LoRA tensor', peftKey(layer, target, a ? 'B' : 'A'));
      model.native.setLora(layer, target, a.native, b.native);
    }
  }
  model.native.setLoraOptions(config.alpha / config.rank, config.dropout);
  const all = new Map(tensors);
  for (const module of config.modulesToSave) all.set(savedModuleKey(module), installSaved(model, module, saved.get(module)!));
  const adapter = new LoraAdapter(config, all, model.config.tieWordEmbeddings, model);
  attached.set(model, adapter);
  return adapter;
}

/** New adapters on `model` (fp32, on the model's device), initialised as PEFT does; saved modules start as the base. */
export function createLora(model: LlamaModel, input: Partial<z.input<typeof loraConfigSchema>> = {}): LoraAdapter {
  const config = parseLoraConfig(input);
  checkTiedModulesToSave(config.modulesToSave, model.config.tieWordEmbeddings, 'lora.modulesToSave');
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
  const base = new Map(config.modulesToSave.map((m) => [m, model.weight(SAVED_MODULE_WEIGHT[m])] as const));
  try {
    return attach(model, config, tensors, base);
  } finally {
    for (const t of base.values()) t.dispose();
  }
}

/** The adapter_config.json of an adapter (PEFT's LoraConfig). */
export function adapterConfigOf(adapter: LoraAdapter, baseModel = ''): AdapterConfig {
  return buildAdapterConfig({
    r: adapter.config.rank, loraAlpha: adapter.config.alpha, loraDropout: adapter.config.dropout,
    targetModules: adapter.config.targets, baseModelNameOrPath: baseModel,
    modulesToSave: adapter.config.modulesToSave, tiedEmbeddings: adapter.tiedEmbeddings,
  });
}

/** Writes `adapter_config.json` + `adapter_model.safetensors` (atomically) into `dir`. */
export async function saveLora(dir: string, adapter: LoraAdapter, baseModel = ''): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const sources = [...adapter.tensors].map(([name, t]) => tensorSource(name, t));
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), sources, { format: 'pt' });
  writeAdapterConfig(dir, adapterConfigOf(adapter, baseModel));
}

/**
 * Checks an adapter's saved modules against its base (config.json of `base`): lm_head only when untied,
 * and on a tied base a saved embed_tokens must say `ensure_weight_tying` — without it PEFT trained the
 * input embedding alone and kept the old head, which one tied matrix cannot hold.
 */
export function checkSavedModules(config: Pick<AdapterConfig, 'modules_to_save' | 'ensure_weight_tying'>, tiedEmbeddings: boolean, cfgPath: string): void {
  const modules = config.modules_to_save ?? [];
  if (!tiedEmbeddings) return;
  checkTiedModulesToSave(modules, true, `${cfgPath}: modules_to_save`, 'the base model');
  if (modules.includes('embed_tokens') && config.ensure_weight_tying !== true) {
    throw new InvalidArgumentError(`${cfgPath}: ensure_weight_tying`, 'must be true when a tied model saves embed_tokens (else PEFT trained the input embedding apart from the head)', 'true');
  }
}

/** Reads a PEFT LoRA adapter folder and attaches it to `model` (trainable again). */
export async function loadLora(dir: string, model: LlamaModel): Promise<LoraAdapter> {
  const cfgPath = join(dir, 'adapter_config.json');
  const raw = readAdapterConfig(dir); // validates peft_type, target modules, no DoRA
  if (raw.use_rslora) throw new InvalidArgumentError(`${cfgPath}: use_rslora`, 'not supported', 'false');
  checkSavedModules(raw, model.config.tieWordEmbeddings, cfgPath);
  const targets = raw.target_modules;
  const config = parseLoraConfig(
    { rank: raw.r, alpha: raw.lora_alpha, dropout: raw.lora_dropout ?? 0, targets: Array.isArray(targets) ? targets : [], modulesToSave: raw.modules_to_save ?? [] },
    cfgPath,
  );
  const { vocabSize, hiddenSize } = model.config;
  const loaded = await readSafetensors(join(dir, 'adapter_model.safetensors'), 'cpu');
  const tensors = new Map<string, Tensor>();
  const saved = new Map<ModuleToSave, Tensor>();
  try {
    tidy(() => {
      for (const [name, t] of loaded) {
        let parts: ReturnType<typeof parseLoraKey>;
        try {
          parts = parseLoraKey(name);
        } catch (err) {
          throw new InvalidArgumentError(`${dir}: ${name}`, 'not a LoRA key of a Llama layer nor a saved module', (err as InvalidArgumentError).allowed, { cause: err });
        }
        if (parts.kind === 'saved') {
          if (!config.modulesToSave.includes(parts.module)) {
            throw new InvalidArgumentError(`${dir}: ${name}`, `saves ${parts.module}, which modules_to_save in adapter_config.json does not list`);
          }
          if (t.shape.length !== 2 || t.shape[0] !== vocabSize || t.shape[1] !== hiddenSize) {
            throw new InvalidArgumentError(`${dir}: ${name}`, `has shape [${t.shape.join(', ')}], the model needs [${vocabSize}, ${hiddenSize}]`);
          }
          saved.set(parts.module, t); // installSaved copies it; the file's tensors are freed below
          continue;
        }
        const p = noGrad(() => t.to('float32', model.device).contiguous().clone()).setRequiresGrad(true);
        tensors.set(name, keep(p));
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
    for (const module of config.modulesToSave) {
      if (!saved.has(module)) throw new NotFoundError('saved module tensor', `${savedModuleKey(module)} (in ${dir})`);
    }
    return attach(model, config, ordered, saved);
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  } finally {
    for (const t of loaded.values()) t.dispose();
  }
}
