/**
 * The training spec: everything one training run needs, validated once with zod before any work
 * (STYLE "Config, validated once"). It comes from a JSON file (`spark train run --spec FILE`, what a
 * Kubernetes Job runs), from CLI flags, or from a StartTrainingRequest (`specFromRequest`, which maps
 * the proto enums and "0 = default" numbers). Field names mirror proto/spark/v1/trainer.proto in
 * camelCase, so an error on `hyper.maxSteps` reads `hyper.max_steps` to a gRPC client.
 *
 * Rejected before any work (InvalidArgumentError naming the field and the allowed values): unknown mode,
 * missing data file, rank ≤ 0, lr ≤ 0, a base model folder without config.json, unknown keys, modules
 * to save with ppo or lm_head on a tied model.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { z, ZodError } from 'zod';
import { resolveInArtifactRoot } from '../common/artifact-path.js';
import { InvalidArgumentError, formatPath } from '../common/errors.js';
import { Executor, KlEstimator, Quantization, TrainingMode, type StartTrainingRequest } from '../common/gen/spark/v1/trainer.js';
import { LORA_TARGET_MODULES, MODULES_TO_SAVE, checkTiedModulesToSave } from './peft.js';
import { LOSS_AGG_MODES } from './ppo/agg.js';
import { KL_ESTIMATORS } from './ppo/kl.js';
import { POLICY_LOSS_NAMES, type PolicyLossName } from './ppo/policy-loss.js';
import { rewardSpecSchema, type RewardSpec } from './reward.js';

export const TRAINING_MODES = ['ppo', 'sft'] as const;
export const QUANTIZATIONS = ['none', 'nf4'] as const;
export const EXECUTORS = ['local', 'kubernetes'] as const;
export type TrainingModeName = (typeof TRAINING_MODES)[number];
export type ExecutorName = (typeof EXECUTORS)[number];

/**
 * Peak learning rate when the spec gives none. LoRA adapters start at B = 0 and need a larger rate than
 * full fine-tuning: 2e-4 is the usual LoRA/QLoRA SFT rate (QLoRA paper, arXiv 2305.14314); PPO moves the
 * policy against its own behaviour log-probs and is kept 10× gentler so the clip range and KL hold.
 */
export const DEFAULT_LR: Record<TrainingModeName, number> = { ppo: 2e-5, sft: 2e-4 };

/** `q` and `q_proj` both name the query projection. */
const targetModule = z.preprocess(
  (x) => (typeof x === 'string' && !x.endsWith('_proj') ? `${x}_proj` : x),
  z.enum(LORA_TARGET_MODULES),
);

const loraSchema = z
  .object({
    rank: z.number().int().positive().default(16).describe('LoRA rank r, > 0'),
    alpha: z.number().positive().default(32).describe('LoRA alpha; the update is (alpha / r) · B·A'),
    dropout: z.number().min(0).lt(1).default(0.05).describe('Dropout on the adapter input, in [0, 1)'),
    targetModules: z
      .array(targetModule)
      .nonempty()
      .default([...LORA_TARGET_MODULES])
      .refine((ms) => new Set(ms).size === ms.length, 'must not repeat a module')
      .describe('Llama projections to adapt (q, k, v, o, gate, up, down, with or without _proj)'),
    quantization: z.enum(QUANTIZATIONS).default('none').describe('Frozen base storage: none (LoRA) or nf4 (QLoRA, 4-bit)'),
    doubleQuant: z.boolean().default(false).describe('NF4 only: quantise the absmax constants too'),
    modulesToSave: z
      .array(z.enum(MODULES_TO_SAVE))
      .default([])
      .refine((ms) => new Set(ms).size === ms.length, 'must not repeat a module')
      .describe('Base modules trained in full and saved in the adapter (PEFT modules_to_save): embed_tokens (a tied model\'s head too), lm_head (untied models); sft only'),
  })
  .strict();

