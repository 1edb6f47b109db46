/**
 * One SPaRK rollout (paper §3, DESIGN.md §5): for a question, up to `maxSteps` steps. At each step the
 * generator proposes one candidate per action (thought + tool input), the tools run in parallel under
 * their limits, the judge scores all candidates in one call, the selection policy keeps one, and the step
 * is appended. The last step is the final answer ("the answer is (X)"), graded against the key.
 *
 * Everything outside this loop (generator, tools, judge) comes in through small interfaces, so the loop
 * runs the same with the offline heuristic generator and judge as with vLLM and GPT-4o.
 */
import { CancelledError } from '../common/errors.js';
import { Candidate, Question, SelectionReason, Step, ToolCall, Trajectory } from '../common/gen/spark/v1/common.js';
import type { Rng } from '../common/random.js';
import { extractFinalAnswer } from '../common/step-format.js';
import { selectCandidate, withUse, type SelectionPolicyName, type SelectionReasonName, type UsageCounts } from './selection.js';

/** A generator's proposal for one action at one step. `parameters` is absent for `cot`. */
export interface CandidateProposal {
  action: string;
  thought: string;
  parameters?: Record<string, unknown>;
}

/** Writes candidates and the final answer: heuristic (offline), an OpenAI-compatible LLM, or the policy. */
export interface StepGenerator {
  readonly kind: string;
  /** One proposal per action in `actions` (same order), given the steps so far. */
  propose(question: Question, steps: readonly Step[], actions: readonly string[], signal: AbortSignal): Promise<CandidateProposal[]>;
  /** The final step's text; it should end with "the answer is (X)". */
  answer(question: Question, steps: readonly Step[], signal: AbortSignal): Promise<string>;
}

/** Runs a tool; failures come back as `ToolCall.error`, never as a throw (the judge sees them). */
export interface ToolRunner {
  run(name: string, parameters: Record<string, unknown>, signal: AbortSignal): Promise<ToolCall>;
}

export interface CandidateVerdict {
  score: number;
  viable: boolean;
  rationale: string;
}

/** The judge as the rollout needs it (the JudgeService client in production). */
export interface StepJudge {
  scoreCandidates(question: Question, steps: readonly Step[], candidates: readonly Candidate[], threshold: number, signal: AbortSignal): Promise<CandidateVerdict[]>;
  scoreAnswer(question: Question, steps: readonly Step[], answerText: string, signal: AbortSignal): Promise<{ score: number; rationale: string }>;
}

export interface RolloutDeps {
  generator: StepGenerator;
  tools: ToolRunner;
  judge: StepJudge;
  /** Candidate actions at every step: the 9 built-in ones plus any MCP tools. */
  actions: readonly string[];
}

export interface RolloutOptions {
  /** Steps including the final answer step; the paper uses 5. */
  maxSteps: number;
  policy: SelectionPolicyName;
  threshold: number;
  dropWhenNoViable: boolean;
  rng: Rng;
}

export interface RolloutResult {
  trajectory: Trajectory;
  /** Set when the trajectory was dropped (no viable candidate and dropWhenNoViable). */
  dropped?: string;
}

const REASON_TO_PROTO: Record<SelectionReasonName, SelectionReason> = {
  rarest_viable: SelectionReason.SELECTION_REASON_RAREST_VIABLE,
  lowest_viable_score: SelectionReason.SELECTION_REASON_LOWEST_VIABLE_SCORE,
  highest_score: SelectionReason.SELECTION_REASON_HIGHEST_SCORE,
  uniform_viable: SelectionReason.SELECTION_REASON_UNIFORM_VIABLE,
  fallback_none_viable: SelectionReason.SELECTION_REASON_FALLBACK_NONE_VIABLE,
};

/** Turns proposals into candidates, running every proposed tool call in parallel. */
async function runCandidates(proposals: readonly CandidateProposal[], tools: ToolRunner, signal: AbortSignal): Promise<Candidate[]> {
  return Promise.all(proposals.map(async (p) => Candidate.fromPartial({
    action: p.action,
    thought: p.thought,
    toolCall: p.parameters ? await tools.run(p.action, p.parameters, signal) : undefined,
  })));
}

/**
 * Rolls out one question. `usage` is the job's action counts when this question started; the
 * trajectory's own choices are added as it goes, so rarity is "rarest so far".
 */
export async function rolloutQuestion(question: Question, usage: UsageCounts, deps: RolloutDeps, opts: RolloutOptions, signal: AbortSignal): Promise<RolloutResult> {
  if (opts.maxSteps < 1) throw new RangeError(`maxSteps must be >= 1 (got ${opts.maxSteps})`);
  const steps: Step[] = [];
  let counts = usage;
  const trajectory = (extra: Partial<Trajectory>) =>
    Trajectory.fromPartial({ questionId: question.questionId, category: question.category, steps, ...extra });

  for (let index = 0; index < opts.maxSteps - 1; index++) {
    if (signal.aborted) throw new CancelledError('rollout cancelled');
    const proposals = await deps.generator.propose(question, steps, deps.actions, signal);
    const candidates = await runCandidates(proposals, deps.tools, signal);
    const verdicts = await deps.judge.scoreCandidates(question, steps, candidates, opts.threshold, signal);
    if (verdicts.length !== candidates.length) throw new Error(`judge returned ${verdicts.length} scores for ${candidates.length} candidates`);
    candidates.forEach((c, i) => Object.assign(c, verdicts[i]));
    const selection = selectCandidate(opts.policy, candidates, counts, opts.rng, { dropWhenNoViable: opts.dropWhenNoViable });
    if (!selection) return { trajectory: trajectory({}), dropped: `no viable candidate at step ${index}` };
    const chosen = candidates[selection.index];
    counts = withUse(counts, chosen.action);
    steps.push(Step.fromPartial({
      index,
      action: chosen.action,
      thought: chosen.thought,
      toolCall: chosen.toolCall,
      score: chosen.score,
      selectionReason: REASON_TO_PROTO[selection.reason],
      candidates,
    }));
  }

  if (signal.aborted) throw new CancelledError('rollout cancelled');
  const answerText = await deps.generator.answer(question, steps, signal);
  const verdict = await deps.judge.scoreAnswer(question, steps, answerText, signal);
  steps.push(Step.fromPartial({
    index: steps.length,
    action: 'cot',
    thought: answerText,
    score: verdict.score,
    isFinal: true,
    candidates: [Candidate.fromPartial({ action: 'cot', thought: answerText, score: verdict.score, viable: true, rationale: verdict.rationale })],
  }));
  const finalAnswer = extractFinalAnswer(answerText) ?? '';
  return { trajectory: trajectory({ finalAnswer, correct: finalAnswer !== '' && finalAnswer === question.answer }) };
}

/** The actions a trajectory chose, final answer step excluded (it is not a tool choice). */
export function chosenActions(t: Trajectory): string[] {
  return t.steps.filter((s) => !s.isFinal).map((s) => s.action);
}
