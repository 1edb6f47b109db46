/**
 * Step examples as the trainer sees them: read and validated from the JSONL that `spark trajectory steps`
 * writes (services/trajectory/steps.ts documents each line), then tokenised with the policy's own Llama-3
 * tokenizer. The context is the chat rendered with the Llama-3.1 template and an open assistant header
 * (`renderChat(messages, { addGenerationPrompt: true })`); the completion is the action the policy must
 * produce (its end token included). Only completion tokens are trained on (the action-token mask).
 *
 * Too long examples lose context from the left, as the step's own completion and the most recent turns
 * matter most; the first tokens (system prompt) go first.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { InvalidArgumentError, describeZodError } from '../../common/errors.js';
import { CHAT_ROLES, renderChat } from '../../common/step-format.js';
import type { RewardedStep } from '../reward.js';

/** One line of the step examples file (extra keys are kept and ignored). */
export const stepExampleSchema = z
  .object({
    question_id: z.number().int(),
    category: z.string(),
    step_index: z.number().int().min(0),
    num_steps: z.number().int().min(1),
    is_final: z.boolean(),
    action: z.string().min(1),
    messages: z.array(z.object({ role: z.enum(CHAT_ROLES), content: z.string() })).min(1),
    completion: z.string().min(1),
    reward: z.object({ judge_score: z.number(), correctness: z.number(), diversity: z.number() }),
  })
  .loose();

export type StepExample = z.infer<typeof stepExampleSchema> & RewardedStep;

export interface StepData {
  examples: StepExample[];
  /** SHA-256 of the file: cached behaviour log-probs and checkpoints are tied to it. */
  sha256: string;
}

/** Reads and validates a step examples file; errors name the line and field (`data line 3: reward.correctness`). */
export function readStepExamples(path: string, field = 'data'): StepData {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(field, `cannot read ${path}: ${(err as Error).message}`, undefined, { cause: err });
  }
  const examples: StepExample[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      throw new InvalidArgumentError(`${field} line ${i + 1}`, 'is not valid JSON', undefined, { cause: err });
    }
    const parsed = stepExampleSchema.safeParse(raw);
    if (!parsed.success) throw new InvalidArgumentError(`${field} line ${i + 1}`, describeZodError(parsed.error));
    examples.push(parsed.data);
  });
  if (examples.length === 0) throw new InvalidArgumentError(field, `${path} holds no step examples`, 'a JSONL file from `spark trajectory steps`');
  return { examples, sha256: createHash('sha256').update(text).digest('hex') };
}

/** What tokenises text: the policy's tokenizer (model/tokenizer.ts) satisfies it. */
export interface TextEncoder {
  encode(text: string): number[];
}

/** A (context → completion) pair as token ids, ready to batch. */
export interface TokenizedExample {
  contextIds: number[];
  completionIds: number[];
  /** Context tokens cut from the left to fit `maxSeqLen`. */
  droppedContext: number;
  /** Completion tokens cut from the right (only when the completion alone exceeds `maxSeqLen`). */
  droppedCompletion: number;
}

/**
 * Fits context + completion into `maxSeqLen` tokens: the context loses tokens from the left; a completion
 * longer than the whole budget keeps one context token (the open assistant header's last token, so the
 * first action token still has a prediction) and is cut on the right.
 */
export function truncateLeft(contextIds: number[], completionIds: number[], maxSeqLen: number): TokenizedExample {
  if (!(Number.isInteger(maxSeqLen) && maxSeqLen >= 2)) throw new RangeError(`maxSeqLen must be an integer >= 2 (got ${maxSeqLen})`);
  if (contextIds.length === 0) throw new RangeError('the context has no tokens');
  const completionKept = Math.min(completionIds.length, maxSeqLen - 1);
  const contextKept = Math.min(contextIds.length, maxSeqLen - completionKept);
  return {
    contextIds: contextIds.slice(contextIds.length - contextKept),
    completionIds: completionIds.slice(0, completionKept),
    droppedContext: contextIds.length - contextKept,
    droppedCompletion: completionIds.length - completionKept,
  };
}

/** Token ids of one chat context (open assistant turn) and its completion. */
export function tokenizeExample(
  tokenizer: TextEncoder,
  messages: StepExample['messages'],
  completion: string,
  maxSeqLen: number,
): TokenizedExample {
  const contextIds = tokenizer.encode(renderChat(messages, { addGenerationPrompt: true }));
  const completionIds = tokenizer.encode(completion);
  if (completionIds.length === 0) throw new InvalidArgumentError('completion', 'has no tokens');
  return truncateLeft(contextIds, completionIds, maxSeqLen);
}

/** Tokenises every example; reports how many were cut. */
export function tokenizeExamples(tokenizer: TextEncoder, examples: readonly StepExample[], maxSeqLen: number): { rows: TokenizedExample[]; truncated: number } {
  const rows = examples.map((e, i) => {
    try {
      return tokenizeExample(tokenizer, e.messages, e.completion, maxSeqLen);
    } catch (err) {
      if (err instanceof InvalidArgumentError) throw new InvalidArgumentError(`data[${i}].${err.field}`, err.problem, err.allowed, { cause: err });
      throw err;
    }
  });
  return { rows, truncated: rows.filter((r) => r.droppedContext > 0 || r.droppedCompletion > 0).length };
}
