/**
 * Reads responses made elsewhere for `spark eval score`: JSONL with one
 * `{question_id, category, answer, response}` object a line, or a reference result file of
 * TIGER-AI-Lab/MMLU-Pro (a JSON array whose rows hold the response as `model_outputs`, or
 * `generated_text` in its published model-output archives), so its numbers can be checked directly.
 * Errors name the line (or array index) and the field.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../common/errors.js';
import { validateRecord, type ResponseRecord } from './score.js';

/** Field names that may hold the response text, in order of preference. */
const RESPONSE_FIELDS = ['response', 'model_outputs', 'generated_text'] as const;

function toRecord(row: unknown, where: string): ResponseRecord {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    throw new InvalidArgumentError(where, 'must be a JSON object with question_id, category, answer, response');
  }
  const o = row as Record<string, unknown>;
  const responseField = RESPONSE_FIELDS.find((f) => f in o);
  if (!responseField) throw new InvalidArgumentError(`${where}.response`, 'missing', `a string field named ${RESPONSE_FIELDS.join(' or ')}`);
  const questionId = Number(o.question_id);
  if (!Number.isInteger(questionId)) throw new InvalidArgumentError(`${where}.question_id`, `must be a whole number (got ${JSON.stringify(o.question_id)})`);
  return validateRecord({ questionId, category: o.category as string, answer: o.answer as string, response: o[responseField] as string }, where);
}

/** Parses file text (JSONL, or a JSON array when it starts with "["). `name` is used in errors. */
export function parseResponses(text: string, name: string): ResponseRecord[] {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let rows: unknown;
    try {
      rows = JSON.parse(trimmed);
    } catch (err) {
      throw new InvalidArgumentError(name, `not valid JSON (${(err as Error).message})`, 'JSONL, or a JSON array of result rows', { cause: err });
    }
    return (rows as unknown[]).map((row, i) => toRecord(row, `${name}[${i}]`));
  }
  const records: ResponseRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (err) {
      throw new InvalidArgumentError(`${name}:${i + 1}`, `not valid JSON (${(err as Error).message})`, 'one JSON object per line', { cause: err });
    }
    records.push(toRecord(row, `${name}:${i + 1}`));
  });
  return records;
}

/** Reads and parses a responses file. */
export function readResponses(path: string): ResponseRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError('--responses', `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, undefined, { cause: err });
  }
  return parseResponses(text, path);
}
