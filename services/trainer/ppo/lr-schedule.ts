/**
 * Learning rate per optimiser step: linear warmup, then cosine decay to a floor, as nanoGPT's
 * `get_lr` (karpathy/nanoGPT `train.py`), after Loshchilov & Hutter, "SGDR" (arXiv 1608.03983).
 * A pure function of the step, so a resumed run gets the same rate at the same step.
 */

export interface LrSchedule {
  /** Peak learning rate, reached at the end of warmup. */
  peakLr: number;
  /** Steps of linear warmup (0 = start at the peak). */
  warmupSteps: number;
  /** Step at which the decay reaches the floor (the run's total optimiser steps). */
  totalSteps: number;
  /** Floor as a fraction of the peak. @default 0.1 (nanoGPT's min_lr = lr / 10) */
  minLrRatio?: number;
}

export const DEFAULT_MIN_LR_RATIO = 0.1;

/** The learning rate for 0-based optimiser step `step`. */
export function lrAt(step: number, schedule: LrSchedule): number {
  const { peakLr, warmupSteps, totalSteps } = schedule;
  const minLr = peakLr * (schedule.minLrRatio ?? DEFAULT_MIN_LR_RATIO);
  // 1) linear warmup: (step + 1) / (warmup + 1) so step 0 already moves, and the last warmup step is
  //    just below the peak; large early updates on fresh adapters and Adam's cold moments are avoided.
  if (step < warmupSteps) return (peakLr * (step + 1)) / (warmupSteps + 1);
  // 2) past the end of the schedule: the floor.
  if (step >= totalSteps) return minLr;
  // 3) in between: cosine from the peak down to the floor.
  const decayRatio = (step - warmupSteps) / (totalSteps - warmupSteps);
  const coeff = 0.5 * (1 + Math.cos(Math.PI * decayRatio));
  return minLr + coeff * (peakLr - minLr);
}
