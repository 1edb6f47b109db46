/**
 * The final-answer format of SPaRK steps (DESIGN.md §4): a concluding step ends with "the answer is (X)".
 * The letter is read by the shared MMLU-Pro reference pattern (`extractFinalAnswer`, the same one the
 * evaluator uses, so the judge's `correct` agrees with the evaluation); on top of it the judge checks the
 * form, since a claim written differently, or naming no option, is a flaw to score.
 */
import { extractFinalAnswer, finalAnswerText } from '../common/step-format.js';
import { optionLetter } from './prompt.js';

export interface AnswerClaim {
  /** Letter claimed, "" when the text claims an answer without a letter ("the answer is 42"). */
  letter: string;
  /** The letter is one of the question's options. */
  validLetter: boolean;
  /** The text ends with exactly "the answer is (X)" (optionally a full stop), X a valid letter. */
  wellFormed: boolean;
}

/** Any claim of an answer, with or without a letter. */
const CLAIM_PHRASE = /\banswer\s+is\b/i;

/** The answer claimed in `text` for a question with `optionCount` options, or undefined if none. */
export function extractAnswer(text: string, optionCount: number): AnswerClaim | undefined {
  const letter = extractFinalAnswer(text) ?? '';
  if (!letter && !CLAIM_PHRASE.test(text)) return undefined;
  const validLetter = Array.from({ length: optionCount }, (_, i) => optionLetter(i)).includes(letter);
  const ending = text.trim().replace(/\.$/, '').toLowerCase();
  return { letter, validLetter, wellFormed: validLetter && ending.endsWith(finalAnswerText(letter).toLowerCase()) };
}
