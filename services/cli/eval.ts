/**
 * `spark eval`: score responses made elsewhere exactly as the MMLU-Pro reference does, and run
 * evaluations of models (base, SFT, SPaRK adapters, or OpenAI-compatible endpoints).
 *
 *   spark eval score --responses FILE.jsonl [--mode strict|random] [--seed N] [--format table|json]
 *   spark eval run --model name=base,backend=openai,url=http://vllm:8000/v1,model=meta-llama/Llama-3.1-8B-Instruct \
 *                  --model name=spark,backend=trainer,base=/models/llama,adapter=runs/ppo/adapter --out DIR
 *
 * `run` talks to an EvaluatorService: the one at `--evaluator ADDR` (then DIR is relative to its
 * artifact root), or one started in this process with the dataset and trajectory services it needs
 * (then DIR is a local folder). It shows progress; Ctrl-C cancels the job, and running the same
 * command again resumes it from DIR/results.jsonl.
 */
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander';
import { createClient, serverStream, unary } from '../common/client.js';
import type { ServiceName } from '../common/config.js';
import { JobState, ModelBackend, type ModelRef } from '../common/gen/spark/v1/common.js';
import { EvaluatorServiceClient, ExtractionMode, Report, StartEvaluationRequest } from '../common/gen/spark/v1/evaluator.js';
import { createProgress, type Progress } from '../common/progress.js';
import { readResponses } from '../evaluator/responses-file.js';
import { EXTRACTION_MODES, REFERENCE_SEED, scoreResponses, type AccuracyFigures, type ExtractionMode as ExtractionName, type ScoreSummary } from '../evaluator/score.js';
import { DEFAULT_CONCURRENCY, DEFAULT_PER_QUESTION_TIMEOUT_MS, ENUM_OF_MODE, EVAL_MODES, modelRefOf, type EvalModeName } from '../evaluator/spec.js';
import { startLocalStack } from './local-stack.js';
import { address, csvList, wholeNumber } from './options.js';

export const OUTPUT_FORMATS = ['table', 'json'] as const;
type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The figures with the JSON field names of `spark eval score --format json`. */
function toJsonFigures(f: AccuracyFigures) {
  return { accuracy: f.accuracy, n: f.n, no_answer: f.noAnswer };
}

/** `{"overall": {...}, "categories": {"<category>": {...}}}`, one line. */
export function summaryToJson(s: ScoreSummary): string {
  return JSON.stringify({
    overall: toJsonFigures(s.overall),
    categories: Object.fromEntries(Object.entries(s.categories).map(([name, f]) => [name, toJsonFigures(f)])),
  });
}

/** A fixed-width table: one row per category, then overall. */
export function summaryToTable(s: ScoreSummary): string {
  const rows: Array<[string, AccuracyFigures]> = [...Object.entries(s.categories), ['overall', s.overall]];
  const width = Math.max('category'.length, ...rows.map(([name]) => name.length));
  const line = (name: string, acc: string, n: string, none: string) => `${name.padEnd(width)}  ${acc.padStart(8)}  ${n.padStart(7)}  ${none.padStart(9)}`;
  return [
    line('category', 'accuracy', 'n', 'no_answer'),
    ...rows.map(([name, f]) => line(name, f.accuracy.toFixed(4), String(f.n), String(f.noAnswer))),
  ].join('\n');
}

