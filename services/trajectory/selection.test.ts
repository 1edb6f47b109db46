import { describe, expect, it } from 'vitest';
import { createRng } from '../common/random.js';
import { parseSelectionPolicy, selectCandidate, type ScoredCandidate } from './selection.js';

const c = (action: string, score: number, threshold = 6): ScoredCandidate => ({ action, score, viable: score > threshold });
// Fixed scores: calculator and python are the two best; encyclopedia barely viable; cot exactly at the threshold.
const candidates = [c('calculator', 9), c('python', 8.5), c('encyclopedia', 6.5), c('cot', 6), c('logic', 2)];
const rng = () => createRng(0);

describe('selectCandidate', () => {
  it('rarity_first picks the least-used viable action', () => {
    const usage = { calculator: 5, python: 3, encyclopedia: 4 };
    expect(selectCandidate('rarity_first', candidates, usage, rng())).toEqual({ index: 1, reason: 'rarest_viable' });
  });

  it('rarity_first breaks usage ties by the lower judge score', () => {
    const usage = { calculator: 1, python: 1, encyclopedia: 1 };
    expect(selectCandidate('rarity_first', candidates, usage, rng())!.index).toBe(2);
  });

  it('rarity_first never picks a non-viable action, however rare', () => {
    const usage = { calculator: 9, python: 9, encyclopedia: 9 }; // cot and logic unused but not viable
    expect(candidates[selectCandidate('rarity_first', candidates, usage, rng())!.index].action).toBe('encyclopedia');
  });

  it('lowest_viable_score picks the lowest score above the threshold', () => {
    expect(selectCandidate('lowest_viable_score', candidates, {}, rng())).toEqual({ index: 2, reason: 'lowest_viable_score' });
  });

  it('highest_score picks the best', () => {
    expect(selectCandidate('highest_score', candidates, { calculator: 100 }, rng())).toEqual({ index: 0, reason: 'highest_score' });
  });

  it('uniform_viable only picks viable ones and is seeded', () => {
    const picks = Array.from({ length: 200 }, (_, seed) => selectCandidate('uniform_viable', candidates, {}, createRng(seed))!.index);
    expect(new Set(picks)).toEqual(new Set([0, 1, 2]));
    const again = Array.from({ length: 200 }, (_, seed) => selectCandidate('uniform_viable', candidates, {}, createRng(seed))!.index);
    expect(again).toEqual(picks);
  });

  it('falls back to the best candidate when none is viable, or drops when asked', () => {
    const none = [c('cot', 3), c('python', 5.5), c('logic', 1)];
    expect(selectCandidate('rarity_first', none, {}, rng())).toEqual({ index: 1, reason: 'fallback_none_viable' });
    expect(selectCandidate('rarity_first', none, {}, rng(), { dropWhenNoViable: true })).toBeNull();
  });

  it('rejects unknown policy names listing the valid ones', () => {
    expect(() => parseSelectionPolicy('rarest')).toThrow(/allowed: rarity_first, lowest_viable_score, highest_score, uniform_viable/);
  });
});