const hyperSchema = z
  .object({
    lr: z.number().positive().optional().describe(`Peak learning rate, > 0; default ${DEFAULT_LR.ppo} for ppo, ${DEFAULT_LR.sft} for sft`),
    maxSteps: z.number().int().min(0).default(0).describe('Optimiser steps; 0 = epochs × steps per epoch'),
    epochs: z.number().int().positive().default(1).describe('Passes over the step examples'),
    batchSize: z.number().int().positive().default(8).describe('Examples per micro-batch'),
    gradAccum: z.number().int().positive().default(4).describe('Micro-batches per optimiser step'),
    warmupSteps: z.number().int().min(0).default(10).describe('Linear warmup steps before the cosine decay'),
    minLrRatio: z.number().min(0).max(1).default(0.1).describe('Floor of the cosine decay, as a fraction of lr'),
    weightDecay: z.number().min(0).default(0).describe('AdamW weight decay (on the trained tensors only)'),
    maxGradNorm: z.number().positive().default(1).describe('Gradient clipping by global L2 norm'),
    clipEps: z.number().gt(0).lt(1).default(0.2).describe('PPO clip range epsilon'),
    clipEpsHigh: z.number().positive().optional().describe('PPO upper clip range (clip-higher); default clipEps'),
    policyLoss: z.enum(POLICY_LOSS_NAMES as [PolicyLossName, ...PolicyLossName[]]).default('vanilla').describe('Policy-loss variant'),
    lossAggMode: z.enum(LOSS_AGG_MODES).default('token-mean').describe('How per-token losses are averaged'),
    klCoef: z.number().min(0).default(0.05).describe('Coefficient of the KL-to-reference term (initial value when adaptive)'),
    klEstimator: z.enum(KL_ESTIMATORS).default('k3').describe('KL estimator (Schulman): k1, k2 or k3'),
    adaptiveKl: z.boolean().default(false).describe('Adapt klCoef towards targetKl (Ziegler et al. 2019)'),
    targetKl: z.number().positive().default(0.05).describe('Target KL per action token for the adaptive controller'),
    klHorizon: z.number().positive().default(10_000).describe('Adaptive controller horizon in steps (larger = slower)'),
    entropyCoef: z.number().min(0).default(0).describe('Entropy bonus coefficient'),
    normalizeAdvantages: z.boolean().default(true).describe('Normalise advantages over the batch'),
    valueHead: z.boolean().default(false).describe('Learn a value head and use reward − value as advantage'),
    valueLossCoef: z.number().positive().default(0.5).describe('Weight of the value loss when valueHead is on'),
    seed: z.number().int().min(0).default(0).describe('Seed for shuffling, dropout and adapter init'),
    maxSeqLen: z.number().int().min(16).default(2048).describe('Maximum tokens per example; longer contexts are cut from the left'),
    saveEvery: z.number().int().positive().default(50).describe('Optimiser steps between checkpoints'),
    activationCheckpointing: z
      .boolean()
      .default(false)
      .describe('Keep only each decoder block\'s input and run the block again in the backward: one more forward per block, for 8B QLoRA at 8 × 1024 tokens in 16 GB; same gradients'),
  })
  .strict();

export const trainingSpecSchema = z
  .object({
    mode: z.enum(TRAINING_MODES).describe('ppo (SPaRK offline PPO) or sft (baseline)'),
    data: z.string().min(1).describe('Step examples JSONL (from `spark trajectory steps`)'),
    baseModelPath: z.string().min(1).describe('Base model folder: config.json, *.safetensors, tokenizer.json'),
    outDir: z.string().min(1).describe('Folder for checkpoints and the run log'),
    lora: loraSchema.prefault({}),
    hyper: hyperSchema.prefault({}),
    reward: rewardSpecSchema.prefault({}),
    executor: z.enum(EXECUTORS).default('local').describe('local: in the trainer process; kubernetes: a Job on the GPU pool'),
    resume: z.boolean().default(false).describe('Continue from the last checkpoint in outDir when there is one'),
  })
  .strict()
  .superRefine((spec, ctx) => {
    if (spec.mode === 'ppo' && spec.lora.modulesToSave.length > 0) {
      ctx.addIssue({
        code: 'custom', path: ['lora', 'modulesToSave'],
        message: 'only sft supports it: PPO\'s KL reference is the same model with the adapters off, and it would still see the trained matrices',
      });
    }
    if (spec.lora.doubleQuant && spec.lora.quantization !== 'nf4') {
      ctx.addIssue({ code: 'custom', path: ['lora', 'doubleQuant'], message: 'needs lora.quantization nf4' });
    }
    if (spec.hyper.adaptiveKl && spec.hyper.klCoef === 0) {
      ctx.addIssue({ code: 'custom', path: ['hyper', 'klCoef'], message: 'must be > 0 with adaptiveKl (the controller scales it, 0 stays 0)' });
    }
    if (spec.hyper.maxSteps > 0 && spec.hyper.warmupSteps >= spec.hyper.maxSteps) {
      ctx.addIssue({ code: 'custom', path: ['hyper', 'warmupSteps'], message: `must be < hyper.maxSteps (${spec.hyper.maxSteps})` });
    }
  })
  .transform((spec) => ({ ...spec, hyper: { ...spec.hyper, lr: spec.hyper.lr ?? DEFAULT_LR[spec.mode] } }));

export type TrainingSpec = z.output<typeof trainingSpecSchema>;
export type TrainingSpecInput = z.input<typeof trainingSpecSchema>;

/** How fields are named in messages: as in a spec file (`hyper.maxSteps`) or in the proto (`hyper.max_steps`). */
export type FieldStyle = 'spec' | 'proto';

