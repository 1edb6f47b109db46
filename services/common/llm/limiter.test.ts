import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter } from './limiter.js';

describe('ConcurrencyLimiter', () => {
  it('never runs more than the limit, and runs everything', async () => {
    const limiter = new ConcurrencyLimiter(3);
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await Promise.all(Array.from({ length: 20 }, (_, i) => limiter.run(async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      running -= 1;
      done.push(i);
    })));
    expect(peak).toBe(3);
    expect(done).toHaveLength(20);
    expect(limiter.inFlight).toBe(0);
  });

  it('a waiter whose signal aborts leaves the queue without a slot', async () => {
    const limiter = new ConcurrencyLimiter(1);
    let release!: () => void;
    const holder = limiter.run(() => new Promise<void>((r) => { release = r; }));
    const controller = new AbortController();
    const waiter = limiter.run(async () => 'ran', controller.signal);
    expect(limiter.queued).toBe(1);
    controller.abort(new Error('gone'));
    await expect(waiter).rejects.toThrow('gone');
    expect(limiter.queued).toBe(0);
    release();
    await holder;
    expect(limiter.inFlight).toBe(0);
    await expect(limiter.run(async () => 'next')).resolves.toBe('next');
  });

  it('rejects a bad limit', () => {
    expect(() => new ConcurrencyLimiter(0)).toThrow(/>= 1/);
  });
});
