/**
 * Prompts for a question: the MMLU-Pro reference chain-of-thought prompt (0- or 5-shot), and the SPaRK
 * tool-use chat (built by the shared step format, services/common/step-format.ts).
 *
 * The reference prompt is reproduced byte for byte from TIGER-AI-Lab/MMLU-Pro at f418b11 (the code the
 * published Llama-3.1-8B-Instruct 5-shot results came from):
 * - `cot_prompt_lib/initial_prompt.txt` is the sentence below followed by three newlines;
 *   `generate_cot_prompt` replaces `{$}` with the category and appends one more "\n";
 * - `format_cot_example` writes "Question:\n{q}\nOptions:\n", one "{letter}. {option}\n" per option,
 *   then for an exemplar its `cot_content` with "A: Let's think step by step." replaced by
 *   "Answer: Let's think step by step." plus "\n\n", and for the asked question
 *   "Answer: Let's think step by step." with nothing after it;
 * - exemplars are the first k validation rows of the question's category, in hub order.
 * The reference shrinks k when a prompt exceeds the model's context; that depends on a tokenizer and is
 * left to the caller (ask for fewer shots).
 */
import { buildToolUseMessages, formatQuestionBlock, renderChat, type ChatMessage, type Step } from '../common/step-format.js';
import type { Question } from './rows.js';

/** `cot_prompt_lib/initial_prompt.txt`, verbatim (including its three trailing newlines). */
export const REFERENCE_INITIAL_PROMPT =
  'The following are multiple choice questions (with answers) about {$}. Think step by step and then finish your answer with "the answer is (X)" where X is the correct letter choice.\n\n\n';

/** The reference's default number of exemplars (`--ntrain 5`); the validation split has 5 per category. */
export const REFERENCE_SHOTS = 5;

const COT_PREFIX_IN_DATA = "A: Let's think step by step.";
const COT_PREFIX_IN_PROMPT = "Answer: Let's think step by step.";

/** One exemplar (with its worked answer) or the asked question (answer left open). */
export function formatCotExample(q: Question, includingAnswer: boolean): string {
  const block = formatQuestionBlock(q);
  return includingAnswer
    ? `${block}${q.cotContent.replaceAll(COT_PREFIX_IN_DATA, COT_PREFIX_IN_PROMPT)}\n\n`
    : `${block}${COT_PREFIX_IN_PROMPT}`;
}

/** The reference CoT prompt: header for the question's category, the exemplars, then the question. */
export function renderCotPrompt(question: Question, exemplars: readonly Question[]): string {
  let prompt = `${REFERENCE_INITIAL_PROMPT.replaceAll('{$}', question.category)}\n`;
  for (const ex of exemplars) prompt += formatCotExample(ex, true);
  return prompt + formatCotExample(question, false);
}

export interface RenderedPrompt {
  text: string;
  messages: ChatMessage[];
}

/**
 * The reference prompt as one completion-style text (the reference feeds it to the model raw, not in a
 * chat template) and as a single user message for chat endpoints.
 */
export function cotPrompt(question: Question, exemplars: readonly Question[]): RenderedPrompt {
  const text = renderCotPrompt(question, exemplars);
  return { text, messages: [{ role: 'user', content: text }] };
}

/** The SPaRK tool-use chat for a question and the steps taken so far, ending in an open assistant turn. */
export function toolUsePrompt(question: Question, stepsSoFar: readonly Step[]): RenderedPrompt {
  const messages = buildToolUseMessages(formatQuestionBlock(question), stepsSoFar);
  return { text: renderChat(messages, { addGenerationPrompt: true }), messages };
}
