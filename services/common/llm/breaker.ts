/**
 * A circuit breaker (closed → open → half-open), so that while the judge endpoint is down every caller
 * gets UNAVAILABLE at once instead of each spending its whole retry budget against a dead server.
 * `failureThreshold` consecutive failures open it; after `cooldownMs` one probe request is let through:
 * success closes it, failure opens it again for another cooldown. Rate limiting (429) is not a failure:
 * the endpoint is up and told us when to come back.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before a probe, ms. */
  cooldownMs: number;
  /** Clock, ms (tests pass their own). */
  now?: () => number;
  /** Called when the state changes (metrics, logs). */
  onStateChange?: (state: BreakerState) => void;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAtMs = 0;
  private probeInFlight = false;
  private current: BreakerState = 'closed';
  private readonly now: () => number;

  constructor(private readonly opts: BreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.current;
  }

  /** Ms until a probe is allowed (0 unless open). */
  get retryInMs(): number {
    return this.current === 'open' ? Math.max(0, this.openedAtMs + this.opts.cooldownMs - this.now()) : 0;
  }

  /** True when a request may go out now. In half-open state only one probe is allowed at a time. */
  allow(): boolean {
    if (this.current === 'open' && this.retryInMs === 0) this.set('half_open');
    if (this.current === 'closed') return true;
    if (this.current === 'half_open' && !this.probeInFlight) {
      this.probeInFlight = true;
      return true;
    }
    return false;
  }

  onSuccess(): void {
    this.failures = 0;
    this.probeInFlight = false;
    if (this.current !== 'closed') this.set('closed');
  }

  onFailure(): void {
    this.failures += 1;
    this.probeInFlight = false;
    if (this.current === 'half_open' || this.failures >= this.opts.failureThreshold) {
      this.openedAtMs = this.now();
      if (this.current !== 'open') this.set('open');
    }
  }

  /** The request ended without telling us anything about the endpoint (caller cancelled, 4xx, 429). */
  onNeutral(): void {
    this.probeInFlight = false;
  }

  private set(state: BreakerState): void {
    this.current = state;
    this.opts.onStateChange?.(state);
  }
}
