/**
 * Tool-selection entropy, SPaRK's diversity measure: the Shannon entropy (bits) of the distribution of
 * actions chosen over all steps, and the same divided by log2 of the number of actions (1.0 = every
 * action equally often). Used live by the trajectory service and in evaluation reports.
 */
import { NUM_ACTIONS } from './actions.js';

/** Shannon entropy in bits of the distribution given by `counts` (zero counts contribute nothing). */
export function shannonEntropyBits(counts: Readonly<Record<string, number>> | readonly number[]): number {
  const values = (Array.isArray(counts) ? counts : Object.values(counts)) as number[];
  const total = values.reduce((a, b) => a + b, 0);
  if (total <= 0) return 0;
  let h = 0;
  for (const c of values) {
    if (c < 0) throw new RangeError(`counts must be >= 0 (got ${c})`);
    if (c > 0) h -= (c / total) * Math.log2(c / total);
  }
  return h;
}

/** Entropy divided by log2(numActions): 0 = one action only, 1 = uniform over all actions. */
export function normalizedEntropy(counts: Readonly<Record<string, number>> | readonly number[], numActions = NUM_ACTIONS): number {
  return numActions > 1 ? shannonEntropyBits(counts) / Math.log2(numActions) : 0;
}

/** Counts of each item in a list. */
export function countBy(items: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of items) out[x] = (out[x] ?? 0) + 1;
  return out;
}
