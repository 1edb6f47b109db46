/**
 * The Hugging Face PEFT adapter format, so that checkpoints load in HF PEFT (`PeftModel.from_pretrained`)
 * and vLLM (`--enable-lora`) as they are: `adapter_config.json` (a serialised `peft.LoraConfig`, keys
 * sorted as PEFT's `save_pretrained` writes them) beside `adapter_model.safetensors` with PEFT's tensor
 * names. Reference: huggingface/peft `src/peft/config.py` and `src/peft/tuners/lora/config.py`; names
 * as `get_peft_model_state_dict` saves them (the adapter name "default" is dropped).
 *
 * For a Llama decoder: `base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight`
 * and `base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight`, with
 * lora_A `[r, in_features]` and lora_B `[out_features, r]`; the update is (α/r) · B·A (α/√r with rsLoRA).
 * Modules trained in full (`modules_to_save`) are saved whole: `base_model.model.model.embed_tokens.weight`
 * and `base_model.model.lm_head.weight`, `[vocab_size, hidden_size]` (see `savedModuleKey`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidArgumentError, NotFoundError, describeZodError } from '../common/errors.js';
import { writeFileAtomic } from '../common/files.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** Llama's linear layers LoRA can adapt, by the names PEFT's `target_modules` uses. */
export const LORA_TARGET_MODULES = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTargetModule = (typeof LORA_TARGET_MODULES)[number];

const ATTENTION_MODULES: ReadonlySet<string> = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj']);

/** The submodule holding a projection: attention projections sit in `self_attn`, the SwiGLU ones in `mlp`. */
function parentOf(module: LoraTargetModule): 'self_attn' | 'mlp' {
  return ATTENTION_MODULES.has(module) ? 'self_attn' : 'mlp';
}

/**
 * Base modules a LoRA adapter may also train in full and carry whole (PEFT's `modules_to_save`, by the
 * module names PEFT matches): the input embedding and the output head of `LlamaForCausalLM`. With tied
 * word embeddings they are one matrix, saved once as `embed_tokens`.
 */
export const MODULES_TO_SAVE = ['embed_tokens', 'lm_head'] as const;
export type ModuleToSave = (typeof MODULES_TO_SAVE)[number];

/** The HF name of the base weight a saved module replaces. */
export const SAVED_MODULE_WEIGHT: Readonly<Record<ModuleToSave, string>> = {
  embed_tokens: 'model.embed_tokens.weight',
  lm_head: 'lm_head.weight',
};

/**
 * PEFT's tensor name for a module trained in full: `base_model.model.model.embed_tokens.weight`,
 * `base_model.model.lm_head.weight`. huggingface/peft `src/peft/utils/other.py`: `ModulesToSaveWrapper`
 * keeps the trained copy as `<module>.modules_to_save.<adapter>.weight`, and its `adapter_state_dict`
 * hands back the copy's own keys (`weight`); `src/peft/utils/save_and_load.py`
 * `get_peft_model_state_dict` ("ADDITIONAL TRAINING MODULES / MODULES_TO_SAVE") prefixes them with the
 * wrapper's module name — the PeftModel path `base_model.model.` + the HF name — so neither
 * `modules_to_save` nor the adapter name is left in the saved key (older PEFT reached the same key by
 * deleting `modules_to_save.` and `.default`).
 */
export function savedModuleKey(module: ModuleToSave): string {
  if (!(MODULES_TO_SAVE as readonly string[]).includes(module)) throw new RangeError(`module must be one of ${MODULES_TO_SAVE.join(', ')} (got ${module})`);
  return `base_model.model.${SAVED_MODULE_WEIGHT[module]}`;
}

/** PEFT's tensor name for one LoRA matrix, e.g. `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
export function loraKey(layer: number, module: LoraTargetModule, matrix: 'A' | 'B'): string {
  if (!Number.isInteger(layer) || layer < 0) throw new RangeError(`layer must be an integer >= 0 (got ${layer})`);
  if (!(LORA_TARGET_MODULES as readonly string[]).includes(module)) throw new RangeError(`module must be one of ${LORA_TARGET_MODULES.join(', ')} (got ${module})`);
  return `base_model.model.model.layers.${layer}.${parentOf(module)}.${module}.lora_${matrix}.weight`;
}

const KEY_PATTERN = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.lora_([AB])\.weight$/;

/** What one tensor of an adapter file is: a LoRA matrix of a projection, or a module saved whole. */
export type AdapterKeyParts =
  | { kind: 'lora'; layer: number; module: LoraTargetModule; matrix: 'A' | 'B' }
  | { kind: 'saved'; module: ModuleToSave };