const PROTO_FIELD: Record<string, string> = { data: 'data.uri' };

function fieldName(path: readonly PropertyKey[], style: FieldStyle): string {
  const name = formatPath(path) || '(spec)';
  if (style === 'spec') return name;
  return PROTO_FIELD[name] ?? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The zod issues as one InvalidArgumentError: the first issue's field and allowed values, the rest appended. */
function toInvalidArgument(err: ZodError, style: FieldStyle): InvalidArgumentError {
  const [first, ...rest] = err.issues;
  const allowedOf = (issue: (typeof err.issues)[number]) =>
    'values' in issue && Array.isArray(issue.values) ? issue.values.map(String).join(', ') : undefined;
  const more = rest.map((i) => `; ${fieldName(i.path, style)}: ${i.message}${allowedOf(i) ? ` (allowed: ${allowedOf(i)})` : ''}`).join('');
  return new InvalidArgumentError(fieldName(first!.path, style), `${first!.message}${more}`, allowedOf(first!), { cause: err });
}

/**
 * Checks the files a spec names: the data file exists, the base model folder holds config.json, outDir
 * is not a file. Paths are taken as they are (resolve relative ones before calling).
 */
export function checkSpecFiles(spec: TrainingSpec, style: FieldStyle = 'spec'): void {
  const field = (name: string) => fieldName([name], style);
  if (!existsSync(spec.data) || !statSync(spec.data).isFile()) {
    throw new InvalidArgumentError(field('data'), `no such file: ${spec.data}`, 'a step examples JSONL file (spark trajectory steps)');
  }
  if (!existsSync(join(spec.baseModelPath, 'config.json'))) {
    throw new InvalidArgumentError(field('baseModelPath'), `${spec.baseModelPath} has no config.json`, 'a model folder with config.json, *.safetensors and tokenizer.json');
  }
  if (spec.lora.modulesToSave.length) {
    checkTiedModulesToSave(spec.lora.modulesToSave, tiesEmbeddings(spec.baseModelPath), fieldName(['lora', 'modulesToSave'], style), spec.baseModelPath);
  }
  if (existsSync(spec.outDir) && !statSync(spec.outDir).isDirectory()) {
    throw new InvalidArgumentError(field('outDir'), `${spec.outDir} exists and is not a folder`);
  }
}

/** Whether a model folder's config.json ties lm_head to embed_tokens (HF's LlamaConfig default: no). */
function tiesEmbeddings(modelDir: string): boolean {
  try {
    return (JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as { tie_word_embeddings?: unknown }).tie_word_embeddings === true;
  } catch {
    return false; // an unreadable config.json fails with its own message when the model loads
  }
}

/** Validates a raw spec (shape, ranges, files); returns it with every default filled in. */
export function parseTrainingSpec(raw: unknown, style: FieldStyle = 'spec'): TrainingSpec {
  const parsed = trainingSpecSchema.safeParse(raw);
  if (!parsed.success) throw toInvalidArgument(parsed.error, style);
  checkSpecFiles(parsed.data, style);
  return parsed.data;
}

/** Reads a spec JSON file (what `spark train run --spec FILE` and a Kubernetes Job read). */
export function loadTrainingSpecFile(path: string): TrainingSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InvalidArgumentError('--spec', `cannot read ${path} as JSON: ${(err as Error).message}`, undefined, { cause: err });
  }
  return parseTrainingSpec(raw);
}

const MODES: Record<number, TrainingModeName> = { [TrainingMode.TRAINING_MODE_PPO]: 'ppo', [TrainingMode.TRAINING_MODE_SFT]: 'sft' };
const QUANTS: Record<number, (typeof QUANTIZATIONS)[number]> = {
  [Quantization.QUANTIZATION_UNSPECIFIED]: 'none',
  [Quantization.QUANTIZATION_NONE]: 'none',
  [Quantization.QUANTIZATION_NF4]: 'nf4',
};
const ESTIMATORS: Record<number, (typeof KL_ESTIMATORS)[number]> = {
  [KlEstimator.KL_ESTIMATOR_UNSPECIFIED]: 'k3',
  [KlEstimator.KL_ESTIMATOR_K1]: 'k1',
  [KlEstimator.KL_ESTIMATOR_K2]: 'k2',
  [KlEstimator.KL_ESTIMATOR_K3]: 'k3',
};
const EXECUTOR_NAMES: Record<number, ExecutorName> = { [Executor.EXECUTOR_LOCAL]: 'local', [Executor.EXECUTOR_KUBERNETES]: 'kubernetes' };

function enumValue<T>(table: Record<number, T>, value: number, field: string, allowed: readonly string[]): T {
  const out = table[value];
  if (out === undefined) throw new InvalidArgumentError(field, value === 0 ? 'must be set' : `unknown value ${value}`, allowed.join(', '));
  return out;
}

