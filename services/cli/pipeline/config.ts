/**
 * The pipeline's configuration, in one place: a preset (`smoke` for a laptop, `paper` for the paper's
 * settings on a GPU with a real judge), then an optional YAML file, then environment variables, then
 * flags — each layer overriding the one before, validated once with zod. The resolved config is written
 * next to the results of every run.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../common/config.js';
import { describeZodError } from '../../common/errors.js';
import { SELECTION_POLICIES } from '../../trajectory/selection.js';

export const PRESET_NAMES = ['smoke', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

const stageTraining = z.object({
  steps: z.number().int().min(1).describe('optimiser steps'),
  lr: z.number().positive().describe('peak learning rate'),
  batchSize: z.number().int().min(1),
  gradAccum: z.number().int().min(1).describe('micro-batches per optimiser step'),
}).strict();

export const pipelineConfigSchema = z.object({
  preset: z.enum(PRESET_NAMES),
  /** Training questions rolled out (from the shipped 2,500-question working set). */
  questions: z.number().int().min(1).max(2_500).describe('questions rolled out for training'),
  /** Steps per trajectory, final answer included (paper: 5). */
  maxSteps: z.number().int().min(2).max(20),
  selection: z.enum(SELECTION_POLICIES),
  seed: z.number().int(),
  /** Questions rolled out in parallel. */
  concurrency: z.number().int().min(1).max(256),
  /** Questions per category for evaluation, from the held-apart eval split (10 per category at most). */
  evalPerCategory: z.number().int().min(1).max(10),
  /** Agentic evaluation steps. */
  evalMaxSteps: z.number().int().min(1).max(20),
  /**
   * Conversations per generation call of a trainer-served model in evaluation; the evaluator keeps this
   * many questions of each model and mode in flight, so the batches fill.
   */
  evalBatchSize: z.number().int().min(1).max(128),
  /** Base model folder; unset = a tiny random Llama made for the run and pre-trained on the step format. */
  modelPath: z.string().optional(),
  /** Tiny-model preset when modelPath is unset. */
  tinyPreset: z.enum(['tiny', 'small']),
  /** Init std of the tiny model's weights (HF's `initializer_range`). */
  tinyInitStd: z.number().positive().max(2),
  /** Tokens per training example (context cut from the left). */
  maxSeqLen: z.number().int().min(64).max(131_072),
  /** Evaluation token caps: the 5-shot CoT answer, and each agentic step. */
  evalMaxTokens: z.number().int().min(8).max(8_192),
  evalStepMaxTokens: z.number().int().min(8).max(4_096),
  /**
   * Format pre-training of the tiny model: `questions` rolled out with the `selection` policy (a seed
   * disjoint from the training rollouts'), on the last `maxSeqLen` tokens of each example.
   */
  pretrain: stageTraining.extend({
    questions: z.number().int().min(1).max(2_500), maxSeqLen: z.number().int().min(64).max(131_072), selection: z.enum(SELECTION_POLICIES),
  }),
  sft: stageTraining,
  // clipEps < 1 as the trainer checks it: a bad value fails here, not minutes into the run.
  ppo: stageTraining.extend({ klCoef: z.number().min(0), clipEps: z.number().positive().lt(1), diversityWeight: z.number().min(0) }),
  lora: z.object({ rank: z.number().int().min(1), alpha: z.number().positive(), quantization: z.enum(['none', 'nf4']) }).strict(),
}).strict();

export type PipelineConfig = z.infer<typeof pipelineConfigSchema>;

