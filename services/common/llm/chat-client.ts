/**
 * One resilient chat-completions call to any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, gateways)
 * through the `openai` package. The retry policy is ours, not the package's (`maxRetries: 0`), so it is
 * tested and observable: a concurrency limit, a per-attempt timeout, retries with backoff + jitter on
 * 429/5xx/timeouts/connection errors honouring Retry-After, a circuit breaker, and the caller's signal
 * cancelling whatever is in flight or asleep.
 *
 * Structured output: with `structuredOutput: 'auto'` the first request asks for `response_format:
 * json_schema`; an endpoint that rejects it (400/422 naming response_format) is remembered and asked in
 * plain text from then on, the schema being spelled out in the prompt anyway.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { CancelledError, UpstreamUnavailableError } from '../errors.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';
import { ConcurrencyLimiter } from './limiter.js';
import { backoffDelayMs, retryAfterMs, sleep, type RetryPolicy } from './retry.js';

/** One chat message as OpenAI-compatible endpoints take it. */
export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A JSON schema for `response_format: json_schema` (structured output). */
export interface ResponseSchema {
  name: string;
  schema: Record<string, unknown>;
}

/** Per-call settings on top of the client's defaults. */
export interface CompleteOptions {
  /** Ask for structured output with this schema (when the endpoint supports it). */
  schema?: ResponseSchema;
  /** Stop sequences. */
  stop?: string[];
  /** Overrides the client's completion token cap. */
  maxTokens?: number;
  /** Overrides the client's temperature. */
  temperature?: number;
  seed?: number;
}

export const STRUCTURED_OUTPUT_MODES = ['auto', 'json_schema', 'off'] as const;
export type StructuredOutputMode = (typeof STRUCTURED_OUTPUT_MODES)[number];

/** What one HTTP attempt ended in; bounded, used as a metric label. */
export type AttemptOutcome =
  | 'ok' | 'rate_limited' | 'server_error' | 'timeout' | 'connection_error' | 'client_error'
  | 'bad_response' | 'unsupported_format' | 'breaker_open' | 'cancelled';

export interface ChatClientOptions {
  /** Names the endpoint in errors and logs ("judge endpoint", "generator endpoint"). */
  upstreamName?: string;
  /** Endpoint base URL, e.g. "http://vllm:8000/v1"; unset = api.openai.com. */
  baseUrl?: string;
  apiKey?: string;
  model: string;
  /** Per-attempt timeout, ms. */
  timeoutMs: number;
  /** Completion token cap per call; 0 = the endpoint's default. */
  maxTokens: number;
  temperature: number;
  structuredOutput: StructuredOutputMode;
  retry: RetryPolicy;
  /** Requests in flight at once, across all callers of this client. */
  concurrency: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  /** Told about every attempt and breaker change (metrics). */
  observer?: ChatObserver;
  /** Jitter source (tests pass a fixed one). */
  random?: () => number;
}

export interface ChatObserver {
  attempt(outcome: AttemptOutcome, durationS: number): void;
  breaker(state: BreakerState): void;
}

export interface ChatResult {
  text: string;
  promptTokens: number;
  completionTokens: number;
}

/** Placeholder key for endpoints that need none (vLLM, Ollama); the package refuses an empty one. */
const NO_API_KEY = 'not-needed';

interface Failure {
  outcome: Exclude<AttemptOutcome, 'ok' | 'breaker_open' | 'cancelled'>;
  retryable: boolean;
  /** True when the failure says the endpoint is unhealthy (feeds the breaker). */
  unhealthy: boolean;
  retryAfterMs?: number;
  description: string;
}

/** An attempt that failed, classified once where it happened. */
class AttemptFailed extends Error {
  override readonly name = 'AttemptFailed';
  constructor(readonly failure: Failure, options: { cause: unknown }) {
    super(failure.description, options);
  }
}

export class ChatClient {
  readonly limiter: ConcurrencyLimiter;
  readonly breaker: CircuitBreaker;
  private readonly openai: OpenAI;
  private useSchema: boolean;
  /** What the last failed attempt was, for the breaker's message. */
  private lastFailure = 'none';

  constructor(private readonly opts: ChatClientOptions) {
    this.openai = new OpenAI({
      apiKey: opts.apiKey || NO_API_KEY,
      baseURL: opts.baseUrl,
      maxRetries: 0, // the policy below is the only one
      timeout: opts.timeoutMs * 2, // a backstop: our own per-attempt timeout fires first
    });
    this.limiter = new ConcurrencyLimiter(opts.concurrency);
    this.breaker = new CircuitBreaker({
      failureThreshold: opts.breakerFailures,
      cooldownMs: opts.breakerCooldownMs,
      onStateChange: (state) => opts.observer?.breaker(state),
    });
    this.useSchema = opts.structuredOutput !== 'off';
  }

  private get upstream(): string {
    return this.opts.upstreamName ?? 'LLM endpoint';
  }

  /** Whether requests currently carry `response_format: json_schema`. */
  get structuredOutput(): boolean {
    return this.useSchema;
  }