/** proto3 numbers cannot be unset: 0 means "the default" (trainer.proto, Hyperparameters). */
const orDefault = (x: number) => (x === 0 ? undefined : x);
/** proto3 bools cannot be unset either: false leaves the default (only normalize_advantages defaults to true). */
const orDefaultBool = (x: boolean) => (x ? true : undefined);

export interface FromRequestOptions {
  /** Relative `data.uri`, `out_dir` and `base_model_path` resolve under it; the first two must stay inside. */
  artifactRoot: string;
  /** What EXECUTOR_UNSPECIFIED means on this server (`kubernetes` in the cluster). @default 'local' */
  defaultExecutor?: ExecutorName;
}

/** A StartTrainingRequest as a validated spec with absolute paths; errors name proto fields. */
export function specFromRequest(req: StartTrainingRequest, opts: FromRequestOptions): TrainingSpec {
  const mode = enumValue(MODES, req.mode, 'mode', TRAINING_MODES);
  if (!req.data?.uri) throw new InvalidArgumentError('data.uri', 'must name the step examples JSONL under the artifact root');
  if (!req.outDir) throw new InvalidArgumentError('out_dir', 'must not be empty', 'a relative path under the artifact root');
  if (!req.baseModelPath) throw new InvalidArgumentError('base_model_path', 'must not be empty', 'a model folder with config.json');
  const lora = req.lora;
  const hyper = req.hyper;
  const reward = req.reward;
  const raw: TrainingSpecInput = {
    mode,
    data: resolveInArtifactRoot(opts.artifactRoot, req.data.uri, 'data.uri'),
    baseModelPath: isAbsolute(req.baseModelPath) ? req.baseModelPath : resolve(opts.artifactRoot, req.baseModelPath),
    outDir: resolveInArtifactRoot(opts.artifactRoot, req.outDir, 'out_dir'),
    lora: lora && {
      // The rpc rejects rank <= 0 (trainer.proto); leave `lora` out for the default rank.
      rank: lora.rank,
      alpha: orDefault(lora.alpha),
      dropout: orDefault(lora.dropout),
      targetModules: lora.targetModules.length ? lora.targetModules : undefined,
      quantization: enumValue(QUANTS, lora.quantization, 'lora.quantization', ['QUANTIZATION_NONE', 'QUANTIZATION_NF4']),
      doubleQuant: lora.doubleQuant,
      // zod checks the names against MODULES_TO_SAVE and answers with the allowed ones
      modulesToSave: lora.modulesToSave as Array<(typeof MODULES_TO_SAVE)[number]>,
    },
    hyper: hyper && {
      lr: orDefault(hyper.lr),
      maxSteps: orDefault(hyper.maxSteps),
      epochs: orDefault(hyper.epochs),
      batchSize: orDefault(hyper.batchSize),
      gradAccum: orDefault(hyper.gradAccum),
      warmupSteps: orDefault(hyper.warmupSteps),
      weightDecay: orDefault(hyper.weightDecay),
      maxGradNorm: orDefault(hyper.maxGradNorm),
      clipEps: orDefault(hyper.clipEps),
      klCoef: orDefault(hyper.klCoef),
      klEstimator: enumValue(ESTIMATORS, hyper.klEstimator, 'hyper.kl_estimator', ['KL_ESTIMATOR_K1', 'KL_ESTIMATOR_K2', 'KL_ESTIMATOR_K3']),
      adaptiveKl: orDefaultBool(hyper.adaptiveKl),
      targetKl: orDefault(hyper.targetKl),
      entropyCoef: orDefault(hyper.entropyCoef),
      normalizeAdvantages: orDefaultBool(hyper.normalizeAdvantages),
      valueHead: orDefaultBool(hyper.valueHead),
      seed: orDefault(hyper.seed),
      maxSeqLen: orDefault(hyper.maxSeqLen),
      saveEvery: orDefault(hyper.saveEvery),
      activationCheckpointing: orDefaultBool(hyper.activationCheckpointing),
    },
    reward: reward && {
      correctnessWeight: orDefault(reward.correctnessWeight),
      judgeWeight: orDefault(reward.judgeWeight),
      diversityWeight: orDefault(reward.diversityWeight),
      // zod checks the name against DIVERSITY_KINDS and answers with the allowed ones
      diversityKind: (reward.diversityKind || undefined) as RewardSpec['diversityKind'] | undefined,
    },
    executor: req.executor === Executor.EXECUTOR_UNSPECIFIED
      ? opts.defaultExecutor ?? 'local'
      : enumValue(EXECUTOR_NAMES, req.executor, 'executor', ['EXECUTOR_LOCAL', 'EXECUTOR_KUBERNETES']),
    resume: req.resume,
  };
  return parseTrainingSpec(raw, 'proto');
}