const SAVED_BY_KEY: ReadonlyMap<string, ModuleToSave> = new Map(MODULES_TO_SAVE.map((m) => [savedModuleKey(m), m]));

/** The parts of a PEFT adapter tensor name; throws on a name that is not one (naming it). */
export function parseLoraKey(key: string): AdapterKeyParts {
  const saved = SAVED_BY_KEY.get(key);
  if (saved) return { kind: 'saved', module: saved };
  const m = KEY_PATTERN.exec(key);
  const module = m?.[3] as LoraTargetModule | undefined;
  if (!m || !module || !(LORA_TARGET_MODULES as readonly string[]).includes(module) || parentOf(module) !== m[2]) {
    throw new InvalidArgumentError(
      'adapter tensor',
      `${JSON.stringify(key)} is not a PEFT LoRA key of a Llama projection nor a saved module`,
      `base_model.model.model.layers.{i}.(self_attn.{q,k,v,o}_proj|mlp.{gate,up,down}_proj).lora_{A,B}.weight, ${[...SAVED_BY_KEY.keys()].join(', ')}`,
    );
  }
  return { kind: 'lora', layer: Number(m[1]), module, matrix: m[4] as 'A' | 'B' };
}

/** The fields of a Llama `config.json` that fix the projection shapes. */
export interface LlamaShape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads?: number;
  head_dim?: number;
  /** Needed only for the shapes of saved modules. */
  vocab_size?: number;
}

/** [in_features, out_features] of a projection (GQA: k and v project to num_key_value_heads · head_dim). */
export function projectionShape(config: LlamaShape, module: LoraTargetModule): [number, number] {
  const headDim = config.head_dim ?? config.hidden_size / config.num_attention_heads;
  const kvHeads = config.num_key_value_heads ?? config.num_attention_heads;
  switch (module) {
    case 'q_proj': return [config.hidden_size, config.num_attention_heads * headDim];
    case 'k_proj':
    case 'v_proj': return [config.hidden_size, kvHeads * headDim];
    case 'o_proj': return [config.num_attention_heads * headDim, config.hidden_size];
    case 'gate_proj':
    case 'up_proj': return [config.hidden_size, config.intermediate_size];
    case 'down_proj': return [config.intermediate_size, config.hidden_size];
  }
}

/**
 * Every tensor of an adapter with its shape, as they are saved: the LoRA matrices in layer order (A
 * before B), then the modules saved whole (`[vocab_size, hidden_size]`).
 */
export function loraTensorShapes(
  config: LlamaShape,
  r: number,
  targetModules: readonly LoraTargetModule[],
  modulesToSave: readonly ModuleToSave[] = [],
): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    for (const module of LORA_TARGET_MODULES.filter((m) => targetModules.includes(m))) {
      const [inFeatures, outFeatures] = projectionShape(config, module);
      out.set(loraKey(layer, module, 'A'), [r, inFeatures]);
      out.set(loraKey(layer, module, 'B'), [outFeatures, r]);
    }
  }
  for (const module of MODULES_TO_SAVE.filter((m) => modulesToSave.includes(m))) {
    if (!config.vocab_size) throw new RangeError(`vocab_size is needed for the shape of ${module}`);
    out.set(savedModuleKey(module), [config.vocab_size, config.hidden_size]);
  }
  return out;
}

/**
 * `adapter_config.json` as read here: PEFT's LoraConfig fields, of which this trainer supports plain
 * LoRA / rsLoRA on Llama's linear layers. Unknown keys (newer PEFT fields) pass through untouched.
 */
export const adapterConfigSchema = z
  .object({
    peft_type: z.literal('LORA'),
    task_type: z.literal('CAUSAL_LM').nullable().optional(),
    r: z.number().int().positive(),
    lora_alpha: z.number().positive(),
    lora_dropout: z.number().min(0).max(1).default(0),
    target_modules: z.array(z.enum(LORA_TARGET_MODULES)).nonempty(),
    bias: z.literal('none').default('none'),
    fan_in_fan_out: z.literal(false).default(false),
    use_rslora: z.boolean().default(false),
    use_dora: z.literal(false).default(false),
    base_model_name_or_path: z.string().nullable().optional(),
    // PEFT writes null when there are none.
    modules_to_save: z.array(z.enum(MODULES_TO_SAVE)).nullable().optional(),
    // PEFT ≥ 0.18: a saved embed_tokens stays tied to lm_head (see buildAdapterConfig).
    ensure_weight_tying: z.boolean().optional(),
  })
  .loose();

export type AdapterConfig = z.infer<typeof adapterConfigSchema>;

