/**
 * Seeded, deterministic sampling of questions, stratified by category.
 *
 * - Proportional (the paper's working set): category c gets n·size_c/total questions, rounded by the
 *   largest-remainder (Hamilton) method, so counts sum to exactly n and each is within one of its
 *   proportional share.
 * - Equal per category: ⌊n/k⌋ each, the n mod k extra questions going to categories drawn with the
 *   seed; n may not exceed k × the smallest category.
 *
 * The result depends only on (pool contents, n, seed, options), never on file order: each category's
 * ids are sorted before the seeded draw, categories are visited in a fixed order, and the sample is
 * returned sorted by question_id. Disjoint splits come from `exclude` (see `sampleDisjoint`).
 */
import { InvalidArgumentError } from '../common/errors.js';
import { createRng, type Rng } from '../common/random.js';
import { CATEGORIES, type Category } from './categories.js';
import type { Question } from './rows.js';

export interface SampleOptions {
  /** How many questions in all. */
  n: number;
  /** PRNG seed; same seed → same questions. */
  seed: number;
  /** Equal count per category instead of proportional to category size. @default false */
  perCategory?: boolean;
  /** Only these categories (hub spelling); empty or absent = every category present in the pool. */
  categories?: readonly Category[];
  /** Question ids that may not be drawn (another split's ids). */
  exclude?: ReadonlySet<number>;
}

/** Category → how many questions to draw. */
export type Allocation = Map<Category, number>;

/**
 * Largest-remainder allocation of n over category sizes. Exact integer arithmetic; ties in the
 * remainder go to the larger category, then to the earlier name, so the result is fully determined.
 */
export function allocateProportional(sizes: ReadonlyMap<Category, number>, n: number): Allocation {
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  const rows = [...sizes].map(([category, size]) => ({
    category,
    size,
    count: Math.floor((n * size) / total),
    remainder: (n * size) % total,
  }));
  let left = n - rows.reduce((a, r) => a + r.count, 0);
  const byRemainder = rows.slice().sort((a, b) =>
    b.remainder - a.remainder || b.size - a.size || a.category.localeCompare(b.category));
  for (const row of byRemainder) {
    if (left === 0) break;
    row.count += 1;
    left -= 1;
  }
  return new Map(rows.map((r) => [r.category, r.count]));
}

/** ⌊n/k⌋ per category; the n mod k extras go to categories drawn with `rng`. */
export function allocateEqual(sizes: ReadonlyMap<Category, number>, n: number, rng: Rng): Allocation {
  const categories = [...sizes.keys()];
  const base = Math.floor(n / categories.length);
  const extra = new Set(rng.sample(categories, n % categories.length));
  return new Map(categories.map((c) => [c, base + (extra.has(c) ? 1 : 0)]));
}

/** The largest n the options allow for a pool: its size, or k × the smallest category when equal. */
export function maxSampleSize(sizes: ReadonlyMap<Category, number>, perCategory: boolean): number {
  const counts = [...sizes.values()];
  if (!counts.length) return 0;
  return perCategory ? counts.length * Math.min(...counts) : counts.reduce((a, b) => a + b, 0);
}

/** Groups questions by category (fixed category order), each group sorted by question_id. */
export function groupByCategory(pool: readonly Question[]): Map<Category, Question[]> {
  const groups = new Map<Category, Question[]>();
  for (const category of CATEGORIES) {
    const members = pool.filter((q) => q.category === category).sort((a, b) => a.questionId - b.questionId);
    if (members.length) groups.set(category, members);
  }
  return groups;
}

/**
 * Draws a stratified sample. Throws InvalidArgumentError naming `n` or `categories` (with the allowed
 * range or names) when the request cannot be met.
 */
export function sampleQuestions(pool: readonly Question[], opts: SampleOptions): Question[] {
  const wanted = opts.categories?.length ? new Set<string>(opts.categories) : undefined;
  const eligible = pool.filter((q) => (!wanted || wanted.has(q.category)) && !opts.exclude?.has(q.questionId));
  const groups = groupByCategory(eligible);
  if (wanted) {
    const empty = [...wanted].filter((c) => !groups.has(c as Category));
    if (empty.length) {
      throw new InvalidArgumentError('categories', `no questions left in ${empty.map((c) => JSON.stringify(c)).join(', ')} in this pool`, [...groups.keys()].join(', '));
    }
  }
  const sizes = new Map([...groups].map(([c, qs]) => [c, qs.length]));
  const max = maxSampleSize(sizes, !!opts.perCategory);
  if (!Number.isInteger(opts.n) || opts.n < 1 || opts.n > max) {
    const why = !(opts.n > max)
      ? `must be a whole number >= 1 (got ${opts.n})`
      : opts.perCategory
        ? `${opts.n} is more than equal counts per category allow: ${sizes.size} categories × ${Math.min(...sizes.values())} in the smallest`
        : `${opts.n} is more than the ${max} questions in the pool`;
    throw new InvalidArgumentError('n', why, max ? `1..${max}` : 'none: the pool is empty');
  }
  const rng = createRng(opts.seed);
  const allocation = opts.perCategory ? allocateEqual(sizes, opts.n, rng) : allocateProportional(sizes, opts.n);
  const picked: Question[] = [];
  for (const [category, members] of groups) picked.push(...rng.sample(members, allocation.get(category) ?? 0));
  return picked.sort((a, b) => a.questionId - b.questionId);
}

/** Two samples from one pool that never share a question: `first` is drawn, then `second` from the rest. */
export function sampleDisjoint(pool: readonly Question[], first: SampleOptions, second: SampleOptions): [Question[], Question[]] {
  const a = sampleQuestions(pool, first);
  const exclude = new Set([...(second.exclude ?? []), ...a.map((q) => q.questionId)]);
  return [a, sampleQuestions(pool, { ...second, exclude })];
}

/** Counts per category (fixed category order), for summaries and tests. */
export function countByCategory(questions: readonly Question[]): Map<Category, number> {
  return new Map([...groupByCategory(questions)].map(([c, qs]) => [c, qs.length]));
}