export const PRESETS: Record<PresetName, PipelineConfig> = {
  // What `npm start` runs: minutes on a 2-core laptop, offline judge, heuristic generator, tiny model.
  smoke: {
    preset: 'smoke', questions: 42, maxSteps: 3, selection: 'rarity_first', seed: 0, concurrency: 6,
    // The 28 questions of a model and mode decode as one batch: per token the tiny model spends ~1.3 ms
    // a row in a batch of 32 against 5 ms for a row alone, and batches of 16 with 48 questions in flight
    // over 6 (model, mode) queues went half full (measured on 2 cores: eval 85–89 s → 55–62 s).
    evalPerCategory: 2, evalMaxSteps: 3, evalBatchSize: 32, tinyPreset: 'tiny', tinyInitStd: 0.1, maxSeqLen: 384, evalMaxTokens: 48, evalStepMaxTokens: 40,
    // Measured on the tiny model (embeddings trained too): init std 0.1 names real tools after 250 steps of 4
    // (std 0.02 still writes `{"name": "parameters"` after 250, and fumbles the arguments after 400);
    // batches of 8 cost twice as much per step for no better result. Arguments stay the weak part.
    // Below 1,000 examples seen it falls off (200 × 4, 250 × 3, 250 × 2, 150 × 4 at lr 6e-3: fewer real
    // tool names, no final-answer thoughts). The last 256 tokens of a step are enough (its question, the
    // steps so far and the end of the tool list; 384 made no better policy) at 15–20 % less time a step.
    // Pre-training rolls out with uniform_viable: the base stands in for a pre-trained LLM, which knows
    // every tool without a preference. On highest_score rollouts (the judge's favourites) it learnt two
    // tool names, and neither SFT nor SPaRK could move it past them (measured, seed 0, with the step
    // files still in rollout-finish order: base 1.02 bits, SFT 0.66, SPaRK 0.95; on uniform_viable
    // rollouts: base 1.12, SFT 0.73, SPaRK 1.47).
    pretrain: { questions: 42, steps: 250, lr: 3e-3, batchSize: 4, gradAccum: 1, maxSeqLen: 256, selection: 'uniform_viable' },
    sft: { steps: 30, lr: 5e-3, batchSize: 8, gradAccum: 1 },
    // PPO at half SFT's learning rate: at 5e-3 its pushes against common tools also pushed down the JSON
    // around them and SPaRK wrote unknown tool names in up to half its steps; at 2.5e-3 it kept the format
    // (measured, seeds 0 and 1, step files in rollout-finish order: SPaRK 1.47 → 1.78 and 0.63 → 1.34
    // bits, above the base's 1.12 and 0.66; with the final code seeds 0 and 1 are above both baselines,
    // seed 2 below both — README).
    ppo: { steps: 30, lr: 2.5e-3, batchSize: 8, gradAccum: 1, klCoef: 0.02, clipEps: 0.2, diversityWeight: 1.0 },
    lora: { rank: 16, alpha: 64, quantization: 'none' },
  },
  // The paper's settings (arXiv 2507.11371 §4): 2,500 questions, 5 steps, QLoRA on an 8B model.
  paper: {
    preset: 'paper', questions: 2_500, maxSteps: 5, selection: 'rarity_first', seed: 0, concurrency: 16,
    evalPerCategory: 10, evalMaxSteps: 5, evalBatchSize: 16, tinyPreset: 'small', tinyInitStd: 0.02, maxSeqLen: 4_096, evalMaxTokens: 2_048, evalStepMaxTokens: 512,
    pretrain: { questions: 500, steps: 500, lr: 1e-3, batchSize: 16, gradAccum: 4, maxSeqLen: 4_096, selection: 'uniform_viable' },
    sft: { steps: 1_000, lr: 2e-4, batchSize: 8, gradAccum: 4 },
    ppo: { steps: 1_000, lr: 1e-5, batchSize: 8, gradAccum: 4, klCoef: 0.05, clipEps: 0.2, diversityWeight: 0.5 },
    lora: { rank: 16, alpha: 32, quantization: 'nf4' },
  },
};

/** Environment variables the pipeline reads itself (the services read their own, e.g. OPENAI_API_KEY). */
export const PIPELINE_ENV = {
  modelPath: 'SPARK_MODEL_PATH',
} as const;

/** Deep merge of plain objects; arrays and scalars replace. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = b && typeof b === 'object' && !Array.isArray(b) && v && typeof v === 'object' && !Array.isArray(v)
      ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export interface ConfigSources {
  preset: PresetName;
  /** A YAML file with any subset of the fields. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values (undefined = not given). */
  flags?: Partial<PipelineConfig>;
}

export function resolvePipelineConfig(src: ConfigSources): PipelineConfig {
  let cfg: Record<string, unknown> = { ...PRESETS[src.preset] };
  if (src.file) {
    let fromFile: unknown;
    try {
      fromFile = parseYaml(readFileSync(src.file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`--config ${src.file}: ${(err as Error).message}`, { cause: err });
    }
    if (fromFile && typeof fromFile === 'object') cfg = merge(cfg, fromFile as Record<string, unknown>);
  }
  const modelPath = src.env?.[PIPELINE_ENV.modelPath];
  if (modelPath) cfg = merge(cfg, { modelPath });
  cfg = merge(cfg, (src.flags ?? {}) as Record<string, unknown>);
  const parsed = pipelineConfigSchema.safeParse({ ...cfg, preset: src.preset });
  if (!parsed.success) throw new ConfigError(`invalid pipeline configuration${src.file ? ` (${src.file})` : ''}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}
