/**
 * Which candidate a rollout step keeps (DESIGN.md §5). SPaRK's rarity-first exploration "favors
 * less-frequently used but still viable tools": among the candidates whose judge score is above the
 * threshold, keep the action used least so far in the job (ties → the lower judge score, then action
 * order). The paper's literal wording ("the lowest-scoring tool among those that pass the threshold")
 * is `lowest_viable_score`; `highest_score` is the greedy baseline; `uniform_viable` a random control.
 * When nothing is viable the best-scoring candidate is kept and marked as a fallback, or the trajectory is
 * dropped when the job asks for that.
 */
import type { Rng } from '../common/random.js';

export const SELECTION_POLICIES = ['rarity_first', 'lowest_viable_score', 'highest_score', 'uniform_viable'] as const;
export type SelectionPolicyName = (typeof SELECTION_POLICIES)[number];

export const SELECTION_REASONS = ['rarest_viable', 'lowest_viable_score', 'highest_score', 'uniform_viable', 'fallback_none_viable'] as const;
export type SelectionReasonName = (typeof SELECTION_REASONS)[number];

/** The paper's viability threshold: a step is viable when its judge score is strictly above 6.0. */
export const DEFAULT_VIABILITY_THRESHOLD = 6.0;

export interface ScoredCandidate {
  action: string;
  score: number;
  viable: boolean;
}

/** How often each action has been selected so far in the job. Missing actions count 0. */
export type UsageCounts = Readonly<Record<string, number>>;

export interface Selection {
  /** Index into the candidates. */
  index: number;
  reason: SelectionReasonName;
}

type Policy = (viable: number[], candidates: readonly ScoredCandidate[], usage: UsageCounts, rng: Rng) => number;

/** Smallest element by `key`; ties keep the earliest (candidate order is the action order). */
function argMin(indices: number[], key: (i: number) => number[]): number {
  return indices.reduce((best, i) => (compareKeys(key(i), key(best)) < 0 ? i : best));
}

function compareKeys(a: number[], b: number[]): number {
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return a[k] - b[k];
  return 0;
}

const POLICIES: Record<SelectionPolicyName, { pick: Policy; reason: SelectionReasonName }> = {
  rarity_first: { pick: (v, c, usage) => argMin(v, (i) => [usage[c[i].action] ?? 0, c[i].score]), reason: 'rarest_viable' },
  lowest_viable_score: { pick: (v, c) => argMin(v, (i) => [c[i].score]), reason: 'lowest_viable_score' },
  highest_score: { pick: (_v, c) => argMin(c.map((_, i) => i), (i) => [-c[i].score]), reason: 'highest_score' },
  uniform_viable: { pick: (v, _c, _u, rng) => rng.pick(v), reason: 'uniform_viable' },
};

/** Looks a policy up by name; an unknown name throws listing the valid ones. */
export function parseSelectionPolicy(name: string): SelectionPolicyName {
  if ((SELECTION_POLICIES as readonly string[]).includes(name)) return name as SelectionPolicyName;
  throw new RangeError(`unknown selection policy ${JSON.stringify(name)}; allowed: ${SELECTION_POLICIES.join(', ')}`);
}

/**
 * Picks one candidate. Returns null only when nothing is viable and `dropWhenNoViable` is set.
 * `highest_score` keeps the best candidate even when it is not viable, and says so.
 */
export function selectCandidate(
  policy: SelectionPolicyName,
  candidates: readonly ScoredCandidate[],
  usage: UsageCounts,
  rng: Rng,
  opts: { dropWhenNoViable?: boolean } = {},
): Selection | null {
  if (candidates.length === 0) throw new RangeError('selectCandidate: no candidates');
  const viable = candidates.map((c, i) => (c.viable ? i : -1)).filter((i) => i >= 0);
  if (viable.length === 0) {
    if (opts.dropWhenNoViable) return null;
    return { index: POLICIES.highest_score.pick([], candidates, usage, rng), reason: 'fallback_none_viable' };
  }
  const { pick, reason } = POLICIES[policy];
  return { index: pick(viable, candidates, usage, rng), reason };
}

/** Adds one use of `action` (returns a new object; usage snapshots stay immutable). */
export function withUse(usage: UsageCounts, action: string): Record<string, number> {
  return { ...usage, [action]: (usage[action] ?? 0) + 1 };
}