function scoreCommand(): Command {
  return new Command('score')
    .description('score responses made elsewhere as the MMLU-Pro reference does (per-category and overall accuracy)')
    .requiredOption('--responses <file>', 'JSONL of {question_id, category, answer, response} (or a reference result .json)')
    .addOption(new Option('--mode <mode>', 'no extractable answer: strict counts it wrong, random guesses A-J').choices(EXTRACTION_MODES).default('strict'))
    .option('--seed <n>', `random mode's seed (the reference uses ${REFERENCE_SEED})`, wholeNumber('--seed'), REFERENCE_SEED)
    .addOption(new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .action((flags: { responses: string; mode: ExtractionName; seed: number; format: OutputFormat }) => {
      const summary = scoreResponses(readResponses(flags.responses), { mode: flags.mode, seed: flags.seed });
      process.stdout.write(`${flags.format === 'json' ? summaryToJson(summary) : summaryToTable(summary)}\n`);
    });
}

/** Keys of a `--model` value, and what each means. */
const MODEL_KEYS: Record<string, string> = {
  name: 'display name (report, metric label)',
  backend: 'openai or trainer',
  url: 'openai: endpoint base URL',
  model: 'openai: model name sent to the endpoint',
  base: 'trainer: base model folder',
  adapter: 'trainer: PEFT adapter folder, relative to the artifact root',
};

/** Parses `name=base,backend=openai,url=...,model=...` into a ModelRef (repeatable flag). */
export function parseModelFlag(value: string, previous: ModelRef[] = []): ModelRef[] {
  const fields: Record<string, string> = {};
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    if (eq < 1 || !(key in MODEL_KEYS)) {
      throw new CommanderArgError(`--model ${JSON.stringify(value)}: ${JSON.stringify(part)} is not key=value with a known key (allowed: ${Object.entries(MODEL_KEYS).map(([k, d]) => `${k} (${d})`).join(', ')})`);
    }
    fields[key] = part.slice(eq + 1).trim();
  }
  if (!fields.name) throw new CommanderArgError(`--model ${JSON.stringify(value)}: name= is required`);
  if (fields.backend !== 'openai' && fields.backend !== 'trainer') throw new CommanderArgError(`--model ${JSON.stringify(value)}: backend must be openai or trainer (got ${JSON.stringify(fields.backend ?? '')})`);
  return [...previous, modelRefOf({ name: fields.name, backend: fields.backend, baseModelPath: fields.base, adapterUri: fields.adapter, endpointBaseUrl: fields.url, endpointModel: fields.model })];
}

interface RunFlags {
  model: ModelRef[]; modes: EvalModeName[]; n: number; perCategory?: boolean; questionIds?: number[]; seed: number; maxSteps: number;
  concurrency: number; timeoutMs: number; extraction: ExtractionName; out: string; requestId?: string; format: OutputFormat;
  evaluator?: string; dataset?: string; trajectory?: string; trainer?: string;
}

async function run(flags: RunFlags): Promise<void> {
  // Local mode: the folder's parent is the artifact root, its name the job's out_dir.
  const local = !flags.evaluator;
  const outDir = local ? basename(resolve(flags.out)) : flags.out;
  const artifactRoot = local ? dirname(resolve(flags.out)) : '';
  const request = StartEvaluationRequest.fromPartial({
    models: flags.model, modes: flags.modes.map((m) => ENUM_OF_MODE[m]), questionIds: flags.questionIds ?? [], n: flags.n, perCategory: !!flags.perCategory,
    seed: flags.seed, maxSteps: flags.maxSteps, concurrency: flags.concurrency, perQuestionTimeoutMs: flags.timeoutMs,
    extraction: flags.extraction === 'random' ? ExtractionMode.EXTRACTION_MODE_RANDOM : ExtractionMode.EXTRACTION_MODE_STRICT, outDir,
  });
  // The same command (same flags, same folder) is the same job: running it again resumes it.
  request.requestId = flags.requestId ?? `cli-eval-${createHash('sha256').update(JSON.stringify([artifactRoot, StartEvaluationRequest.toJSON(request)])).digest('hex').slice(0, 16)}`;
  if (local) mkdirSync(artifactRoot, { recursive: true });
  const needTrainer = flags.model.some((m) => m.backend === ModelBackend.MODEL_BACKEND_TRAINER);
  const wanted: ServiceName[] = ['dataset', 'trajectory', ...(needTrainer ? ['trainer' as const] : []), 'evaluator'];
  const stack = local
    ? await startLocalStack(wanted, {
      artifactRoot, env: process.env,
      given: { ...(flags.dataset && { dataset: flags.dataset }), ...(flags.trajectory && { trajectory: flags.trajectory }), ...(flags.trainer && { trainer: flags.trainer }) },
    })
    : undefined;
  const client = createClient(EvaluatorServiceClient, flags.evaluator ?? stack!.address.evaluator);
  const stopAll = async () => { client.close(); await stack?.stop(); };
  let job;
  try {
    job = await unary(client.startEvaluation.bind(client), request, { timeoutMs: 60_000 });
  } catch (err) {
    await stopAll();
    throw err;
  }
  let progress: Progress | undefined;
  const onSigint = () => { void unary(client.cancelJob.bind(client), { jobId: job.id, reason: 'interrupted (Ctrl-C)' }, { timeoutMs: 10_000 }).catch(() => undefined); };
  process.once('SIGINT', onSigint);
  let last = job;
  let report: Report | undefined;
  try {
    for await (const ev of serverStream(client.watchJob.bind(client), { jobId: job.id, afterSeq: 0 })) {
      const done = ev.metrics['eval/answers_done'];
      if (done === undefined) continue;
      progress ??= createProgress('eval', { unit: 'answers', total: ev.metrics['eval/answers_total'] ?? done });
      progress.update(done);
    }
    last = await unary(client.getJob.bind(client), { jobId: job.id }, { timeoutMs: 10_000 });
    if (last.state === JobState.JOB_STATE_SUCCEEDED) report = await unary(client.getReport.bind(client), { jobId: job.id }, { timeoutMs: 120_000 });
  } finally {
    progress?.stop();
    process.off('SIGINT', onSigint);
    await stopAll();
  }
  if (!report) {
    throw new Error(`evaluation ${JobState[last.state].replace('JOB_STATE_', '').toLowerCase()}: ${last.message} (run the same command again to resume)`);
  }
  if (flags.format === 'json') {
    process.stdout.write(`${JSON.stringify(Report.toJSON(report))}\n`);
    return;
  }
  const where = (uri: string) => (local ? join(artifactRoot, uri) : uri);
  process.stdout.write(`${report.markdownText}\nreport: ${where(report.html!.uri)}\nresults: ${where(`${outDir}/results.jsonl`)}\n`);
}

