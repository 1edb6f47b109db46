/**
 * Seeded, deterministic randomness for everything that must be reproducible from a seed: dataset
 * samples, rollout tie-breaks, uniform-viable selection, train/eval shuffles. `Math.random` is never
 * used for those.
 *
 * Generator: mulberry32 (Tommy Ettinger's 32-bit generator; https://gist.github.com/tommyettinger/46a874533244883189143505d203312c),
 * seeded through splitmix32-style mixing of both 32-bit halves of a 64-bit seed, so seeds 0, 1, 2, …
 * give unrelated streams and seeds above 2³² are not truncated. It uses only `Math.imul` and 32-bit
 * shifts, so a seed gives the same numbers on every platform and Node version. Its period (2³²) is far
 * beyond what a shuffle of 12,032 questions or a few thousand rollouts draws.
 */

const UINT32 = 0x1_0000_0000;

/** Avalanche mix of a 32-bit integer (the splitmix32 / murmur3 finaliser). */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
  x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
  return (x ^ (x >>> 15)) >>> 0;
}

/** FNV-1a hash of a string, for deriving seeds from labels ("judge", a job id). */
export function hashString32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Checks a seed: any safe integer (negative allowed) or a bigint in the int64 range. */
function seedHalves(seed: number | bigint): [lo: number, hi: number] {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RangeError(`seed: must be a whole number between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER} (got ${seed})`);
  }
  const u = BigInt.asUintN(64, BigInt(seed));
  return [Number(u & 0xffff_ffffn), Number(u >> 32n)];
}

/** A seed for a sub-stream: same (seed, label) → same derived seed; different labels → unrelated streams. */
export function deriveSeed(seed: number | bigint, label: string): number {
  const [lo, hi] = seedHalves(seed);
  return mix32(lo ^ mix32(hi ^ hashString32(label)));
}

/** A seeded random number generator. Every method advances the same stream. */
export interface Rng {
  /** Uniform float in [0, 1) with 32 random bits. */
  float(): number;
  /** Uniform integer in [0, maxExclusive), unbiased (rejection sampling). */
  int(maxExclusive: number): number;
  /** One element chosen uniformly. Throws on an empty list. */
  pick<T>(items: readonly T[]): T;
  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[];
  /** `k` distinct elements chosen uniformly, in draw order (partial Fisher–Yates on a copy). */
  sample<T>(items: readonly T[], k: number): T[];
}

/** Creates a generator; the same seed always yields the same sequence. */
export function createRng(seed: number | bigint): Rng {
  const [lo, hi] = seedHalves(seed);
  let state = mix32(lo ^ mix32(hi + 0x9e3779b9));

  const nextUint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };

  const int = (maxExclusive: number): number => {
    if (!Number.isInteger(maxExclusive) || maxExclusive < 1 || maxExclusive > UINT32) {
      throw new RangeError(`maxExclusive: must be a whole number in 1..${UINT32} (got ${maxExclusive})`);
    }
    // Reject the top sliver of the 32-bit range so every residue is equally likely.
    const limit = UINT32 - (UINT32 % maxExclusive);
    for (;;) {
      const x = nextUint32();
      if (x < limit) return x % maxExclusive;
    }
  };

  const rng: Rng = {
    float: () => nextUint32() / UINT32,
    int,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick: the list is empty');
      return items[int(items.length)];
    },
    shuffle: (items) => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [items[i], items[j]] = [items[j], items[i]];
      }
      return items;
    },
    sample: (items, k) => {
      if (!Number.isInteger(k) || k < 0 || k > items.length) {
        throw new RangeError(`k: must be a whole number in 0..${items.length} (got ${k})`);
      }
      const pool = items.slice();
      for (let i = 0; i < k; i++) {
        const j = i + int(pool.length - i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      return pool.slice(0, k);
    },
  };
  return rng;
}
