/**
 * The judge's Prometheus metrics (DESIGN.md §7) and the counters GetStats reports. Labels stay bounded:
 * `backend` is "offline" or "openai:<model>" (one per process), `outcome` and `kind` are fixed lists.
 * Cost comes from a price table in US dollars per million tokens, configurable per model.
 */
import type { Registry } from 'prom-client';
import { counter, gauge, histogram } from '../common/metrics.js';
import type { GetStatsResponse } from '../common/gen/spark/v1/judge.js';
import type { BreakerState } from '../common/llm/breaker.js';
import type { AttemptOutcome, ChatObserver } from '../common/llm/chat-client.js';

/** How a scoring request (ScoreCandidates or ScoreAnswer) ended. */
export type RequestOutcome = 'ok' | 'invalid_argument' | 'invalid_output' | 'unavailable' | 'cancelled' | 'deadline_exceeded' | 'error';

/** Price of a model, US dollars per million tokens. */
export interface ModelPrice {
  prompt: number;
  completion: number;
}

/** List prices (per million tokens) of common judge models; SPARK_JUDGE_PRICES adds or overrides entries. */
export const DEFAULT_PRICES_USD_PER_MTOK: Readonly<Record<string, ModelPrice>> = {
  'gpt-4o': { prompt: 2.5, completion: 10 },
  'gpt-4o-mini': { prompt: 0.15, completion: 0.6 },
  'gpt-4.1': { prompt: 2, completion: 8 },
  'gpt-4.1-mini': { prompt: 0.4, completion: 1.6 },
  'gpt-4.1-nano': { prompt: 0.1, completion: 0.4 },
};

/** Judge latencies: a cached or offline verdict takes microseconds, an LLM call up to minutes. */
const DURATION_BUCKETS_S = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** Integer buckets over 0..10, with 6.0 (the viability threshold) an edge. */
const SCORE_BUCKETS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

export class JudgeMetrics implements ChatObserver {
  private readonly requests;
  private readonly duration;
  private readonly tokens;
  private readonly cacheHits;
  private readonly cost;
  private readonly score;
  private readonly attempts;
  private readonly breakerOpen;
  private readonly price: ModelPrice | undefined;
  private readonly counts = { requests: 0, cacheHits: 0, errors: 0, promptTokens: 0, completionTokens: 0, costUsd: 0 };

  constructor(registry: Registry, readonly backend: string, model: string, prices: Record<string, ModelPrice> = {}) {
    this.requests = counter(registry, 'spark_judge_requests_total', 'Judge scoring requests by backend and outcome', ['backend', 'outcome'] as const);
    this.duration = histogram(registry, 'spark_judge_request_duration_seconds', 'Judge scoring request duration, seconds', DURATION_BUCKETS_S, ['backend'] as const);
    this.tokens = counter(registry, 'spark_judge_tokens_total', 'Judge LLM tokens billed, by kind (prompt, completion)', ['backend', 'kind'] as const);
    this.cacheHits = counter(registry, 'spark_judge_cache_hits_total', 'Verdicts served from the judge cache', ['backend'] as const);
    this.cost = counter(registry, 'spark_judge_cost_usd_total', 'Estimated judge cost from the price table, US dollars', ['backend'] as const);
    this.score = histogram(registry, 'spark_judge_score', 'Scores given by the judge, 0..10', SCORE_BUCKETS, ['backend'] as const);
    this.attempts = counter(registry, 'spark_judge_llm_attempts_total', 'HTTP attempts to the judge endpoint by outcome (retries included)', ['outcome'] as const);
    this.breakerOpen = gauge(registry, 'spark_judge_circuit_open', '1 while the judge circuit breaker is open or probing, else 0');
    this.price = { ...DEFAULT_PRICES_USD_PER_MTOK, ...prices }[model];
  }

  /** Whether the model has a price (cost stays 0 otherwise). */
  get priced(): boolean {
    return !!this.price;
  }

  request(outcome: RequestOutcome, durationS: number): void {
    this.requests.inc({ backend: this.backend, outcome });
    this.duration.observe({ backend: this.backend }, durationS);
    if (outcome === 'ok') this.counts.requests += 1;
    if (outcome === 'invalid_output' || outcome === 'unavailable' || outcome === 'error') this.counts.errors += 1;
  }

  usage(promptTokens: number, completionTokens: number): void {
    if (!promptTokens && !completionTokens) return;
    this.tokens.inc({ backend: this.backend, kind: 'prompt' }, promptTokens);
    this.tokens.inc({ backend: this.backend, kind: 'completion' }, completionTokens);
    this.counts.promptTokens += promptTokens;
    this.counts.completionTokens += completionTokens;
    if (this.price) {
      const usd = (promptTokens * this.price.prompt + completionTokens * this.price.completion) / 1e6;
      this.cost.inc({ backend: this.backend }, usd);
      this.counts.costUsd += usd;
    }
  }

  cacheHit(count = 1): void {
    if (!count) return;
    this.cacheHits.inc({ backend: this.backend }, count);
    this.counts.cacheHits += count;
  }

  scored(score: number): void {
    this.score.observe({ backend: this.backend }, score);
  }

  /** ChatObserver: one HTTP attempt ended. */
  attempt(outcome: AttemptOutcome): void {
    this.attempts.inc({ outcome });
  }

  /** ChatObserver: the breaker changed state. */
  breaker(state: BreakerState): void {
    this.breakerOpen.set(state === 'closed' ? 0 : 1);
  }

  /** A judge reply that could not be used (before or after its repair). */
  invalidReply(): void {
    this.attempts.inc({ outcome: 'invalid_output' });
  }

  stats(): GetStatsResponse {
    return { ...this.counts, backend: this.backend };
  }
}
