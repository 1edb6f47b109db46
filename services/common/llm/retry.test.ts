import { describe, expect, it } from 'vitest';
import { backoffDelayMs, retryAfterMs, sleep } from './retry.js';

const policy = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1_000 };
const headers = (h: Record<string, string>) => ({ get: (name: string) => h[name] ?? null });

describe('backoffDelayMs', () => {
  it('doubles per retry with equal jitter and stays under the cap', () => {
    expect(backoffDelayMs(0, policy, undefined, () => 0)).toBe(50);
    expect(backoffDelayMs(0, policy, undefined, () => 1)).toBe(100);
    expect(backoffDelayMs(2, policy, undefined, () => 0)).toBe(200);
    expect(backoffDelayMs(10, policy, undefined, () => 1)).toBe(1_000);
  });

  it('waits at least what Retry-After asks, up to the cap', () => {
    expect(backoffDelayMs(0, policy, 700, () => 0)).toBe(700);
    expect(backoffDelayMs(0, policy, 5_000, () => 0)).toBe(1_000);
  });
});

describe('retryAfterMs', () => {
  it('reads retry-after-ms, seconds and HTTP dates', () => {
    expect(retryAfterMs(headers({ 'retry-after-ms': '250' }))).toBe(250);
    expect(retryAfterMs(headers({ 'retry-after': '2' }))).toBe(2_000);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs(headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:03 GMT' }), now)).toBe(3_000);
  });

  it('ignores absent or unreadable values', () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs(headers({}))).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }))).toBeUndefined();
  });
});

describe('sleep', () => {
  it('rejects with the abort reason when the signal fires', async () => {
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort(new Error('deadline'));
    await expect(pending).rejects.toThrow('deadline');
  });
});
