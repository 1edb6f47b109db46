/**
 * The judge as the service and the CLI see it: validates a request, serves what it can from the cache,
 * sends only the misses to the backend (LLM or offline), applies the viability threshold (score >
 * threshold, paper default 6.0), and records metrics. `createJudge` builds one from validated settings,
 * so `spark serve judge` and `spark judge score` share backend, cache and config.
 */
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { InvalidArgumentError, isCancelledError, isDeadlineError, UpstreamUnavailableError } from '../common/errors.js';
import type { Candidate, Question, Step } from '../common/gen/spark/v1/common.js';
import {
  JudgeMode as ProtoJudgeMode,
  type GetStatsResponse,
  type ScoreAnswerRequest,
  type ScoreAnswerResponse,
  type ScoreCandidatesRequest,
  type ScoreCandidatesResponse,
} from '../common/gen/spark/v1/judge.js';
import type { Logger } from '../common/logging.js';
import { extractAnswer } from './answer.js';
import type { JudgeBackend, JudgeMode } from './backend.js';
import { cacheKey, VerdictCache, type CacheKeyParts } from './cache.js';
import { resolveBackend, type JudgeSettings } from './config.js';
import { ChatClient } from '../common/llm/chat-client.js';
import { LlmJudge, UnusableVerdictError } from './llm-judge.js';
import { JudgeMetrics, type RequestOutcome } from './metrics.js';
import { offlineBackend } from './offline-judge.js';
import { loadJudgePrompt, renderCandidate, type JudgeContext, type JudgePrompt } from './prompt.js';
import type { Verdict } from './verdict.js';

/** Letters A..J: MMLU-Pro has at most 10 options. */
const MAX_OPTIONS = 10;
/** 9 built-in actions, plus room for MCP tools. */
const MAX_CANDIDATES = 64;

export interface JudgeOptions {
  backend: JudgeBackend;
  prompt: JudgePrompt;
  metrics: JudgeMetrics;
  /** Absent: no cache. */
  cache?: VerdictCache;
  defaultThreshold: number;
  defaultMode: JudgeMode;
}

export class Judge {
  constructor(private readonly opts: JudgeOptions) {}

  get backendName(): string {
    return this.opts.backend.name;
  }

  async scoreCandidates(req: ScoreCandidatesRequest, signal?: AbortSignal): Promise<ScoreCandidatesResponse> {
    return this.measure(async () => {
      const ctx = contextOf(req.question, req.stepsSoFar);
      const threshold = thresholdOf(req.threshold, this.opts.defaultThreshold);
      const mode = modeOf(req.mode, this.opts.defaultMode);
      if (!req.candidates.length) throw new InvalidArgumentError('candidates', 'at least one candidate is required');
      if (req.candidates.length > MAX_CANDIDATES) throw new InvalidArgumentError('candidates', `${req.candidates.length} candidates is too many`, `1..${MAX_CANDIDATES}`);
      req.candidates.forEach((c, i) => {
        if (!c.action.trim()) throw new InvalidArgumentError(`candidates[${i}].action`, 'must not be empty', 'a tool name or "cot"');
      });

      const keys = req.candidates.map((c) => this.keyFor(ctx, 'candidate', subjectOf(c)));
      const verdicts: Array<Verdict | undefined> = this.opts.cache && this.opts.backend.cacheable
        ? this.opts.cache.getMany(keys as string[])
        : keys.map(() => undefined);
      const cachedFlags = verdicts.map((v) => v !== undefined);
      const misses = req.candidates.map((_, i) => i).filter((i) => !verdicts[i]);
      this.opts.metrics.cacheHit(req.candidates.length - misses.length);

      let usage = { promptTokens: 0, completionTokens: 0 };
      if (misses.length) {
        const out = await this.opts.backend.scoreCandidates(ctx, misses.map((i) => req.candidates[i]), mode, signal);
        usage = out.usage;
        const fresh = misses.map((candidateIndex, j) => {
          const verdict = out.verdicts[j];
          verdicts[candidateIndex] = verdict;
          this.opts.metrics.scored(verdict.score);
          return { key: keys[candidateIndex], verdict };
        });
        this.opts.cache?.putMany(fresh.filter((f): f is { key: string; verdict: Verdict } => !!f.key), this.opts.backend.name);
      }
      return {
        scores: verdicts.map((v, i) => ({ score: v!.score, viable: v!.score > threshold, rationale: v!.rationale, cached: cachedFlags[i] })),
        usage: { ...usage, cached: misses.length === 0 },
        backend: this.opts.backend.name,
        promptVersion: this.opts.prompt.version,
        threshold,
      };
    });
  }

  async scoreAnswer(req: ScoreAnswerRequest, signal?: AbortSignal): Promise<ScoreAnswerResponse> {
    return this.measure(async () => {
      const ctx = contextOf(req.question, req.stepsSoFar);
      if (!req.answerText.trim()) throw new InvalidArgumentError('answer_text', 'must not be empty', 'text ending in "the answer is (X)"');
      const key = this.keyFor(ctx, 'answer', req.answerText.trim());
      let verdict = key ? this.opts.cache!.get(key) : undefined;
      const cached = verdict !== undefined;
      let usage = { promptTokens: 0, completionTokens: 0 };
      if (verdict) {
        this.opts.metrics.cacheHit();
      } else {
        const out = await this.opts.backend.scoreAnswer(ctx, req.answerText, signal);
        ({ verdict, usage } = out);
        this.opts.metrics.scored(verdict.score);
        if (key) this.opts.cache!.put(key, verdict, this.opts.backend.name);
      }
      const claim = extractAnswer(req.answerText, ctx.question.options.length);
      const extracted = claim?.validLetter ? claim.letter : '';
      return {
        score: verdict.score,
        extractedAnswer: extracted,
        correct: !!extracted && extracted === ctx.question.answer.toUpperCase(),
        rationale: verdict.rationale,
        usage: { ...usage, cached },
        backend: this.opts.backend.name,
      };
    });
  }

