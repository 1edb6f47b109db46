/**
 * The evaluator's Prometheus metrics, updated as each question's result arrives so a dashboard fills in
 * live:
 *   spark_eval_accuracy_ratio{model,mode,category}   accuracy so far (micro, per category)
 *   spark_eval_tool_entropy_bits{model}              tool-selection entropy so far (agentic mode)
 *   spark_eval_questions_total{model,mode,outcome}   questions done: correct, wrong, no_answer, timeout
 * `mode` (cot_5shot, agentic) is there because one model is evaluated both ways and the two
 * accuracies differ; dashboards that ignore it see the series side by side. Labels stay bounded: a few
 * models, 2 modes, 14 categories, 4 outcomes.
 */
import type { Registry } from 'prom-client';
import { shannonEntropyBits } from '../common/entropy.js';
import { counter, gauge } from '../common/metrics.js';
import type { EvalRecord } from './results.js';
import { toolChoices } from './aggregate.js';
import { AccuracyTally } from './score.js';

/** Registers (or finds) the metrics, so they are on /metrics from the start, before any evaluation. */
export function evalMetrics(registry: Registry) {
  return {
    accuracy: gauge(registry, 'spark_eval_accuracy_ratio', 'Evaluation accuracy so far, by model, mode and MMLU-Pro category', ['model', 'mode', 'category']),
    entropy: gauge(registry, 'spark_eval_tool_entropy_bits', 'Tool-selection entropy of a model\'s agentic steps so far, bits', ['model']),
    questions: counter(registry, 'spark_eval_questions_total', 'Questions evaluated, by model, mode and outcome', ['model', 'mode', 'outcome']),
  };
}

/**
 * The metrics of one evaluation run: its own running totals (so a job resumed in the same process is
 * not counted twice), published to the service's shared gauges.
 */
export class EvalMetrics {
  private readonly m;
  private readonly tallies = new Map<string, AccuracyTally>();
  private readonly actionCounts = new Map<string, Record<string, number>>();

  constructor(registry: Registry) {
    this.m = evalMetrics(registry);
  }

  /** Folds in results already on disk (a resumed job) without counting them as new questions. */
  seed(records: readonly EvalRecord[]): void {
    for (const r of records) this.update(r);
  }

  /** A new result. */
  observe(r: EvalRecord): void {
    this.m.questions.inc({ model: r.model, mode: r.mode, outcome: r.outcome });
    this.update(r);
  }

  private update(r: EvalRecord): void {
    const key = `${r.model}\u0000${r.mode}`;
    const tally = this.tallies.get(key) ?? new AccuracyTally();
    this.tallies.set(key, tally);
    tally.add(r.category, r.correct, r.predicted === null || r.guessed);
    this.m.accuracy.set({ model: r.model, mode: r.mode, category: r.category }, tally.category(r.category).accuracy);
    if (r.mode !== 'agentic') return;
    const counts = this.actionCounts.get(r.model) ?? {};
    this.actionCounts.set(r.model, counts);
    for (const a of toolChoices(r.actions)) counts[a] = (counts[a] ?? 0) + 1;
    this.m.entropy.set({ model: r.model }, shannonEntropyBits(counts));
  }
}
