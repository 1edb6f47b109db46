/**
 * From the results log to the figures of the report: per model and mode the accuracy (overall and per
 * category, with no-answer counts), the tool-selection entropy with its bootstrap interval and the
 * per-action usage (agentic mode), and paired comparisons of every two models in each mode.
 */
import { normalizedEntropy } from '../common/entropy.js';
import { deriveSeed } from '../common/random.js';
import { INVALID_TOOL_CALL_ACTION } from './agentic.js';
import type { EvalRecord } from './results.js';
import { AccuracyTally, type AccuracyFigures } from './score.js';
import type { EvalModeName } from './spec.js';
import { bootstrapEntropyCi, comparePaired, countActions, toolEntropyBits, type Interval } from './stats.js';

export interface ModelModeResult {
  model: string;
  mode: EvalModeName;
  overall: AccuracyFigures;
  categories: Record<string, AccuracyFigures>;
  /** Over all steps (0 in CoT mode, which takes no steps). */
  toolEntropyBits: number;
  normalizedToolEntropy: number;
  /** 95 % percentile bootstrap over questions. */
  toolEntropyCi: Interval;
  actionCounts: Record<string, number>;
  /** Steps counted in actionCounts under a tool whose call did not parse (the tool was named, not run). */
  malformedCalls: number;
  categoryToolEntropyBits: Record<string, number>;
  /** Steps taken in all. */
  steps: number;
}

export interface ComparisonResult {
  modelA: string;
  modelB: string;
  mode: EvalModeName;
  /** Questions both answered. */
  n: number;
  /** accuracy(B) - accuracy(A) on those questions. */
  accuracyDiff: number;
  /** McNemar's exact p-value. */
  pValue: number;
}

export interface EvalSummary {
  results: ModelModeResult[];
  comparisons: ComparisonResult[];
  /** Categories seen, sorted (MMLU-Pro's order). */
  categories: string[];
}

export interface SummarizeOptions {
  /** Models in report order (the spec's); models only in the records follow. */
  models: readonly string[];
  modes: readonly EvalModeName[];
  bootstrapIterations?: number;
  seed?: number;
}

/** The steps that chose an action (invalid tool calls left out). */
export function toolChoices(actions: readonly string[]): string[] {
  return actions.filter((a) => a !== INVALID_TOOL_CALL_ACTION);
}

/** Figures of one model in one mode. */
export function summarizeGroup(model: string, mode: EvalModeName, records: readonly EvalRecord[], opts: { bootstrapIterations?: number; seed?: number } = {}): ModelModeResult {
  const tally = new AccuracyTally();
  const byCategory = new Map<string, string[][]>();
  for (const r of records) {
    tally.add(r.category, r.correct, r.predicted === null || r.guessed);
    byCategory.set(r.category, [...(byCategory.get(r.category) ?? []), toolChoices(r.actions)]);
  }
  const trajectories = records.map((r) => r.actions);
  // Entropy is over the actions the policy chose; a reply that was not a valid call of any action is
  // counted in the usage table (actionCounts) but is not a tool choice.
  const choices = trajectories.map(toolChoices);
  const summary = tally.summary();
  const actionCounts = countActions(trajectories);
  return {
    model,
    mode,
    overall: summary.overall,
    categories: summary.categories,
    toolEntropyBits: toolEntropyBits(choices),
    normalizedToolEntropy: normalizedEntropy(countActions(choices)),
    toolEntropyCi: bootstrapEntropyCi(choices, { iterations: opts.bootstrapIterations, seed: deriveSeed(opts.seed ?? 0, `${model}/${mode}`) }),
    actionCounts,
    malformedCalls: records.reduce((n, r) => n + (r.steps ?? []).filter((s) => s.malformed).length, 0),
    categoryToolEntropyBits: Object.fromEntries([...byCategory.keys()].sort().map((c) => [c, toolEntropyBits(byCategory.get(c)!)])),
    steps: trajectories.reduce((s, t) => s + t.length, 0),
  };
}

export function summarize(records: readonly EvalRecord[], opts: SummarizeOptions): EvalSummary {
  const models = [...opts.models, ...new Set(records.map((r) => r.model).filter((m) => !opts.models.includes(m)))];
  const results: ModelModeResult[] = [];
  const correctness = new Map<string, Map<number, boolean>>();
  for (const mode of opts.modes) {
    for (const model of models) {
      // By question: results.jsonl lists answers as they finished, and the bootstrap resamples by position,
      // so without an order of its own the same answers gave other intervals from run to run.
      const group = records.filter((r) => r.model === model && r.mode === mode).sort((a, b) => a.question_id - b.question_id);
      results.push(summarizeGroup(model, mode, group, opts));
      correctness.set(`${model}/${mode}`, new Map(group.map((r) => [r.question_id, r.correct])));
    }
  }
  const comparisons: ComparisonResult[] = [];
  for (const mode of opts.modes) {
    for (let i = 0; i < models.length; i++) {
      for (let j = i + 1; j < models.length; j++) {
        const cmp = comparePaired(correctness.get(`${models[i]}/${mode}`)!, correctness.get(`${models[j]}/${mode}`)!);
        comparisons.push({ modelA: models[i], modelB: models[j], mode, n: cmp.n, accuracyDiff: cmp.accuracyDiff, pValue: cmp.pValue });
      }
    }
  }
  return { results, comparisons, categories: [...new Set(records.map((r) => r.category))].sort() };
}