export interface AdapterSettings {
  r: number;
  loraAlpha: number;
  loraDropout: number;
  targetModules: readonly LoraTargetModule[];
  /** Written as `base_model_name_or_path` (a local folder here; PEFT only records it). */
  baseModelNameOrPath: string;
  /** Base modules trained in full and saved whole. @default [] */
  modulesToSave?: readonly ModuleToSave[];
  /** The base model ties lm_head to embed_tokens (config.json `tie_word_embeddings`). @default false */
  tiedEmbeddings?: boolean;
}

/**
 * The tied-model rule of modules_to_save, checked wherever a list of saved modules meets a base (a
 * training spec, an adapter being built, written or read): with tie_word_embeddings lm_head *is*
 * embed_tokens, so only embed_tokens can be saved, and that trains both. Throws INVALID_ARGUMENT on `field`.
 */
export function checkTiedModulesToSave(modules: readonly string[], tiedEmbeddings: boolean, field: string, model = 'this model'): void {
  if (tiedEmbeddings && modules.includes('lm_head')) {
    throw new InvalidArgumentError(field, `lm_head is tied to embed_tokens in ${model} (tie_word_embeddings): save embed_tokens, which trains both`, 'embed_tokens');
  }
}

/**
 * The full LoraConfig PEFT itself would save for these settings. `inference_mode: true` as PEFT writes
 * for a saved adapter; every key PEFT ≥ 0.9 knows, so older loaders never see a surprise — except
 * `ensure_weight_tying: true`, written only when a tied model's embed_tokens is saved: without it PEFT
 * (huggingface/peft `src/peft/tuners/tuners_utils.py`, `ensure_weight_tying`) trains a copy of the input
 * embedding alone and keeps the old output head, while here the one tied matrix is both. PEFT ≥ 0.18
 * honours it; 0.14–0.17 warn and drop it.
 */
export function buildAdapterConfig(settings: AdapterSettings): AdapterConfig {
  if (!(Number.isInteger(settings.r) && settings.r > 0)) throw new InvalidArgumentError('lora.rank', `must be an integer > 0 (got ${settings.r})`);
  const saved = MODULES_TO_SAVE.filter((m) => settings.modulesToSave?.includes(m));
  checkTiedModulesToSave(saved, settings.tiedEmbeddings ?? false, 'lora.modules_to_save');
  const tieSaved = settings.tiedEmbeddings && saved.includes('embed_tokens');
  const config = {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: settings.baseModelNameOrPath,
    bias: 'none' as const,
    fan_in_fan_out: false as const,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: settings.loraAlpha,
    lora_dropout: settings.loraDropout,
    modules_to_save: saved.length > 0 ? saved : null,
    ...(tieSaved ? { ensure_weight_tying: true } : {}),
    peft_type: 'LORA' as const,
    r: settings.r,
    rank_pattern: {},
    revision: null,
    // PEFT matches these by suffix; keep Llama's layer order so files diff cleanly.
    target_modules: LORA_TARGET_MODULES.filter((m) => settings.targetModules.includes(m)) as [LoraTargetModule, ...LoraTargetModule[]],
    task_type: 'CAUSAL_LM' as const,
    use_dora: false as const,
    use_rslora: false,
  };
  return adapterConfigSchema.parse(config);
}

/** JSON with keys sorted, as PEFT's `save_pretrained` (`json.dumps(..., indent=2, sort_keys=True)`). */
function sortedJson(value: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), null, 2);
}

/** Writes `<dir>/adapter_config.json` atomically. */
export function writeAdapterConfig(dir: string, config: AdapterConfig): string {
  const path = join(dir, ADAPTER_CONFIG_FILE);
  writeFileAtomic(path, `${sortedJson(config)}\n`);
  return path;
}

/** Reads and validates `<dir>/adapter_config.json`; errors name the file and field. */
export function readAdapterConfig(dir: string): AdapterConfig {
  const path = join(dir, ADAPTER_CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError('adapter config', path, { cause: err });
    throw new InvalidArgumentError(path, 'is not valid JSON', undefined, { cause: err });
  }
  const parsed = adapterConfigSchema.safeParse(raw);
  if (!parsed.success) throw new InvalidArgumentError(path, describeZodError(parsed.error), undefined, { cause: parsed.error });
  return parsed.data;
}

/** The factor on B·A: α/r, or α/√r with rsLoRA (Kalajdzievski 2023, arXiv 2312.03732). */
export function loraScaling(config: Pick<AdapterConfig, 'r' | 'lora_alpha' | 'use_rslora'>): number {
  return config.use_rslora ? config.lora_alpha / Math.sqrt(config.r) : config.lora_alpha / config.r;
}
