/**
 * The statistics of the SPaRK evaluation (paper §4): tool-selection entropy, its bootstrap interval,
 * and the paired significance of accuracy differences. Small pure functions over plain arrays.
 *
 * - Tool-selection entropy is the Shannon entropy, in bits, of the distribution of actions over all
 *   steps a model took: H = -Σ p(a) log2 p(a) (services/common/entropy.ts). Uniform use of the 9
 *   actions gives log2 9 ≈ 3.17 bits; normalised entropy divides by that maximum.
 * - Its 95 % interval is a percentile bootstrap that resamples questions, not steps: the steps of one
 *   trajectory are chosen together, so the question is the independent unit (a cluster bootstrap).
 * - Two models answering the same questions are compared with McNemar's exact test on the discordant
 *   pairs (b: only A right, c: only B right): two-sided p = min(1, 2·P[X ≤ min(b, c)]), X ~ Bin(b+c, ½).
 */
import { lgamma, quantileSeq } from 'mathjs';
import { countBy, shannonEntropyBits } from '../common/entropy.js';
import { createRng } from '../common/random.js';

/** Steps per action, from the actions of each trajectory. */
export function countActions(trajectories: readonly (readonly string[])[]): Record<string, number> {
  return countBy(trajectories.flat());
}

/** Entropy of the actions over all steps of all trajectories, bits. */
export function toolEntropyBits(trajectories: readonly (readonly string[])[]): number {
  return shannonEntropyBits(countActions(trajectories));
}

export interface BootstrapOptions {
  /** Resamples. @default 1000 */
  iterations?: number;
  /** Two-sided coverage. @default 0.95 */
  confidence?: number;
  /** @default 0 */
  seed?: number;
}

export interface Interval {
  low: number;
  high: number;
}

/**
 * Percentile bootstrap interval of the tool-selection entropy, resampling trajectories (questions)
 * with replacement. `[0, 0]` when there are none.
 */
export function bootstrapEntropyCi(trajectories: readonly (readonly string[])[], opts: BootstrapOptions = {}): Interval {
  const iterations = opts.iterations ?? 1_000;
  const confidence = opts.confidence ?? 0.95;
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence: must be in (0, 1) (got ${confidence})`);
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations: must be a whole number >= 1 (got ${iterations})`);
  if (trajectories.length === 0) return { low: 0, high: 0 };
  const rng = createRng(opts.seed ?? 0);
  const samples: number[] = [];
  for (let it = 0; it < iterations; it++) {
    const counts: Record<string, number> = {};
    for (let i = 0; i < trajectories.length; i++) {
      for (const a of trajectories[rng.int(trajectories.length)]) counts[a] = (counts[a] ?? 0) + 1;
    }
    samples.push(shannonEntropyBits(counts));
  }
  const tail = (1 - confidence) / 2;
  const [low, high] = quantileSeq(samples, [tail, 1 - tail]) as number[];
  return { low, high };
}

/** Natural log of the binomial coefficient C(n, k). */
function logChoose(n: number, k: number): number {
  return lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1);
}

/**
 * McNemar's exact two-sided p-value from the discordant counts: `onlyA` questions only model A got
 * right, `onlyB` only model B. 1 when there are no discordant pairs.
 */
export function mcnemarExactP(onlyA: number, onlyB: number): number {
  const n = onlyA + onlyB;
  if (n === 0) return 1;
  const k = Math.min(onlyA, onlyB);
  // P[X <= k] for X ~ Bin(n, 1/2), summed in log space (0.5^n underflows past n ≈ 1074).
  const logTerms = Array.from({ length: k + 1 }, (_, i) => logChoose(n, i) - n * Math.LN2);
  const max = Math.max(...logTerms);
  const cdf = Math.exp(max) * logTerms.reduce((s, t) => s + Math.exp(t - max), 0);
  return Math.min(1, 2 * cdf);
}

export interface PairedComparison {
  /** Questions both models answered. */
  n: number;
  /** Right for A only / right for B only. */
  onlyA: number;
  onlyB: number;
  /** accuracy(B) - accuracy(A) on the shared questions. */
  accuracyDiff: number;
  /** McNemar's exact two-sided p-value. */
  pValue: number;
}

/** Compares two models on the questions both answered (question id → correct). */
export function comparePaired(a: ReadonlyMap<number, boolean>, b: ReadonlyMap<number, boolean>): PairedComparison {
  let n = 0;
  let onlyA = 0;
  let onlyB = 0;
  for (const [id, rightA] of a) {
    const rightB = b.get(id);
    if (rightB === undefined) continue;
    n += 1;
    if (rightA && !rightB) onlyA += 1;
    if (rightB && !rightA) onlyB += 1;
  }
  return { n, onlyA, onlyB, accuracyDiff: n ? (onlyB - onlyA) / n : 0, pValue: mcnemarExactP(onlyA, onlyB) };
}
