/**
 * Which examples each optimiser step trains on, as a pure function of (seed, step): every epoch is a
 * seeded permutation of the examples (services/common/random.ts), cut into micro-batches of `batchSize`;
 * optimiser step s takes the global micro-batches s·G … s·G + G − 1 (G = gradAccum), running across
 * epoch boundaries. Nothing is stored between steps, so a run resumed at step s sees exactly the batches
 * an uninterrupted run would have.
 */
import { createRng, deriveSeed } from '../../common/random.js';

export interface ScheduleSettings {
  /** Number of step examples. */
  examples: number;
  batchSize: number;
  gradAccum: number;
  epochs: number;
  /** 0 = epochs × steps per epoch. */
  maxSteps: number;
  seed: number;
}

export class BatchSchedule {
  /** Micro-batches per pass over the data (the last one may be smaller). */
  readonly microBatchesPerEpoch: number;
  /** Optimiser steps of the run. */
  readonly totalSteps: number;
  private readonly permutations = new Map<number, number[]>();

  constructor(private readonly s: ScheduleSettings) {
    if (!(s.examples > 0)) throw new RangeError(`examples must be > 0 (got ${s.examples})`);
    this.microBatchesPerEpoch = Math.ceil(s.examples / s.batchSize);
    this.totalSteps = s.maxSteps > 0 ? s.maxSteps : Math.max(1, Math.ceil((s.epochs * this.microBatchesPerEpoch) / s.gradAccum));
  }

  /** The example order of epoch `epoch` (0-based). */
  permutation(epoch: number): number[] {
    let p = this.permutations.get(epoch);
    if (!p) {
      p = createRng(deriveSeed(this.s.seed, `epoch-${epoch}`)).shuffle(Array.from({ length: this.s.examples }, (_, i) => i));
      this.permutations.clear(); // a step touches at most two epochs; keep memory flat on long runs
      this.permutations.set(epoch, p);
    }
    return p;
  }

  /** Example indices of global micro-batch `k`. */
  microBatch(k: number): number[] {
    const epoch = Math.floor(k / this.microBatchesPerEpoch);
    const j = k % this.microBatchesPerEpoch;
    return this.permutation(epoch).slice(j * this.s.batchSize, (j + 1) * this.s.batchSize);
  }

  /** The micro-batches of optimiser step `step` (0-based). */
  step(step: number): number[][] {
    return Array.from({ length: this.s.gradAccum }, (_, g) => this.microBatch(step * this.s.gradAccum + g));
  }

  /** Fractional epoch reached after `stepsDone` optimiser steps (for logs). */
  epochAt(stepsDone: number): number {
    return (stepsDone * this.s.gradAccum) / this.microBatchesPerEpoch;
  }
}
