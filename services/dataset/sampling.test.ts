import { describe, expect, it } from 'vitest';
import { createRng } from '../common/random.js';
import { CATEGORIES, type Category } from './categories.js';
import type { Question } from './rows.js';
import { allocateEqual, allocateProportional, countByCategory, sampleDisjoint, sampleQuestions } from './sampling.js';

/** The 2024 test split's category sizes (the data README), with chemistry's one bad row removed. */
const TEST_SIZES: Record<Category, number> = {
  biology: 717, business: 789, chemistry: 1131, 'computer science': 410, economics: 844, engineering: 969, health: 818,
  history: 381, law: 1101, math: 1351, other: 924, philosophy: 499, physics: 1299, psychology: 798,
};

function makePool(sizes: Partial<Record<Category, number>>): Question[] {
  let id = 70;
  return Object.entries(sizes).flatMap(([category, size]) => Array.from({ length: size }, () => ({
    questionId: id++, question: `q${id}`, options: ['a', 'b', 'c'], answer: 'A', answerIndex: 0, cotContent: '', category, src: 's',
  })));
}

const pool = makePool(TEST_SIZES);
const ids = (qs: Question[]) => qs.map((q) => q.questionId);

describe('allocateProportional', () => {
  it('sums to n and keeps every category within one of its proportional share', () => {
    const sizes = new Map(Object.entries(TEST_SIZES) as Array<[Category, number]>);
    const total = [...sizes.values()].reduce((a, b) => a + b, 0);
    for (const n of [1, 13, 14, 100, 2_500, 7_777, total]) {
      const allocation = allocateProportional(sizes, n);
      expect([...allocation.values()].reduce((a, b) => a + b, 0)).toBe(n);
      for (const [category, count] of allocation) {
        const share = (n * sizes.get(category)!) / total;
        expect(Math.abs(count - share)).toBeLessThan(1);
        expect(count).toBeLessThanOrEqual(sizes.get(category)!);
      }
    }
  });

  it('gives the paper working set its per-category counts', () => {
    const allocation = allocateProportional(new Map(Object.entries(TEST_SIZES) as Array<[Category, number]>), 2_500);
    expect(Object.fromEntries(allocation)).toMatchObject({ math: 281, physics: 270, chemistry: 235, 'computer science': 85, history: 79 });
  });
});

describe('allocateEqual', () => {
  it('splits n evenly and hands the remainder to seeded categories', () => {
    const sizes = new Map(CATEGORIES.map((c) => [c, 50]));
    const a = allocateEqual(sizes, 31, createRng(1));
    const counts = [...a.values()];
    expect(counts.reduce((x, y) => x + y, 0)).toBe(31);
    expect(counts.filter((c) => c === 3)).toHaveLength(3);
    expect(counts.filter((c) => c === 2)).toHaveLength(11);
    expect(allocateEqual(sizes, 31, createRng(1))).toEqual(a);
  });
});

describe('sampleQuestions', () => {
  it('draws a stratified sample: counts sum to n, each within one of its share', () => {
    const sample = sampleQuestions(pool, { n: 2_500, seed: 0 });
    expect(sample).toHaveLength(2_500);
    expect(new Set(ids(sample)).size).toBe(2_500);
    const counts = countByCategory(sample);
    for (const [category, count] of counts) expect(Math.abs(count - (2_500 * TEST_SIZES[category]) / pool.length)).toBeLessThan(1);
    expect(ids(sample)).toEqual(ids(sample).slice().sort((a, b) => a - b));
  });

  it('same seed → same ids; different seed → different ids; file order does not matter', () => {
    const a = ids(sampleQuestions(pool, { n: 300, seed: 42 }));
    expect(ids(sampleQuestions(pool, { n: 300, seed: 42 }))).toEqual(a);
    expect(ids(sampleQuestions(pool.slice().reverse(), { n: 300, seed: 42 }))).toEqual(a);
    const b = ids(sampleQuestions(pool, { n: 300, seed: 43 }));
    expect(b).not.toEqual(a);
    expect(b.filter((id) => a.includes(id)).length).toBeLessThan(100); // expected overlap ≈ 300²/12,031 ≈ 7
  });

  it('samples equal counts per category and a category subset', () => {
    const equal = sampleQuestions(pool, { n: 28, seed: 0, perCategory: true });
    expect([...countByCategory(equal).values()]).toEqual(new Array(14).fill(2));
    const subset = sampleQuestions(pool, { n: 10, seed: 0, categories: ['math', 'computer science'] });
    expect(new Set(subset.map((q) => q.category))).toEqual(new Set(['math', 'computer science']));
    expect(Object.fromEntries(countByCategory(subset))).toEqual({ 'computer science': 2, math: 8 });
  });

  it('keeps disjoint splits disjoint', () => {
    const [train, evalSplit] = sampleDisjoint(pool, { n: 2_500, seed: 0 }, { n: 140, seed: 0, perCategory: true });
    const trainIds = new Set(ids(train));
    expect(evalSplit).toHaveLength(140);
    expect(evalSplit.some((q) => trainIds.has(q.questionId))).toBe(false);
    const small = makePool({ law: 5, math: 5 });
    const [x, y] = sampleDisjoint(small, { n: 6, seed: 1 }, { n: 4, seed: 1 });
    expect(new Set([...ids(x), ...ids(y)]).size).toBe(10);
  });

  it('rejects n <= 0, n above the pool and empty categories, naming the field and allowed range', () => {
    expect(() => sampleQuestions(pool, { n: 0, seed: 0 })).toThrow('n: must be a whole number >= 1 (got 0) (allowed: 1..12031)');
    expect(() => sampleQuestions(pool, { n: 12_032, seed: 0 })).toThrow('n: 12032 is more than the 12031 questions in the pool (allowed: 1..12031)');
    expect(() => sampleQuestions(pool, { n: 14 * 382, seed: 0, perCategory: true })).toThrow(/n: 5348 is more than equal counts per category allow: 14 categories × 381 in the smallest \(allowed: 1\.\.5334\)/);
    expect(() => sampleQuestions(makePool({ law: 3 }), { n: 1, seed: 0, categories: ['math'] })).toThrow(/categories: no questions left in "math"/);
  });
});
