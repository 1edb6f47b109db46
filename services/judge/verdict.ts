/**
 * Reading the judge's reply. Endpoints with structured output return exactly the JSON schema below; others
 * return prose, code fences or a bare array, so the parser looks for the JSON value inside the text. What
 * it never does is guess a number: a score that is missing, not a JSON number ("high", "7"), or outside
 * 0..10 is a `VerdictError`, which the caller answers with one repair request and then counts as an error.
 */

import type { ResponseSchema } from '../common/llm/chat-client.js';

/** One judged step. */
export interface Verdict {
  /** 0..10. */
  score: number;
  rationale: string;
}

export const MIN_SCORE = 0;
export const MAX_SCORE = 10;

/** The reply could not be used; the message names the field and the problem (it is sent back in the repair turn). */
export class VerdictError extends Error {
  override readonly name = 'VerdictError';
}

const verdictItemSchema = (withIndex: boolean) => ({
  type: 'object',
  properties: {
    ...(withIndex ? { index: { type: 'integer', description: 'the candidate number' } } : {}),
    score: { type: 'number', minimum: MIN_SCORE, maximum: MAX_SCORE, description: '0 (wrong) to 10 (correct and decisive)' },
    rationale: { type: 'string', description: 'one short sentence' },
  },
  required: withIndex ? ['index', 'score', 'rationale'] : ['score', 'rationale'],
  additionalProperties: false,
});

export type { ResponseSchema };

/** `response_format.json_schema` for a batch of `count` candidates. */
export function batchSchema(count: number): ResponseSchema {
  return {
    name: 'judge_scores',
    schema: {
      type: 'object',
      properties: { scores: { type: 'array', items: verdictItemSchema(true), minItems: count, maxItems: count } },
      required: ['scores'],
      additionalProperties: false,
    },
  };
}

/** `response_format.json_schema` for one candidate or a final answer. */
export const SINGLE_SCHEMA: ResponseSchema = { name: 'judge_score', schema: verdictItemSchema(false) };

/** Parses a batch reply: `{"scores": [...]}` or a bare array, `count` entries, in candidate order. */
export function parseBatchVerdicts(text: string, count: number): Verdict[] {
  const value = extractJson(text);
  const list = Array.isArray(value) ? value : isObject(value) && Array.isArray(value.scores) ? value.scores : undefined;
  if (!list) throw new VerdictError('expected a JSON object {"scores": [...]} (or a JSON array)');
  if (list.length !== count) throw new VerdictError(`scores: expected ${count} entries, one per candidate, got ${list.length}`);

  const out: Array<Verdict | undefined> = new Array(count).fill(undefined);
  list.forEach((item, position) => {
    const verdict = toVerdict(item, `scores[${position}]`);
    const index = isObject(item) && 'index' in item ? item.index : position;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count) {
      throw new VerdictError(`scores[${position}].index: ${JSON.stringify(index)} is not a candidate number 0..${count - 1}`);
    }
    if (out[index]) throw new VerdictError(`scores[${position}].index: candidate ${index} is scored twice`);
    out[index] = verdict;
  });
  return out as Verdict[];
}

/** Parses a single reply: `{"score", "rationale"}` (also inside a one-entry array or `scores` list). */
export function parseSingleVerdict(text: string): Verdict {
  const value = extractJson(text);
  if (Array.isArray(value) || (isObject(value) && Array.isArray(value.scores))) {
    const [verdict] = parseBatchVerdicts(JSON.stringify(value), 1);
    return verdict;
  }
  return toVerdict(value, '(reply)');
}

function toVerdict(item: unknown, where: string): Verdict {
  if (!isObject(item)) throw new VerdictError(`${where}: expected an object with "score" and "rationale"`);
  const score = item.score;
  if (score === undefined) throw new VerdictError(`${where}.score: missing`);
  if (typeof score !== 'number' || !Number.isFinite(score)) {
    throw new VerdictError(`${where}.score: ${JSON.stringify(score)} is not a number`);
  }
  if (score < MIN_SCORE || score > MAX_SCORE) throw new VerdictError(`${where}.score: ${score} is outside ${MIN_SCORE}..${MAX_SCORE}`);
  const rationale = item.rationale ?? '';
  if (typeof rationale !== 'string') throw new VerdictError(`${where}.rationale: expected a string`);
  return { score, rationale: rationale.trim() };
}

/**
 * The JSON value in `text`: the whole text, else the inside of a ```json fence, else the span from the
 * first `{`/`[` to the last matching bracket (models like to add "Here are the scores:").
 */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  if (!trimmed) throw new VerdictError('the reply is empty');
  const candidates = [trimmed];
  const fence = /```(?:json)?\s*([\s\S]*?)```/i.exec(trimmed);
  if (fence) candidates.push(fence[1].trim());
  const start = trimmed.search(/[[{]/);
  if (start >= 0) {
    const close = trimmed[start] === '{' ? '}' : ']';
    const end = trimmed.lastIndexOf(close);
    if (end > start) candidates.push(trimmed.slice(start, end + 1));
  }
  for (const candidate of candidates) {
    try {
      return JSON.parse(candidate);
    } catch {
      // try the next reading
    }
  }
  throw new VerdictError('the reply is not valid JSON');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
