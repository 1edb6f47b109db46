/**
 * Loads MMLU-Pro from the layouts users have: the dataset hub's parquet files
 * (`data/test-00000-of-00001.parquet`, read with hyparquet + hyparquet-compressors), JSONL or a JSON
 * array with the same columns (optionally gzipped), or a folder holding either. Every row is validated
 * (`rows.ts`); a bad row either fails the load (`strict`) or is skipped and reported, so a caller can
 * say "skipped 1 bad row" with its file, row and field.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { BadRowError, isRowIssue, parseRow, type Question, type RowIssue } from './rows.js';

/** The two hub splits a folder can hold. */
export const SOURCE_SPLITS = ['test', 'validation'] as const;
export type SourceSplit = (typeof SOURCE_SPLITS)[number];

/** File name endings the loader reads. */
export const SUPPORTED_EXTENSIONS = ['.parquet', '.jsonl', '.jsonl.gz', '.json', '.json.gz'] as const;

export interface LoadOptions {
  /** Fail on the first bad row instead of skipping it. @default false */
  strict?: boolean;
  /** For a folder: which split's files to read (`test*`, `validation*`). @default 'test' */
  split?: SourceSplit;
}

export interface LoadResult {
  /** Valid rows, in file order. */
  questions: Question[];
  /** Rows skipped, with where and why (always empty when strict). */
  skipped: RowIssue[];
  /** The files read, in order. */
  files: string[];
}

/** The source itself is unusable (missing, unknown format, not a list); names the path. */
export class DataSourceError extends Error {
  override readonly name = 'DataSourceError';
}

function extensionOf(path: string): (typeof SUPPORTED_EXTENSIONS)[number] | undefined {
  const lower = path.toLowerCase();
  // Longest ending first, so ".jsonl.gz" is not taken for ".gz" of ".json".
  return [...SUPPORTED_EXTENSIONS].sort((a, b) => b.length - a.length).find((ext) => lower.endsWith(ext));
}

function readText(path: string): string {
  const bytes = readFileSync(path);
  return (path.toLowerCase().endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}

/** Raw rows of one file with their 1-based row numbers (JSONL: the line number). */
async function readRawRows(path: string): Promise<Array<{ row: number; value: unknown; parseError?: string }>> {
  const ext = extensionOf(path);
  if (ext === '.parquet') {
    const rows = await parquetReadObjects({ file: await asyncBufferFromFile(path), compressors });
    return rows.map((value, i) => ({ row: i + 1, value }));
  }
  if (ext === '.jsonl' || ext === '.jsonl.gz') {
    const out: Array<{ row: number; value: unknown; parseError?: string }> = [];
    readText(path).split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        out.push({ row: i + 1, value: JSON.parse(line) });
      } catch (err) {
        out.push({ row: i + 1, value: undefined, parseError: `not valid JSON (${(err as Error).message})` });
      }
    });
    return out;
  }
  if (ext === '.json' || ext === '.json.gz') {
    let data: unknown;
    try {
      data = JSON.parse(readText(path));
    } catch (err) {
      throw new DataSourceError(`${path}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
    if (!Array.isArray(data)) throw new DataSourceError(`${path}: a .json source must hold a list of rows in the hub's columns`);
    return data.map((value, i) => ({ row: i + 1, value }));
  }
  throw new DataSourceError(`${path}: unsupported file type (allowed: ${SUPPORTED_EXTENSIONS.join(', ')}, or a folder of them)`);
}

/**
 * The data files of a folder: the split's files (`test-00000-of-00001.parquet`, `test.jsonl`, …) in the
 * folder or its `data/` subfolder (the hub layout). A folder with no split-named files is read whole.
 */
export function folderFiles(dir: string, split: SourceSplit): string[] {
  const candidates = [dir, join(dir, 'data')]
    .filter((d) => existsSync(d) && statSync(d).isDirectory())
    .flatMap((d) => readdirSync(d).sort().map((name) => join(d, name)))
    .filter((path) => statSync(path).isFile() && extensionOf(path));
  const splitOf = (path: string) => SOURCE_SPLITS.find((s) => new RegExp(`^${s}([-_.]|$)`, 'i').test(basename(path)));
  const named = candidates.filter((path) => splitOf(path));
  const chosen = named.length ? named.filter((path) => splitOf(path) === split) : candidates;
  if (!chosen.length) {
    throw new DataSourceError(`${dir}: no MMLU-Pro ${split} files found (looked for ${split}*{${SUPPORTED_EXTENSIONS.join(',')}} in the folder and its data/ subfolder)`);
  }
  return chosen;
}

/** Loads and validates a file or folder. Throws DataSourceError for an unusable source, BadRowError when strict. */
export async function loadQuestions(source: string, opts: LoadOptions = {}): Promise<LoadResult> {
  if (!existsSync(source)) throw new DataSourceError(`${source}: no such file or folder`);
  const files = statSync(source).isDirectory() ? folderFiles(source, opts.split ?? 'test') : [source];
  const questions: Question[] = [];
  const skipped: RowIssue[] = [];
  const seen = new Map<number, string>();
  const reject = (issue: RowIssue) => {
    if (opts.strict) throw new BadRowError(issue);
    skipped.push(issue);
  };
  for (const file of files) {
    for (const { row, value, parseError } of await readRawRows(file)) {
      if (parseError) { reject({ file, row, field: '(row)', problem: parseError }); continue; }
      const parsed = parseRow(value, { file, row });
      if (isRowIssue(parsed)) { reject(parsed); continue; }
      const first = seen.get(parsed.questionId);
      if (first) { reject({ file, row, field: 'question_id', questionId: parsed.questionId, problem: `duplicate id ${parsed.questionId} (first at ${first})` }); continue; }
      seen.set(parsed.questionId, `${file} row ${row}`);
      questions.push(parsed);
    }
  }
  return { questions, skipped, files };
}
