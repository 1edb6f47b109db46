import { describe, expect, it } from 'vitest';
import { BatchSchedule } from './schedule.js';

describe('BatchSchedule', () => {
  const settings = { examples: 10, batchSize: 3, gradAccum: 2, epochs: 3, maxSteps: 0, seed: 7 };

  it('derives the step count from epochs, or takes max_steps', () => {
    expect(new BatchSchedule(settings).microBatchesPerEpoch).toBe(4);
    expect(new BatchSchedule(settings).totalSteps).toBe(6); // 3 epochs × 4 micro-batches / 2
    expect(new BatchSchedule({ ...settings, maxSteps: 11 }).totalSteps).toBe(11);
  });

  it('covers every example once per epoch, in a seeded order that differs by epoch and seed', () => {
    const s = new BatchSchedule(settings);
    for (const epoch of [0, 1, 2]) {
      const seen = Array.from({ length: 4 }, (_, j) => s.microBatch(epoch * 4 + j)).flat();
      expect([...seen].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
    expect(s.permutation(0)).not.toEqual(s.permutation(1));
    expect(new BatchSchedule({ ...settings, seed: 8 }).permutation(0)).not.toEqual(s.permutation(0));
    expect(s.microBatch(3)).toHaveLength(1); // the epoch's last micro-batch holds the remainder
  });

  it('is a pure function of the step: a fresh schedule (a resumed run) gives the same batches', () => {
    const a = new BatchSchedule(settings);
    const walked = Array.from({ length: 6 }, (_, i) => a.step(i));
    const b = new BatchSchedule(settings);
    expect(b.step(4)).toEqual(walked[4]);
    expect(b.step(1)).toEqual(walked[1]);
    expect(walked[1]).toEqual([a.microBatch(2), a.microBatch(3)]);
    expect(a.epochAt(6)).toBe(3);
  });
});