  stats(): GetStatsResponse {
    return this.opts.metrics.stats();
  }

  /** Runs one scoring request, recording its outcome and duration whatever happens. */
  private async measure<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let outcome: RequestOutcome = 'ok';
    try {
      return await work();
    } catch (err) {
      outcome = outcomeOf(err);
      throw err;
    } finally {
      this.opts.metrics.request(outcome, (performance.now() - started) / 1_000);
    }
  }

  private keyFor(ctx: JudgeContext, kind: CacheKeyParts['kind'], subject: unknown): string | undefined {
    if (!this.opts.cache || !this.opts.backend.cacheable) return undefined;
    const q = ctx.question;
    return cacheKey({
      backend: this.opts.backend.name,
      promptVersion: this.opts.prompt.version,
      promptSha256: this.opts.prompt.sha256,
      kind,
      question: [q.questionId, q.question, q.options, q.answer],
      steps: ctx.stepsSoFar.map(subjectOf),
      subject,
    });
  }
}

/** Exactly what the prompt shows of a step, so the cache key covers what the judge saw and no more. */
function subjectOf(step: Candidate | Step): string {
  return renderCandidate({ action: step.action, thought: step.thought, toolCall: step.toolCall });
}

function contextOf(question: Question | undefined, stepsSoFar: Step[]): JudgeContext {
  if (!question) throw new InvalidArgumentError('question', 'is required');
  if (!question.question.trim()) throw new InvalidArgumentError('question.question', 'must not be empty');
  if (question.options.length < 2 || question.options.length > MAX_OPTIONS) {
    throw new InvalidArgumentError('question.options', `${question.options.length} options`, `2..${MAX_OPTIONS}`);
  }
  return { question, stepsSoFar };
}

function thresholdOf(requested: number | undefined, fallback: number): number {
  if (requested === undefined) return fallback;
  if (!Number.isFinite(requested) || requested < 0 || requested > 10) throw new InvalidArgumentError('threshold', `${requested} is out of range`, '0..10');
  return requested;
}

function modeOf(mode: ProtoJudgeMode, fallback: JudgeMode): JudgeMode {
  switch (mode) {
    case ProtoJudgeMode.JUDGE_MODE_UNSPECIFIED: return fallback;
    case ProtoJudgeMode.JUDGE_MODE_BATCH: return 'batch';
    case ProtoJudgeMode.JUDGE_MODE_SINGLE: return 'single';
    default: throw new InvalidArgumentError('mode', `unknown value ${mode}`, 'JUDGE_MODE_BATCH, JUDGE_MODE_SINGLE');
  }
}

function outcomeOf(err: unknown): RequestOutcome {
  if (err instanceof InvalidArgumentError) return 'invalid_argument';
  if (isDeadlineError(err)) return 'deadline_exceeded';
  if (isCancelledError(err)) return 'cancelled';
  if (err instanceof UnusableVerdictError) return 'invalid_output';
  if (err instanceof UpstreamUnavailableError) return 'unavailable';
  return 'error';
}

export interface CreateJudgeOptions {
  registry: Registry;
  log?: Logger;
}

/** Builds a judge from validated settings: backend, prompt, cache (`<artifactRoot>/judge/cache.jsonl`), metrics. */
export function createJudge(settings: JudgeSettings, opts: CreateJudgeOptions): Judge {
  const prompt = loadJudgePrompt(settings.judgePromptFile);
  const kind = resolveBackend(settings);
  const backendName = kind === 'offline' ? offlineBackend.name : `openai:${settings.judgeModel}`;
  const metrics = new JudgeMetrics(opts.registry, backendName, settings.judgeModel, settings.judgePrices);
  let backend: JudgeBackend = offlineBackend;
  if (kind === 'openai') {
    const chat = new ChatClient({
      upstreamName: 'judge endpoint',
      baseUrl: settings.judgeBaseUrl,
      apiKey: settings.openaiApiKey,
      model: settings.judgeModel,
      timeoutMs: settings.judgeTimeoutMs,
      maxTokens: settings.judgeMaxTokens,
      temperature: settings.judgeTemperature,
      structuredOutput: settings.judgeStructuredOutput,
      retry: { maxRetries: settings.judgeMaxRetries, baseDelayMs: settings.judgeRetryBaseMs, maxDelayMs: settings.judgeRetryMaxMs },
      concurrency: settings.judgeConcurrency,
      breakerFailures: settings.judgeBreakerFailures,
      breakerCooldownMs: settings.judgeBreakerCooldownMs,
      observer: metrics,
    });
    backend = new LlmJudge(chat, prompt, settings.judgeModel, {
      invalidReply: (problem) => { metrics.invalidReply(); opts.log?.warn({ problem }, 'judge reply unusable'); },
      usage: (p, c) => metrics.usage(p, c),
    });
    if (!metrics.priced) opts.log?.warn({ model: settings.judgeModel }, 'no price for the judge model: cost metrics stay 0 (set SPARK_JUDGE_PRICES)');
  }
  const cache = settings.judgeCache === 'on' && backend.cacheable
    ? new VerdictCache(join(settings.artifactRoot, 'judge', 'cache.jsonl'), opts.log)
    : undefined;
  opts.log?.info({ backend: backend.name, promptVersion: prompt.version, mode: settings.judgeMode, cache: cache?.path ?? 'off' }, 'judge ready');
  return new Judge({ backend, prompt, metrics, cache, defaultThreshold: settings.judgeThreshold, defaultMode: settings.judgeMode });
}
