/**
 * Step-wise decomposition (SWiRL, used by SPaRK §3): a trajectory of k steps becomes k training
 * examples `(context up to step i) → (action i)`, each with its own reward parts. The trainer reads these
 * (`spark train ppo|sft --data FILE`). One JSON object per line:
 *
 *   {"question_id", "category", "step_index", "num_steps", "is_final", "action",
 *    "messages": [{"role", "content"}, ...],   context: system prompt, question, steps 0..i-1
 *    "completion": "...<|eom_id|>",             what the policy must generate for step i (+ end token)
 *    "reward": {"judge_score", "correctness", "diversity"}}
 *
 * Reward parts (the trainer weights them; see the README's reward formula):
 * - judge_score: the step's judge score / 10, in [0, 1].
 * - correctness: 1 when the trajectory's final answer is right, else 0 (shared by all its steps).
 * - diversity: normalised surprisal of the step's action in the file, −log2 p(action) / log2 K, with K the
 *   number of actions (9): 1.0 for an action used at the uniform rate 1/K, above 1 for rarer ones, near 0
 *   for one that dominates. The final answer step is not a tool choice and gets 0.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NUM_ACTIONS } from '../common/actions.js';
import { countBy } from '../common/entropy.js';
import { NotFoundError } from '../common/errors.js';
import { Question, type ChatMessage } from '../common/gen/spark/v1/common.js';
import { readJsonl } from '../common/files.js';
import { buildToolUseMessages, formatQuestionBlock, renderStepCompletion } from '../common/step-format.js';
import { fromRecord, type TrajectoryRecord } from './records.js';
import { MANIFEST_FILE, QUESTIONS_FILE, TRAJECTORIES_FILE } from './generation.js';

export interface StepExample {
  question_id: number;
  category: string;
  step_index: number;
  num_steps: number;
  is_final: boolean;
  action: string;
  messages: ChatMessage[];
  completion: string;
  reward: { judge_score: number; correctness: number; diversity: number };
}

/** −log2 p(a) / log2 K for each action seen in the non-final steps. */
export function diversityByAction(records: readonly TrajectoryRecord[], numActions = NUM_ACTIONS): Record<string, number> {
  const counts = countBy(records.flatMap((r) => r.steps.filter((s) => !s.is_final).map((s) => s.action)));
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.fromEntries(Object.entries(counts).map(([a, c]) => [a, -Math.log2(c / total) / Math.log2(numActions)]));
}

/**
 * All step examples of the trajectories, by question id: trajectories.jsonl lists them as their rollouts
 * finished, which varies from run to run, and the order of the examples is the order training sees them.
 * `questions` supplies the question texts.
 */
export function decompose(records: readonly TrajectoryRecord[], questions: ReadonlyMap<number, Question>, opts: { maxSteps?: number } = {}): StepExample[] {
  const diversity = diversityByAction(records);
  return [...records].sort((a, b) => a.question_id - b.question_id).flatMap((record) => {
    const question = questions.get(record.question_id);
    if (!question) throw new NotFoundError('question of trajectory', String(record.question_id));
    const trajectory = fromRecord(record);
    const questionText = formatQuestionBlock(question);
    return trajectory.steps.map((step, i) => ({
      question_id: record.question_id,
      category: record.category,
      step_index: i,
      num_steps: trajectory.steps.length,
      is_final: step.isFinal,
      action: step.action,
      messages: buildToolUseMessages(questionText, trajectory.steps.slice(0, i), { maxSteps: opts.maxSteps }),
      completion: renderStepCompletion(step, `trajectory ${record.question_id} step ${i}`),
      reward: {
        judge_score: Math.min(1, Math.max(0, step.score / 10)),
        correctness: record.correct ? 1 : 0,
        diversity: step.isFinal ? 0 : diversity[step.action] ?? 0,
      },
    }));
  });
}

/** Reads a generation folder (trajectories.jsonl + questions.jsonl) and decomposes it. */
export function decomposeFolder(dir: string): StepExample[] {
  // The system prompt states the step budget; use the one the trajectories were generated with.
  const manifestPath = join(dir, MANIFEST_FILE);
  const maxSteps = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as { spec: { maxSteps: number } }).spec.maxSteps : undefined;
  const records = readJsonl<TrajectoryRecord>(join(dir, TRAJECTORIES_FILE));
  const questions = new Map(readJsonl<unknown>(join(dir, QUESTIONS_FILE)).map((q) => { const x = Question.fromJSON(q); return [x.questionId, x] as const; }));
  return decompose(records, questions, { maxSteps });
}
