/**
 * Evaluation jobs: StartEvaluation validates the request into a spec and starts a job that runs it
 * (runner.ts) and writes the report; GetReport folds the results written so far into a Report (partial
 * while the job runs) and rewrites the report files. Everything a job needs lives in its spec and its
 * out_dir, so a restarted server resumes it from results.jsonl.
 */
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { peerSecurity } from '../common/client.js';
import type { Job } from '../common/gen/spark/v1/common.js';
import { type ModelResult, type Report, type ScoreResponsesRequest, type ScoreResponsesResponse, type StartEvaluationRequest } from '../common/gen/spark/v1/evaluator.js';
import type { JobRunner } from '../common/jobs.js';
import type { Logger } from '../common/logging.js';
import { summarize, type EvalSummary, type ModelModeResult } from './aggregate.js';
import type { ToolRunner } from './agentic.js';
import { createBackend } from './backends.js';
import type { EvaluatorServiceConfig } from './config.js';
import { EvalMetrics } from './metrics.js';
import { readResults, resultsPath, RESULTS_FILE } from './results.js';
import { writeReport } from './report.js';
import { runEvaluation, type RunnerDeps } from './runner.js';
import { REFERENCE_SEED, scoreResponses } from './score.js';
import { ENUM_OF_MODE, evalSpecFrom, extractionOf, type EvalSpec } from './spec.js';

export const EVALUATION_JOB_KIND = 'evaluation';

/** What jobs need from the outside: upstream adapters over gRPC, built once by the server. */
export interface EvaluationsDeps {
  config: EvaluatorServiceConfig;
  log: Logger;
  jobs: JobRunner;
  /** Where the metrics go; each run gets its own EvalMetrics on it. */
  registry: Registry;
  questions: (spec: EvalSpec, signal: AbortSignal) => ReturnType<RunnerDeps['questions']>;
  cotPrompt: RunnerDeps['cotPrompt'];
  runTool: ToolRunner;
}

/** A default out_dir from the request id: readable when it is a plain name, hashed otherwise. */
function defaultOutDir(requestId: string): string {
  const plain = /^[A-Za-z0-9][\w.-]{0,63}$/.test(requestId) ? requestId : createHash('sha256').update(requestId).digest('hex').slice(0, 16);
  return `evaluations/${plain}`;
}

function toModelResult(r: ModelModeResult): ModelResult {
  return {
    model: r.model,
    mode: ENUM_OF_MODE[r.mode],
    overall: r.overall,
    categories: r.categories,
    toolEntropyBits: r.toolEntropyBits,
    normalizedToolEntropy: r.normalizedToolEntropy,
    toolEntropyCiLow: r.toolEntropyCi.low,
    toolEntropyCiHigh: r.toolEntropyCi.high,
    actionCounts: r.actionCounts,
    categoryToolEntropyBits: r.categoryToolEntropyBits,
    malformedToolCalls: r.malformedCalls,
  };
}

/** One line per model and mode, for the job's final message. */
function headline(summary: EvalSummary): string {
  return summary.results.map((r) => `${r.model} ${r.mode}: ${(100 * r.overall.accuracy).toFixed(1)}% of ${r.overall.n}${r.mode === 'agentic' ? `, entropy ${r.toolEntropyBits.toFixed(2)} bits` : ''}`).join('; ');
}

export class Evaluations {
  constructor(private readonly deps: EvaluationsDeps) {}

  private summarize(spec: EvalSpec): EvalSummary {
    const records = readResults(resultsPath(join(this.deps.config.artifactRoot, spec.outDir)));
    return summarize(records, { models: spec.models.map((m) => m.name), modes: spec.modes, bootstrapIterations: this.deps.config.evalBootstrapIterations, seed: spec.seed });
  }

  private writeReport(jobId: string, spec: EvalSpec) {
    const summary = this.summarize(spec);
    return { summary, written: writeReport(summary, this.deps.config.artifactRoot, spec.outDir, `SPaRK evaluation — ${jobId}`) };
  }

  /** StartEvaluation: the same request_id returns (or resumes) the same job. */
  start(req: StartEvaluationRequest): Job {
    const requestId = req.requestId || randomUUID();
    const spec = evalSpecFrom(req, this.deps.config.artifactRoot, defaultOutDir(requestId));
    const { config, log } = this.deps;
    return this.deps.jobs.start(EVALUATION_JOB_KIND, requestId, spec, async (ctx) => {
      const outDirAbs = join(config.artifactRoot, spec.outDir);
      const results = { uri: `${spec.outDir}/${RESULTS_FILE}`, mediaType: 'application/jsonl', sha256: '', sizeBytes: 0 };
      ctx.emit({ message: `results: ${results.uri}`, artifacts: [results] });
      const run = await runEvaluation(spec, outDirAbs, {
        questions: (signal) => this.deps.questions(spec, signal),
        cotPrompt: this.deps.cotPrompt,
        runTool: this.deps.runTool,
        backendFor: (model) => createBackend(model, {
          trainerAddress: config.trainerAddress,
          trainerSecurity: peerSecurity(config),
          openaiApiKey: config.openaiApiKey,
          requestTimeoutMs: config.evalRequestTimeoutMs,
          maxRetries: config.evalMaxRetries,
          concurrency: spec.concurrency,
          trainerBatching: { maxBatch: config.evalTrainerBatchSize, windowMs: config.evalTrainerBatchWindowMs },
        }),
        sampling: { cotMaxTokens: config.evalMaxTokens, stepMaxTokens: config.evalStepMaxTokens, temperature: config.evalTemperature },
        trainerConcurrency: config.evalTrainerConcurrency,
        metrics: new EvalMetrics(this.deps.registry),
        log: log.child({ jobId: ctx.jobId }),
      }, { signal: ctx.signal, emit: (u) => ctx.emit(u) });
      const { summary, written } = this.writeReport(ctx.jobId, spec);
      return {
        message: `${run.records.length} answers (${run.answeredNow} new) over ${run.questions} questions; ${headline(summary)}; report: ${written.html.uri}`,
        artifacts: [results, written.html, written.markdown],
      };
    });
  }

  /** GetReport: the report of the results so far (final once the job succeeded). */
  report(jobId: string): Report {
    const spec = this.deps.jobs.specOf(jobId) as EvalSpec;
    const { summary, written } = this.writeReport(jobId, spec);
    return {
      jobId,
      results: summary.results.map(toModelResult),
      comparisons: summary.comparisons.map((c) => ({ modelA: c.modelA, modelB: c.modelB, mode: ENUM_OF_MODE[c.mode], accuracyDiff: c.accuracyDiff, pValue: c.pValue })),
      html: written.html,
      markdown: written.markdown,
      markdownText: written.markdownText,
    };
  }
}

/** ScoreResponses: the reference extraction over responses made elsewhere. Seed 0 = the reference's 12345. */
export function scoreResponsesRpc(req: ScoreResponsesRequest): ScoreResponsesResponse {
  return scoreResponses(req.responses, { mode: extractionOf(req.extraction), seed: req.seed || REFERENCE_SEED });
}
