/**
 * What an evaluation job does, validated once from a StartEvaluationRequest: the models, the modes,
 * which questions, and the limits. The spec is plain JSON, stored with the job, so a resumed job runs
 * exactly the same evaluation. Errors name the request field and the allowed values.
 */
import { relative, resolve } from 'node:path';
import { resolveInArtifactRoot } from '../common/artifact-path.js';
import { InvalidArgumentError } from '../common/errors.js';
import { ModelBackend as Backend, type ModelRef } from '../common/gen/spark/v1/common.js';
import { EvalMode, ExtractionMode, type StartEvaluationRequest } from '../common/gen/spark/v1/evaluator.js';
import { MAX_STEPS } from '../common/step-format.js';
import type { ExtractionMode as ExtractionName } from './score.js';

export const EVAL_MODES = ['cot_5shot', 'agentic'] as const;
export type EvalModeName = (typeof EVAL_MODES)[number];

export const MODE_OF_ENUM: Partial<Record<EvalMode, EvalModeName>> = {
  [EvalMode.EVAL_MODE_COT_5SHOT]: 'cot_5shot',
  [EvalMode.EVAL_MODE_AGENTIC]: 'agentic',
};
export const ENUM_OF_MODE: Record<EvalModeName, EvalMode> = { cot_5shot: EvalMode.EVAL_MODE_COT_5SHOT, agentic: EvalMode.EVAL_MODE_AGENTIC };

const EXTRACTION_OF_ENUM: Partial<Record<ExtractionMode, ExtractionName>> = {
  [ExtractionMode.EXTRACTION_MODE_UNSPECIFIED]: 'strict',
  [ExtractionMode.EXTRACTION_MODE_STRICT]: 'strict',
  [ExtractionMode.EXTRACTION_MODE_RANDOM]: 'random',
};

/** The extraction mode of a request (unset = strict). */
export function extractionOf(value: ExtractionMode): ExtractionName {
  const name = EXTRACTION_OF_ENUM[value];
  if (!name) throw new InvalidArgumentError('extraction', `unknown value ${value}`, 'EXTRACTION_MODE_STRICT, EXTRACTION_MODE_RANDOM');
  return name;
}

/** Defaults of the request's optional numbers (0 in proto3 means unset). */
export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_PER_QUESTION_TIMEOUT_MS = 120_000;
export const MAX_CONCURRENCY = 256;
/** Model names become Prometheus label values and file names: keep them short and plain. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** A model as stored in the spec (ModelRef in its JSON form). */
export interface ModelSpec {
  name: string;
  backend: 'trainer' | 'openai';
  baseModelPath?: string;
  /** Adapter folder relative to the artifact root (TRAINER). */
  adapterUri?: string;
  endpointBaseUrl?: string;
  endpointModel?: string;
}

export interface EvalSpec {
  models: ModelSpec[];
  modes: EvalModeName[];
  /** Exact ids; empty = sample `n` (0 = all) from the eval split. */
  questionIds: number[];
  n: number;
  perCategory: boolean;
  seed: number;
  maxSteps: number;
  concurrency: number;
  perQuestionTimeoutMs: number;
  extraction: ExtractionName;
  /** Folder under the artifact root holding results.jsonl and the report. */
  outDir: string;
}

/** The ModelRef a spec's model stands for (the inverse of `modelSpec`). */
export function modelRefOf(model: ModelSpec): ModelRef {
  return {
    name: model.name,
    backend: model.backend === 'trainer' ? Backend.MODEL_BACKEND_TRAINER : Backend.MODEL_BACKEND_OPENAI,
    baseModelPath: model.baseModelPath ?? '',
    adapter: model.adapterUri ? { uri: model.adapterUri, mediaType: '', sha256: '', sizeBytes: 0 } : undefined,
    endpointBaseUrl: model.endpointBaseUrl ?? '',
    endpointModel: model.endpointModel ?? '',
  };
}