  /** Sends `messages`, retrying per the policy; throws UpstreamUnavailableError when it gives up. */
  async complete(messages: ChatTurn[], call: CompleteOptions = {}, signal?: AbortSignal): Promise<ChatResult> {
    for (let retry = 0; ; retry += 1) {
      let failed: AttemptFailed;
      try {
        return await this.limiter.run(() => this.attempt(messages, call, signal), signal);
      } catch (err) {
        if (signal?.aborted) throw callerReason(signal);
        if (!(err instanceof AttemptFailed)) throw err; // the breaker is open: fail fast
        failed = err;
      }
      const { failure } = failed;
      if (failure.outcome === 'unsupported_format' && this.opts.structuredOutput === 'auto') {
        this.useSchema = false; // remembered for every later call; this retry is free
        retry -= 1;
        continue;
      }
      if (!failure.retryable || retry >= this.opts.retry.maxRetries) {
        const attempts = retry + 1;
        throw new UpstreamUnavailableError(this.upstream, `${failure.description} (gave up after ${attempts} attempt${attempts === 1 ? '' : 's'})`, { cause: failed });
      }
      await sleep(backoffDelayMs(retry, this.opts.retry, failure.retryAfterMs, this.opts.random), signal).catch(() => {
        throw callerReason(signal!);
      });
    }
  }

  /** One HTTP request, holding a concurrency slot. Failures come out as AttemptFailed, classified. */
  private async attempt(messages: ChatTurn[], call: CompleteOptions, signal?: AbortSignal): Promise<ChatResult> {
    const schema = call.schema;
    if (!this.breaker.allow()) {
      this.opts.observer?.attempt('breaker_open', 0);
      throw new UpstreamUnavailableError(this.upstream, `circuit breaker open after repeated failures (last: ${this.lastFailure}); next probe in ${Math.ceil(this.breaker.retryInMs / 1_000)} s`);
    }
    const started = performance.now();
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    const observe = (outcome: AttemptOutcome) => this.opts.observer?.attempt(outcome, (performance.now() - started) / 1_000);
    try {
      const res = await this.openai.chat.completions.create({
        model: this.opts.model,
        messages,
        temperature: call.temperature ?? this.opts.temperature,
        ...((call.maxTokens ?? this.opts.maxTokens) > 0 ? { max_tokens: call.maxTokens ?? this.opts.maxTokens } : {}),
        ...(call.stop?.length ? { stop: call.stop } : {}),
        ...(call.seed !== undefined ? { seed: call.seed } : {}),
        ...(this.useSchema && schema ? { response_format: { type: 'json_schema', json_schema: { name: schema.name, schema: schema.schema, strict: true } } } : {}),
      }, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      this.breaker.onSuccess();
      observe('ok');
      return {
        text: res.choices?.[0]?.message?.content ?? '',
        promptTokens: res.usage?.prompt_tokens ?? 0,
        completionTokens: res.usage?.completion_tokens ?? 0,
      };
    } catch (err) {
      if (signal?.aborted) {
        this.breaker.onNeutral();
        observe('cancelled');
        throw err;
      }
      const failure = timeout.aborted
        ? { outcome: 'timeout', retryable: true, unhealthy: true, description: `no answer within ${this.opts.timeoutMs} ms` } satisfies Failure
        : classify(err, this.useSchema);
      if (failure.unhealthy) this.breaker.onFailure();
      else this.breaker.onNeutral();
      this.lastFailure = failure.description;
      observe(failure.outcome);
      throw new AttemptFailed(failure, { cause: err });
    }
  }
}

/** The caller's abort reason as one of our errors (deadline or cancellation), never a bare AbortError. */
function callerReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error && reason.name !== 'AbortError' ? reason : new CancelledError('the caller cancelled the LLM call', { cause: reason });
}

function classify(err: unknown, usingSchema: boolean): Failure {
  if (err instanceof APIConnectionTimeoutError) return { outcome: 'timeout', retryable: true, unhealthy: true, description: `timed out: ${err.message}` };
  if (err instanceof APIUserAbortError) return { outcome: 'timeout', retryable: true, unhealthy: true, description: 'request aborted' };
  if (err instanceof APIConnectionError) return { outcome: 'connection_error', retryable: true, unhealthy: true, description: `connection failed: ${err.message}` };
  if (err instanceof APIError && typeof err.status === 'number') {
    const status = err.status;
    const head = `HTTP ${status}: ${firstLine(err.message)}`;
    if (status === 429) return { outcome: 'rate_limited', retryable: true, unhealthy: false, retryAfterMs: retryAfterMs(err.headers), description: head };
    if (status >= 500 || status === 408) return { outcome: 'server_error', retryable: true, unhealthy: true, retryAfterMs: retryAfterMs(err.headers), description: head };
    if (usingSchema && (status === 400 || status === 422) && /response_format|json_schema|structured/i.test(err.message)) {
      return { outcome: 'unsupported_format', retryable: false, unhealthy: false, description: `${head} (the endpoint rejects response_format json_schema; turn structured output off)` };
    }
    return { outcome: 'client_error', retryable: false, unhealthy: false, description: head };
  }
  // A body that is not JSON, a proxy's HTML error page: the endpoint is misbehaving, try again.
  return { outcome: 'bad_response', retryable: true, unhealthy: true, description: `unreadable response: ${err instanceof Error ? firstLine(err.message) : String(err)}` };
}

function firstLine(text: string): string {
  const line = text.split('\n')[0];
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
