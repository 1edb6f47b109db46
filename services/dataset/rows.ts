/**
 * One MMLU-Pro row: the dataset hub's column layout (`question_id, question, options, answer,
 * answer_index, cot_content, category, src`), its validation, and the conversion to and from the
 * `Question` message the services exchange.
 *
 * Validation follows what the reference evaluator (TIGER-AI-Lab/MMLU-Pro `evaluate_from_local.py`)
 * assumes: options are a list whose "N/A" entries are padding (its `preprocess` drops them, and so do
 * we, before counting), 3 to 10 options remain, `answer` is the letter of `answer_index`, and the
 * category is one of the 14. A row that breaks a rule is reported with its file, row and field.
 */
import type { Question } from '../common/gen/spark/v1/common.js';
import { OPTION_LETTERS } from '../common/step-format.js';
import { normalizeCategory } from './categories.js';

export type { Question };

/** Option letters; MMLU-Pro has at most 10 options. */
export const LETTERS = OPTION_LETTERS;
export const MIN_OPTIONS = 3;
export const MAX_OPTIONS = LETTERS.length;

/** Padding value in the hub's validation split (and older test releases), not a real option. */
const PADDING_OPTION = 'N/A';

/** A row in the hub's columns, key order as the hub writes them. */
export interface HubRow {
  question_id: number;
  question: string;
  options: string[];
  answer: string;
  answer_index: number;
  cot_content: string;
  category: string;
  src: string;
}

/** Where a row came from: the file and its 1-based row number (the line number in JSONL). */
export interface RowLocation {
  file: string;
  row: number;
}

/** One broken rule in one row. */
export interface RowIssue extends RowLocation {
  field: keyof HubRow | '(row)';
  problem: string;
  /** The row's question_id when it could be read. */
  questionId?: number;
}

export function describeIssue(issue: RowIssue): string {
  const id = issue.questionId === undefined ? '' : ` (question_id ${issue.questionId})`;
  return `${issue.file} row ${issue.row}${id}: ${issue.field}: ${issue.problem}`;
}

/** Thrown in strict loading for the first bad row; carries where it is. */
export class BadRowError extends Error {
  override readonly name = 'BadRowError';
  constructor(readonly issue: RowIssue) {
    super(describeIssue(issue));
  }
}

/** Parquet INT64 columns arrive as bigint; JSON has numbers. Anything else is not an integer. */
function toInteger(value: unknown): number | undefined {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  return undefined;
}

/** A text column; absent or null optional columns become "". */
function toText(value: unknown, optional: boolean): string | undefined {
  if (typeof value === 'string') return value;
  if (optional && (value === undefined || value === null)) return '';
  return undefined;
}

/** Validates one raw row; returns the Question or the first problem found. */
export function parseRow(raw: unknown, where: RowLocation): Question | RowIssue {
  let at: RowLocation & { questionId?: number } = where;
  const fail = (field: RowIssue['field'], problem: string): RowIssue => ({ ...at, field, problem });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('(row)', 'not an object with the hub columns');
  const r = raw as Record<string, unknown>;

  const questionId = toInteger(r.question_id);
  if (questionId === undefined || questionId < 0) return fail('question_id', `must be a whole number >= 0 (got ${JSON.stringify(String(r.question_id))})`);
  at = { ...where, questionId };
  const question = toText(r.question, false);
  if (!question?.trim()) return fail('question', 'must be non-empty text');
  if (!Array.isArray(r.options) || r.options.some((o) => typeof o !== 'string')) return fail('options', 'must be a list of strings');
  const options = (r.options as string[]).filter((o) => o !== PADDING_OPTION);
  if (options.length < MIN_OPTIONS || options.length > MAX_OPTIONS) {
    return fail('options', `has ${options.length} options; allowed ${MIN_OPTIONS}..${MAX_OPTIONS} (not counting "${PADDING_OPTION}" padding)`);
  }
  const answer = toText(r.answer, false);
  if (!answer || !(LETTERS as readonly string[]).includes(answer)) return fail('answer', `must be one letter ${LETTERS[0]}..${LETTERS[MAX_OPTIONS - 1]} (got ${JSON.stringify(r.answer)})`);
  const answerIndex = toInteger(r.answer_index);
  if (answerIndex === undefined || answerIndex < 0 || answerIndex >= options.length) {
    return fail('answer_index', `must be a whole number in 0..${options.length - 1} (got ${JSON.stringify(String(r.answer_index))})`);
  }
  if (LETTERS[answerIndex] !== answer) return fail('answer_index', `${answerIndex} is letter ${LETTERS[answerIndex]} but answer is ${answer}`);
  const cotContent = toText(r.cot_content, true);
  if (cotContent === undefined) return fail('cot_content', 'must be text');
  const rawCategory = toText(r.category, false);
  const category = rawCategory === undefined ? undefined : normalizeCategory(rawCategory);
  if (!category) return fail('category', `unknown category ${JSON.stringify(r.category)}`);
  const src = toText(r.src, true);
  if (src === undefined) return fail('src', 'must be text');

  return { questionId, question, options, answer, answerIndex, cotContent, category, src };
}

export function isRowIssue(x: Question | RowIssue): x is RowIssue {
  return 'problem' in x;
}

/** The Question as a hub row (JSONL output keeps the hub's columns and order). */
export function toHubRow(q: Question): HubRow {
  return {
    question_id: q.questionId,
    question: q.question,
    options: q.options,
    answer: q.answer,
    answer_index: q.answerIndex,
    cot_content: q.cotContent,
    category: q.category,
    src: q.src,
  };
}
