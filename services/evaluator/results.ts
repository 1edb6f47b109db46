/**
 * The append-only results log of an evaluation: one JSON line per (model, mode, question), written when
 * the question is done and never rewritten. A resumed job reads it back and skips what is there; the
 * report and the metrics are folds over it. A line torn by a kill mid-write is ignored on reading
 * (services/common/files.ts) and cut off before a resumed run appends (else the next record would
 * be glued to it), so that question is simply asked again.
 */
import { join } from 'node:path';
import { appendJsonl, readJsonl } from '../common/files.js';
import type { EvalModeName } from './spec.js';

export const RESULTS_FILE = 'results.jsonl';

/** What happened to a question, as the `outcome` label of spark_eval_questions_total. */
export const OUTCOMES = ['correct', 'wrong', 'no_answer', 'timeout'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** One step of an agentic answer, as logged. */
export interface LoggedStep {
  action: string;
  /** Tool input JSON (tool steps). */
  input?: string;
  /** Tool output, or the thought of a cot step. */
  output?: string;
  error?: string;
  /** A call of this tool whose arguments did not parse: why (the step counts as the tool's, it did not run). */
  malformed?: string;
}

export interface EvalRecord {
  model: string;
  mode: EvalModeName;
  question_id: number;
  category: string;
  /** The key. */
  answer: string;
  /** The text answers were extracted from ("" after a timeout). */
  response: string;
  /** Extracted letter, or a random-mode guess; null when none. */
  predicted: string | null;
  /** Which reference rule matched; null when none did. */
  rule: string | null;
  guessed: boolean;
  correct: boolean;
  outcome: Outcome;
  /** The action of every step (agentic mode; empty in CoT mode). */
  actions: string[];
  steps?: LoggedStep[];
  tokens?: number;
  duration_ms: number;
}

export function resultsPath(outDirAbs: string): string {
  return join(outDirAbs, RESULTS_FILE);
}

/** Key of a (model, mode, question) triple: done once, skipped on resume. */
export function recordKey(r: Pick<EvalRecord, 'model' | 'mode' | 'question_id'>): string {
  return `${r.model}\u0000${r.mode}\u0000${r.question_id}`;
}

/** The records written so far; if a triple appears twice (two writers raced), the first one counts. */
export function readResults(path: string): EvalRecord[] {
  const seen = new Set<string>();
  return readJsonl<EvalRecord>(path).filter((r) => {
    const key = recordKey(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function appendResult(path: string, record: EvalRecord): void {
  appendJsonl(path, record);
}