function modelSpec(m: ModelRef, field: string): ModelSpec {
  if (!MODEL_NAME.test(m.name)) throw new InvalidArgumentError(`${field}.name`, `${JSON.stringify(m.name)} is not a usable model name`, 'letters, digits, "_", "." and "-", 1-64 characters, e.g. "base", "sft", "spark"');
  if (m.backend === Backend.MODEL_BACKEND_TRAINER) {
    if (!m.baseModelPath) throw new InvalidArgumentError(`${field}.base_model_path`, 'required for the TRAINER backend', 'a folder with config.json, *.safetensors and tokenizer.json');
    return { name: m.name, backend: 'trainer', baseModelPath: m.baseModelPath, ...(m.adapter?.uri ? { adapterUri: m.adapter.uri } : {}) };
  }
  if (m.backend === Backend.MODEL_BACKEND_OPENAI) {
    let url: URL;
    try {
      url = new URL(m.endpointBaseUrl);
    } catch {
      throw new InvalidArgumentError(`${field}.endpoint_base_url`, `${JSON.stringify(m.endpointBaseUrl)} is not a URL`, 'an http(s) base URL, e.g. http://vllm:8000/v1');
    }
    if (!/^https?:$/.test(url.protocol)) throw new InvalidArgumentError(`${field}.endpoint_base_url`, `unsupported scheme ${url.protocol}`, 'http, https');
    if (!m.endpointModel) throw new InvalidArgumentError(`${field}.endpoint_model`, 'required for the OPENAI backend', 'the model name the endpoint serves');
    return { name: m.name, backend: 'openai', endpointBaseUrl: m.endpointBaseUrl, endpointModel: m.endpointModel };
  }
  throw new InvalidArgumentError(`${field}.backend`, `unknown value ${m.backend}`, 'MODEL_BACKEND_TRAINER, MODEL_BACKEND_OPENAI');
}

/** `outDir` relative to the artifact root: inside it, and not the root itself. */
function outDirUnder(artifactRoot: string, outDir: string): string {
  const rel = relative(resolve(artifactRoot), resolveInArtifactRoot(artifactRoot, outDir, 'out_dir'));
  if (!rel) throw new InvalidArgumentError('out_dir', 'must name a folder under the artifact root, not the root itself', 'e.g. "eval/base-vs-spark"');
  return rel;
}

/**
 * Validates a request into a spec. `artifactRoot` confines out_dir (default `defaultOutDir`) to the
 * artifact root.
 */
export function evalSpecFrom(req: StartEvaluationRequest, artifactRoot: string, defaultOutDir: string): EvalSpec {
  if (!req.models.length) throw new InvalidArgumentError('models', 'at least one model is required', 'ModelRef with backend TRAINER or OPENAI');
  const models = req.models.map((m, i) => modelSpec(m, `models[${i}]`));
  const seen = new Set<string>();
  models.forEach((m, i) => {
    if (seen.has(m.name)) throw new InvalidArgumentError(`models[${i}].name`, `duplicate name ${JSON.stringify(m.name)}`, 'each model name once');
    seen.add(m.name);
  });
  if (!req.modes.length) throw new InvalidArgumentError('modes', 'at least one mode is required', 'EVAL_MODE_COT_5SHOT, EVAL_MODE_AGENTIC');
  const modes = [...new Set(req.modes.map((m, i) => {
    const name = MODE_OF_ENUM[m];
    if (!name) throw new InvalidArgumentError(`modes[${i}]`, `unknown value ${m}`, 'EVAL_MODE_COT_5SHOT, EVAL_MODE_AGENTIC');
    return name;
  }))];
  if (req.n < 0) throw new InvalidArgumentError('n', `must be >= 0 (got ${req.n})`, '0 (all) or a positive count');
  if (req.maxSteps < 0 || req.maxSteps > 20) throw new InvalidArgumentError('max_steps', `${req.maxSteps} is out of range`, `1..20 (0 = the default ${MAX_STEPS})`);
  if (req.concurrency < 0 || req.concurrency > MAX_CONCURRENCY) throw new InvalidArgumentError('concurrency', `${req.concurrency} is out of range`, `1..${MAX_CONCURRENCY} (0 = the default ${DEFAULT_CONCURRENCY})`);
  if (req.perQuestionTimeoutMs < 0) throw new InvalidArgumentError('per_question_timeout_ms', `must be >= 0 (got ${req.perQuestionTimeoutMs})`, `milliseconds (0 = the default ${DEFAULT_PER_QUESTION_TIMEOUT_MS})`);
  const extraction = extractionOf(req.extraction);
  return {
    models,
    modes,
    questionIds: [...req.questionIds],
    n: req.n,
    perCategory: req.perCategory,
    seed: req.seed,
    maxSteps: req.maxSteps || MAX_STEPS,
    concurrency: req.concurrency || DEFAULT_CONCURRENCY,
    perQuestionTimeoutMs: req.perQuestionTimeoutMs || DEFAULT_PER_QUESTION_TIMEOUT_MS,
    extraction,
    outDir: outDirUnder(artifactRoot, req.outDir || defaultOutDir),
  };
}
