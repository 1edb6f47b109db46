/**
 * The data shipped inside the repository (services/dataset/data/, documented in its README.md), so the
 * product runs offline and never reads a shared folder at run time:
 *
 * - `validation.jsonl.gz`: the hub's validation split (70 rows, 5 per category): few-shot exemplars.
 * - `working-set.jsonl.gz` + `working-set-ids.txt`: the paper's 2,500 test questions, a stratified
 *   sample proportional to category sizes, seed 0.
 * - `eval.jsonl.gz` + `eval-ids.txt`: 10 per category (140), drawn with the same seed from the test
 *   questions outside the working set, for quick held-apart evaluation (2 per category: sample 28 with
 *   equal counts per category from this split).
 * - `manifest.json`: the source's checksum, row counts, skipped rows, seeds and per-category counts.
 *
 * `buildShippedData` makes all of them from a full MMLU-Pro test split and validation split;
 * `scripts/make-dataset.ts` is its command line. Rebuilding from the same source gives identical files.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { writeFileAtomic } from '../common/files.js';
import { REPO_ROOT } from '../common/paths.js';
import { loadQuestions, type LoadOptions } from './loaders.js';
import { describeIssue, toHubRow, type Question, type RowIssue } from './rows.js';
import { countByCategory, sampleDisjoint } from './sampling.js';

/** Where the shipped files live (not copied by tsc: the built code reads them from the source tree). */
export const DATA_DIR = join(REPO_ROOT, 'services', 'dataset', 'data');

/** Paper §4: 2,500 stratified MMLU-Pro test questions. */
export const WORKING_SET_SIZE = 2_500;
/** Seed of the shipped samples; `spark dataset sample --n 2500 --seed 0 --source <test>` redraws it. */
export const SHIPPED_SEED = 0;
/** Questions per category in the held-apart eval split (14 × 10 = 140). */
export const EVAL_PER_CATEGORY = 10;

export const SHIPPED_FILES = {
  validation: 'validation.jsonl.gz',
  workingSet: 'working-set.jsonl.gz',
  workingSetIds: 'working-set-ids.txt',
  eval: 'eval.jsonl.gz',
  evalIds: 'eval-ids.txt',
  manifest: 'manifest.json',
} as const;

/** The shipped splits, by the names the CLI and the store use. */
export const SHIPPED_SPLITS = {
  'working-set': SHIPPED_FILES.workingSet,
  eval: SHIPPED_FILES.eval,
  validation: SHIPPED_FILES.validation,
} as const;
export type ShippedSplit = keyof typeof SHIPPED_SPLITS;

/** Reads one shipped split; strict, since a bad row in our own files is a bug. */
export async function loadShippedSplit(split: ShippedSplit, dataDir = DATA_DIR): Promise<Question[]> {
  return (await loadQuestions(join(dataDir, SHIPPED_SPLITS[split]), { strict: true })).questions;
}

/** The committed id list of a shipped sample. */
export function readIdList(file: string, dataDir = DATA_DIR): number[] {
  return readFileSync(join(dataDir, file), 'utf8').split('\n').filter(Boolean).map(Number);
}

/** Working set and the disjoint eval split, drawn the same way the shipped files were. */
export function drawShippedSamples(test: readonly Question[], seed = SHIPPED_SEED): [Question[], Question[]] {
  const categories = countByCategory(test).size;
  return sampleDisjoint(
    test,
    { n: WORKING_SET_SIZE, seed },
    { n: EVAL_PER_CATEGORY * categories, seed, perCategory: true },
  );
}

const gzJsonl = (questions: readonly Question[]) =>
  gzipSync(questions.map((q) => `${JSON.stringify(toHubRow(q))}\n`).join(''), { level: 9 });

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

export interface BuildOptions extends Pick<LoadOptions, 'strict'> {
  /** The full test split: a file or a folder (hub layout). */
  testSource: string;
  /** The validation split: a file or a folder. */
  validationSource: string;
  /** Output folder. @default DATA_DIR */
  outDir?: string;
  seed?: number;
}

export interface BuildReport {
  workingSet: Question[];
  eval: Question[];
  validation: Question[];
  skipped: RowIssue[];
}

/** Writes every shipped file from the given sources. Deterministic: same sources → same bytes. */
export async function buildShippedData(opts: BuildOptions): Promise<BuildReport> {
  const outDir = opts.outDir ?? DATA_DIR;
  const seed = opts.seed ?? SHIPPED_SEED;
  const test = await loadQuestions(opts.testSource, { strict: opts.strict, split: 'test' });
  const validation = await loadQuestions(opts.validationSource, { strict: opts.strict, split: 'validation' });
  const [workingSet, evalSplit] = drawShippedSamples(test.questions, seed);
  const counts = (qs: readonly Question[]) => Object.fromEntries(countByCategory(qs));

  writeFileAtomic(join(outDir, SHIPPED_FILES.workingSet), gzJsonl(workingSet));
  writeFileAtomic(join(outDir, SHIPPED_FILES.workingSetIds), workingSet.map((q) => `${q.questionId}\n`).join(''));
  writeFileAtomic(join(outDir, SHIPPED_FILES.eval), gzJsonl(evalSplit));
  writeFileAtomic(join(outDir, SHIPPED_FILES.evalIds), evalSplit.map((q) => `${q.questionId}\n`).join(''));
  writeFileAtomic(join(outDir, SHIPPED_FILES.validation), gzJsonl(validation.questions));
  const describeSource = (r: typeof test) => ({
    files: r.files.map((f) => ({ name: basename(f), sha256: sha256(f) })),
    rows: r.questions.length + r.skipped.length,
    valid: r.questions.length,
    skipped: r.skipped.map((issue) => describeIssue({ ...issue, file: basename(issue.file) })),
  });
  const manifest = {
    dataset: 'TIGER-Lab/MMLU-Pro (MIT licence)',
    madeBy: 'scripts/make-dataset.ts (services/dataset/shipped.ts buildShippedData)',
    seed,
    test: { ...describeSource(test), categories: counts(test.questions) },
    validation: { ...describeSource(validation), categories: counts(validation.questions) },
    workingSet: { file: SHIPPED_FILES.workingSet, ids: SHIPPED_FILES.workingSetIds, n: workingSet.length, method: 'proportional, largest remainder', categories: counts(workingSet) },
    eval: { file: SHIPPED_FILES.eval, ids: SHIPPED_FILES.evalIds, n: evalSplit.length, method: `equal per category (${EVAL_PER_CATEGORY}), test rows outside the working set`, categories: counts(evalSplit) },
  };
  writeFileAtomic(join(outDir, SHIPPED_FILES.manifest), `${JSON.stringify(manifest, null, 2)}\n`);
  return { workingSet, eval: evalSplit, validation: validation.questions, skipped: [...test.skipped, ...validation.skipped] };
}
