/**
 * SPaRK's composite reward for one step example (DESIGN §1.5; paper §3: "answer correctness + tool
 * diversity", plus the judge's step score):
 *
 *   reward = w_c · correctness + w_j · judge_score + w_d · diversity
 *
 * - correctness ∈ {0, 1}: the trajectory's final answer was right (shared by all its steps);
 * - judge_score ∈ [0, 1]: the judge's 0–10 score of this step, already divided by 10;
 * - diversity: how rare the step's action is, one of two kinds —
 *   `inverse_frequency` (default): the normalised surprisal −log2 p(a) / log2 9 of the action over the
 *   whole data file, as the trajectory service writes it into each example (1.0 at the uniform rate
 *   1/9, above 1 for rarer actions, near 0 for a dominant one);
 *   `entropy_gain`: computed here over a batch, n · (H(batch) − H(batch without this step)) / log2 9,
 *   how much this step's action raises the batch's action entropy. Scaling by n makes it independent of
 *   the batch size; for large n it tends to (−log2 p(a) − H) / log2 9, i.e. the surprisal centred on the
 *   batch entropy: positive for actions rarer than typical, negative for common ones.
 *   Final answer steps are not a tool choice: their diversity is 0 in both kinds.
 *
 * The weights and kind live in the training spec and are written into every checkpoint's config.
 */
import { z } from 'zod';
import { NUM_ACTIONS } from '../common/actions.js';
import { countBy, shannonEntropyBits } from '../common/entropy.js';
import { InvalidArgumentError } from '../common/errors.js';

export const DIVERSITY_KINDS = ['inverse_frequency', 'entropy_gain'] as const;
export type DiversityKind = (typeof DIVERSITY_KINDS)[number];

/**
 * Defaults and why: correctness is the goal, so it weighs most (1.0). The judge term (0.5) separates
 * good from merely viable steps of the same trajectory (viable steps score 0.6–1.0, a spread of ≤ 0.2).
 * Diversity (0.25) pushes towards rare tools without ever outweighing correctness: across a typical
 * step file the surprisal spans ≈ 0.3 (a dominant action) to ≈ 2 (one used 1 % of the time), so a
 * rare tool is worth ≤ 0.45 — a correct trajectory with a common tool still beats a wrong one with a
 * rare tool.
 */
export const rewardSpecSchema = z
  .object({
    correctnessWeight: z.number().finite().min(0).default(1).describe('w_c: weight of the trajectory final-answer correctness (0/1)'),
    judgeWeight: z.number().finite().min(0).default(0.5).describe('w_j: weight of the step judge score / 10 (in [0, 1])'),
    diversityWeight: z.number().finite().min(0).default(0.25).describe('w_d: weight of the tool-diversity term'),
    diversityKind: z
      .enum(DIVERSITY_KINDS)
      .default('inverse_frequency')
      .describe('inverse_frequency: normalised surprisal of the action over the data file; entropy_gain: gain of the batch action entropy'),
  })
  .strict();

export type RewardSpec = z.infer<typeof rewardSpecSchema>;

/** The reward parts of one step example, as `spark trajectory steps` writes them. */
export interface StepRewardParts {
  judge_score: number;
  correctness: number;
  diversity: number;
}

/** The fields of a step example the reward reads (the full example also carries messages etc.). */
export interface RewardedStep {
  action: string;
  is_final: boolean;
  reward: StepRewardParts;
}

/**
 * The entropy-gain diversity of each step of a batch (see the file comment); final steps get 0 and are
 * not part of the batch's action distribution.
 */
export function entropyGainDiversity(steps: readonly Pick<RewardedStep, 'action' | 'is_final'>[], numActions = NUM_ACTIONS): Float64Array {
  const counts = countBy(steps.filter((s) => !s.is_final).map((s) => s.action));
  const n = Object.values(counts).reduce((a, b) => a + b, 0);
  const entropy = shannonEntropyBits(counts);
  const gainByAction = new Map<string, number>();
  for (const action of Object.keys(counts)) {
    const without = { ...counts, [action]: counts[action]! - 1 };
    gainByAction.set(action, (n * (entropy - shannonEntropyBits(without))) / Math.log2(numActions));
  }
  return Float64Array.from(steps, (s) => (s.is_final ? 0 : gainByAction.get(s.action)!));
}

function checkParts(parts: StepRewardParts, index: number): void {
  const field = (name: string) => `data[${index}].reward.${name}`;
  if (!(parts.judge_score >= 0 && parts.judge_score <= 1)) throw new InvalidArgumentError(field('judge_score'), `must be in [0, 1] (got ${parts.judge_score})`, 'the step score / 10');
  if (parts.correctness !== 0 && parts.correctness !== 1) throw new InvalidArgumentError(field('correctness'), `must be 0 or 1 (got ${parts.correctness})`);
  if (!Number.isFinite(parts.diversity)) throw new InvalidArgumentError(field('diversity'), `must be a finite number (got ${parts.diversity})`);
}

/**
 * The composite reward of each step of a batch, `[batch]`, and `reward/*` means for the job metrics.
 * `entropy_gain` is computed over exactly the steps passed in (the trainer passes its batch).
 */
export function computeRewards(steps: readonly RewardedStep[], spec: RewardSpec): { rewards: Float32Array; metrics: Record<string, number> } {
  steps.forEach((s, i) => checkParts(s.reward, i));
  const diversity = spec.diversityKind === 'entropy_gain' ? entropyGainDiversity(steps) : Float64Array.from(steps, (s) => s.reward.diversity);
  const rewards = Float32Array.from(steps, (s, i) =>
    spec.correctnessWeight * s.reward.correctness + spec.judgeWeight * s.reward.judge_score + spec.diversityWeight * diversity[i]!);
  const mean = (xs: ArrayLike<number>) => (xs.length ? Array.from(xs).reduce((a, b) => a + b, 0) / xs.length : 0);
  return {
    rewards,
    metrics: {
      'reward/mean': mean(rewards),
      'reward/correctness/mean': mean(steps.map((s) => s.reward.correctness)),
      'reward/judge/mean': mean(steps.map((s) => s.reward.judge_score)),
      'reward/diversity/mean': mean(diversity),
    },
  };
}
