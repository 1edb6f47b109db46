/**
 * Retry timing for judge calls: exponential backoff with "equal jitter" (half fixed, half random, so
 * retries spread out but never collapse to zero), raised to the server's `Retry-After` when it asks for
 * longer, and capped. Sleeping is cancellable by the caller's signal, so a retry never outlives the
 * caller's deadline. https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */

export interface RetryPolicy {
  /** Retries after the first attempt (0 = try once). */
  maxRetries: number;
  /** Backoff before the first retry, ms; doubles each retry. */
  baseDelayMs: number;
  /** No wait is longer than this, Retry-After included, ms. */
  maxDelayMs: number;
}

/** Delay before retry number `retry` (0-based), ms. `retryAfterMs` is the server's wish, if any. */
export function backoffDelayMs(retry: number, policy: RetryPolicy, retryAfterMs?: number, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  const jittered = exponential / 2 + (random() * exponential) / 2;
  return Math.min(policy.maxDelayMs, Math.max(jittered, retryAfterMs ?? 0));
}

interface HeaderBag {
  get(name: string): string | null;
}

/**
 * The server's requested wait, ms: `retry-after-ms` (OpenAI's), else `Retry-After` as seconds or an HTTP
 * date. Undefined when absent or unreadable.
 */
export function retryAfterMs(headers: HeaderBag | undefined, nowMs = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get('retry-after');
  if (raw === null || raw.trim() === '') return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1_000 : undefined;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - nowMs) : undefined;
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
