/**
 * Runs an evaluation: every model answers every question in every mode, each within its own time limit.
 * OPENAI-backend models answer `concurrency` questions at a time (the endpoint's limit); TRAINER-backend
 * models keep at least `trainerConcurrency` in flight, since their generation calls are batched and a
 * batch is only as full as the questions waiting on it. Each answer is scored at once with the reference
 * extraction and appended to results.jsonl, which makes the job resumable (done triples are skipped) and
 * feeds the live metrics. Questions are interleaved across models and modes so all of them progress
 * together.
 *
 * A question that runs out of time is recorded as `timeout` (no answer). Anything else that fails —
 * an endpoint down after its retries, a service unreachable — stops the job; what was done is kept,
 * and starting the job again resumes it.
 */
import { repairJsonlTail } from '../common/files.js';
import type { ChatMessage, Question } from '../common/gen/spark/v1/common.js';
import type { Logger } from '../common/logging.js';
import { createRng, deriveSeed } from '../common/random.js';
import { answerAgentic, type ToolRunner } from './agentic.js';
import type { ModelBackend } from './backends.js';
import { stripMarkdownBold } from './extract.js';
import type { EvalMetrics } from './metrics.js';
import { appendResult, readResults, recordKey, resultsPath, type EvalRecord, type LoggedStep, type Outcome } from './results.js';
import { scoreOne } from './score.js';
import type { EvalModeName, EvalSpec, ModelSpec } from './spec.js';

/** The reference CoT generation stops when the model starts another question. */
export const COT_STOP = ['Question:'];
/** Progress events at most this often (each is a line in the job's event log). */
const EMIT_EVERY_MS = 1_000;

export interface RunnerDeps {
  questions(signal: AbortSignal): Promise<Question[]>;
  cotPrompt(questionId: number, signal: AbortSignal): Promise<ChatMessage[]>;
  runTool: ToolRunner;
  backendFor(model: ModelSpec): ModelBackend;
  sampling: { cotMaxTokens: number; stepMaxTokens: number; temperature: number };
  /** Questions in flight at once for TRAINER-backend models (at least the spec's concurrency). */
  trainerConcurrency?: number;
  metrics?: EvalMetrics;
  log: Logger;
}

export interface RunContext {
  signal: AbortSignal;
  /** Progress: fraction done and verl-style metrics. */
  emit(update: { progress: number; metrics: Record<string, number>; message?: string }): void;
}

export interface RunOutcome {
  records: EvalRecord[];
  /** Answers produced by this run (the rest were already on disk). */
  answeredNow: number;
  questions: number;
}

interface Item { question: Question; model: ModelSpec; mode: EvalModeName }

/** The letter guessed for a missing answer in random mode: fixed per (seed, model, mode, question), whatever the order. */
function guessRng(spec: EvalSpec, item: Item) {
  return createRng(deriveSeed(spec.seed, `${item.model.name}/${item.mode}/${item.question.questionId}`));
}

async function answer(item: Item, spec: EvalSpec, backend: ModelBackend, deps: RunnerDeps, signal: AbortSignal): Promise<{ response: string; steps: LoggedStep[]; actions: string[]; tokens?: number }> {
  const { question } = item;
  if (item.mode === 'cot_5shot') {
    const messages = await deps.cotPrompt(question.questionId, signal);
    const out = await backend.generate(messages, { maxTokens: deps.sampling.cotMaxTokens, temperature: deps.sampling.temperature, stop: COT_STOP, seed: spec.seed }, signal);
    return { response: out.text, steps: [], actions: [], tokens: out.tokens };
  }
  const res = await answerAgentic(question, backend, deps.runTool, {
    maxSteps: spec.maxSteps,
    sampling: { maxTokens: deps.sampling.stepMaxTokens, temperature: deps.sampling.temperature, seed: spec.seed },
  }, signal);
  const steps = res.steps.map((s, i): LoggedStep => (s.toolCall
    ? { action: s.action, input: s.toolCall.inputJson, output: s.toolCall.output, ...(s.toolCall.error ? { error: s.toolCall.error } : {}) }
    : { action: s.action, output: s.thought, ...(res.malformed[i] ? { malformed: res.malformed[i] } : {}) }));
  return { response: res.response, steps, actions: res.steps.map((s) => s.action), tokens: res.tokens };
}