function runCommand(): Command {
  return new Command('run')
    .description('evaluate models on MMLU-Pro questions, 5-shot CoT and agentic tool use, and write the report')
    .requiredOption('--model <spec>', `a model, repeatable: comma-separated key=value (${Object.keys(MODEL_KEYS).join(', ')})`, parseModelFlag)
    .option('--modes <list>', `modes, comma-separated (${EVAL_MODES.join(', ')})`, csvList((m) => {
      if (!(EVAL_MODES as readonly string[]).includes(m)) throw new CommanderArgError(`--modes: unknown mode ${JSON.stringify(m)} (allowed: ${EVAL_MODES.join(', ')})`);
      return m as EvalModeName;
    }), [...EVAL_MODES])
    .option('--n <n>', 'questions sampled from the shipped eval split (0 = all of it)', wholeNumber('--n', 0), 0)
    .option('--per-category', 'sample the same number of questions from each category')
    .option('--question-ids <list>', 'exactly these question ids, comma-separated', csvList(wholeNumber('--question-ids', 0)))
    .option('--seed <s>', 'seed for sampling, generation and random extraction', wholeNumber('--seed'), 0)
    .option('--max-steps <k>', 'agentic mode: steps before the policy must answer', wholeNumber('--max-steps', 1, 20), 5)
    .option('--concurrency <c>', 'questions in flight at once', wholeNumber('--concurrency', 1, 256), DEFAULT_CONCURRENCY)
    .option('--timeout-ms <ms>', 'time limit per question (then it counts as no answer)', wholeNumber('--timeout-ms', 1), DEFAULT_PER_QUESTION_TIMEOUT_MS)
    .addOption(new Option('--extraction <mode>', 'no extractable answer: strict counts it wrong, random guesses A-J').choices(EXTRACTION_MODES).default('strict'))
    .requiredOption('--out <dir>', 'output folder (results.jsonl, report.html, report.md)')
    .option('--request-id <id>', 'idempotency key (default: derived from the flags, so a rerun resumes)')
    .addOption(new Option('--format <format>', 'what to print at the end: the markdown table or the Report as JSON').choices(OUTPUT_FORMATS).default('table'))
    .option('--evaluator <addr>', 'use a running EvaluatorService instead of starting one here', address('--evaluator'))
    .option('--dataset <addr>', 'DatasetService to use when starting the evaluator here', address('--dataset'))
    .option('--trajectory <addr>', 'TrajectoryService (RunTool) to use when starting the evaluator here', address('--trajectory'))
    .option('--trainer <addr>', 'TrainerService (Generate) to use when starting the evaluator here', address('--trainer'))
    .action(run);
}

export function evalCommand(): Command {
  return new Command('eval')
    .description('score responses, run evaluations, reports')
    .addCommand(scoreCommand())
    .addCommand(runCommand());
}
