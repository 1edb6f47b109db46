import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from './breaker.js';

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, probes once after the cooldown, closes on success', () => {
    let now = 0;
    const states: BreakerState[] = [];
    const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1_000, now: () => now, onStateChange: (s) => states.push(s) });
    b.onFailure();
    b.onSuccess(); // a success resets the count
    for (let i = 0; i < 3; i += 1) {
      expect(b.allow()).toBe(true);
      b.onFailure();
    }
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
    expect(b.retryInMs).toBe(1_000);
    now = 1_000;
    expect(b.allow()).toBe(true); // the probe
    expect(b.allow()).toBe(false); // only one at a time
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(states).toEqual(['open', 'half_open', 'closed']);
  });

  it('a failed probe opens it again for a full cooldown; a neutral end frees the probe', () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 100, now: () => now });
    b.onFailure();
    now = 100;
    expect(b.allow()).toBe(true);
    b.onNeutral();
    expect(b.allow()).toBe(true);
    b.onFailure();
    expect(b.state).toBe('open');
    now = 150;
    expect(b.allow()).toBe(false);
  });
});