/** Answers and scores one (question, model, mode); a per-question timeout becomes a `timeout` record. */
async function evaluateItem(item: Item, spec: EvalSpec, backend: ModelBackend, deps: RunnerDeps, jobSignal: AbortSignal): Promise<EvalRecord> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(spec.perQuestionTimeoutMs);
  let got: Awaited<ReturnType<typeof answer>> | undefined;
  try {
    got = await answer(item, spec, backend, deps, AbortSignal.any([jobSignal, timeout]));
  } catch (err) {
    if (jobSignal.aborted || !timeout.aborted) throw err;
  }
  const response = got?.response ?? '';
  const scored = scoreOne(backend.runner === 'api' ? stripMarkdownBold(response) : response, item.question.answer, spec.extraction, guessRng(spec, item));
  const outcome: Outcome = !got ? 'timeout' : !scored.rule ? 'no_answer' : scored.correct ? 'correct' : 'wrong';
  return {
    model: item.model.name,
    mode: item.mode,
    question_id: item.question.questionId,
    category: item.question.category,
    answer: item.question.answer,
    response,
    predicted: scored.predicted ?? null,
    rule: scored.rule ?? null,
    guessed: scored.guessed,
    correct: scored.correct,
    outcome,
    actions: got?.actions ?? [],
    ...(got?.steps.length ? { steps: got.steps } : {}),
    ...(got?.tokens !== undefined ? { tokens: got.tokens } : {}),
    duration_ms: Math.round(performance.now() - started),
  };
}

/** verl-style job metrics of the records so far. */
function progressMetrics(records: readonly EvalRecord[], total: number): Record<string, number> {
  const metrics: Record<string, number> = { 'eval/answers_done': records.length, 'eval/answers_total': total };
  const groups = new Map<string, { correct: number; n: number }>();
  for (const r of records) {
    const g = groups.get(`${r.model}/${r.mode}`) ?? { correct: 0, n: 0 };
    g.n += 1;
    if (r.correct) g.correct += 1;
    groups.set(`${r.model}/${r.mode}`, g);
  }
  for (const [key, g] of groups) metrics[`eval/${key}/accuracy`] = g.correct / g.n;
  return metrics;
}

/** Runs (or resumes) the evaluation into `outDirAbs`/results.jsonl. */
export async function runEvaluation(spec: EvalSpec, outDirAbs: string, deps: RunnerDeps, ctx: RunContext): Promise<RunOutcome> {
  const path = resultsPath(outDirAbs);
  repairJsonlTail(path);
  const records = readResults(path);
  deps.metrics?.seed(records);
  const done = new Set(records.map(recordKey));
  const questions = await deps.questions(ctx.signal);
  const items: Item[] = [];
  for (const question of questions) {
    for (const model of spec.models) {
      for (const mode of spec.modes) {
        if (!done.has(recordKey({ model: model.name, mode, question_id: question.questionId }))) items.push({ question, model, mode });
      }
    }
  }
  const total = questions.length * spec.models.length * spec.modes.length;
  deps.log.info({ total, done: records.length, todo: items.length, out: path }, records.length ? 'resuming evaluation' : 'starting evaluation');
  ctx.emit({ progress: total ? records.length / total : 1, metrics: progressMetrics(records, total), message: `${records.length}/${total} answers on disk, ${items.length} to go` });

  const backends = new Map(spec.models.map((m) => [m.name, deps.backendFor(m)]));
  // The first failure stops the other workers; their questions are asked again on resume.
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  // One lane per kind of backend, each with its own width; items keep their interleaved order.
  const trainerWidth = Math.max(spec.concurrency, deps.trainerConcurrency ?? 0);
  const lanes = [
    { items: items.filter((i) => i.model.backend === 'trainer'), width: trainerWidth, next: 0 },
    { items: items.filter((i) => i.model.backend !== 'trainer'), width: spec.concurrency, next: 0 },
  ];
  let answeredNow = 0;
  let lastEmit = 0;
  const worker = async (lane: (typeof lanes)[number]) => {
    while (lane.next < lane.items.length && !signal.aborted) {
      const item = lane.items[lane.next++];
      const record = await evaluateItem(item, spec, backends.get(item.model.name)!, deps, signal);
      appendResult(path, record);
      records.push(record);
      answeredNow += 1;
      deps.metrics?.observe(record);
      if (Date.now() - lastEmit >= EMIT_EVERY_MS || records.length === total) {
        lastEmit = Date.now();
        ctx.emit({ progress: records.length / total, metrics: progressMetrics(records, total) });
      }
    }
  };
  try {
    const workers = lanes.flatMap((lane) => Array.from({ length: Math.min(lane.width, lane.items.length) }, () => worker(lane).catch((err: unknown) => {
      stop.abort(err);
      throw err;
    })));
    const settled = await Promise.allSettled(workers);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (stop.signal.aborted) throw stop.signal.reason;
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    for (const b of backends.values()) b.close();
  }
  return { records, answeredNow, questions: questions.length };
}
