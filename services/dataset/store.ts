/**
 * The dataset as the service and the CLI see it: named question pools (splits), lookups by id,
 * category counts, seeded samples, few-shot exemplars and prompts. Requests are validated here, once,
 * with errors naming the request field (`n`, `categories[1]`, `question_ids[0]`, `k`, ...) and the
 * allowed values; the gRPC handlers and the CLI only translate names.
 *
 * Pools: the shipped `working-set`, `eval` and `validation` splits (always), and `test` when a full
 * MMLU-Pro source is configured (SPARK_DATASET_SOURCE, or `--source` in the CLI).
 */
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { Step } from '../common/step-format.js';
import { CATEGORIES, parseCategories, parseCategory } from './categories.js';
import { loadQuestions, type LoadResult, type SourceSplit } from './loaders.js';
import { cotPrompt, REFERENCE_SHOTS, toolUsePrompt, type RenderedPrompt } from './prompts.js';
import type { Question, RowIssue } from './rows.js';
import { sampleQuestions } from './sampling.js';
import { DATA_DIR, loadShippedSplit } from './shipped.js';

export const SPLIT_NAMES = ['working-set', 'eval', 'validation', 'test'] as const;
export type SplitName = (typeof SPLIT_NAMES)[number];

export const PROMPT_FORMATS = ['cot-0shot', 'cot-5shot', 'tool-use'] as const;
export type PromptFormatName = (typeof PROMPT_FORMATS)[number];

export interface SampleRequest {
  split: SplitName;
  n: number;
  seed: number;
  perCategory?: boolean;
  /** Category names as given (underscores allowed); validated here. */
  categories?: readonly string[];
  /** Exact ids instead of sampling; `n` is then ignored. */
  questionIds?: readonly number[];
}

export interface OpenOptions {
  /** A full MMLU-Pro file or folder, served as the `test` split. */
  source?: string;
  /** Which split of a source folder to read. @default 'test' */
  sourceSplit?: SourceSplit;
  /** Fail on a bad source row instead of skipping it. @default false */
  strict?: boolean;
  /** Folder of the shipped files. @default services/dataset/data */
  dataDir?: string;
}

export class DatasetStore {
  private readonly byId = new Map<number, Question>();

  constructor(
    private readonly pools: Partial<Record<SplitName, readonly Question[]>>,
    /** Rows of the source that were skipped as invalid (reported by the caller). */
    readonly skipped: readonly RowIssue[] = [],
  ) {
    // Later pools never shadow earlier ones; ids are unique across the hub's splits anyway.
    for (const split of SPLIT_NAMES) for (const q of pools[split] ?? []) if (!this.byId.has(q.questionId)) this.byId.set(q.questionId, q);
  }

  /** Loads the shipped splits and, when given, the source as `test`. */
  static async open(opts: OpenOptions = {}): Promise<DatasetStore> {
    const dataDir = opts.dataDir ?? DATA_DIR;
    const [workingSet, evalSplit, validation] = await Promise.all([
      loadShippedSplit('working-set', dataDir), loadShippedSplit('eval', dataDir), loadShippedSplit('validation', dataDir),
    ]);
    let source: LoadResult | undefined;
    if (opts.source) source = await loadQuestions(opts.source, { strict: opts.strict, split: opts.sourceSplit ?? 'test' });
    return new DatasetStore(
      { 'working-set': workingSet, eval: evalSplit, validation, ...(source ? { test: source.questions } : {}) },
      source?.skipped ?? [],
    );
  }

  /** The questions of a split; `test` needs a configured source. */
  pool(split: SplitName): readonly Question[] {
    const pool = this.pools[split];
    if (pool) return pool;
    if (split === 'test') {
      throw new FailedPreconditionError('split: the full test split needs an MMLU-Pro source (set SPARK_DATASET_SOURCE, or --source in the CLI, to a parquet/JSONL file or folder); the shipped splits are working-set, eval and validation');
    }
    throw new InvalidArgumentError('split', `unknown split ${JSON.stringify(split)}`, SPLIT_NAMES.join(', '));
  }

  /** All 14 categories (hub order, sorted by name) with their counts in the split. */
  categories(split: SplitName): Array<{ name: string; count: number }> {
    const pool = this.pool(split);
    return CATEGORIES.map((name) => ({ name, count: pool.filter((q) => q.category === name).length }));
  }

  /** One question from any loaded split. */
  question(id: number, field = 'question_id'): Question {
    const q = this.byId.get(id);
    if (!q) throw new NotFoundError(`${field}: question`, String(id));
    return q;
  }

  /** A seeded sample, or the exact ids asked for (in the order asked). */
  sample(req: SampleRequest): Question[] {
    const pool = this.pool(req.split);
    if (req.questionIds?.length) return this.pickIds(pool, req.split, req.questionIds);
    if (!Number.isSafeInteger(req.seed)) throw new InvalidArgumentError('seed', `must be a whole number (got ${req.seed})`, `${Number.MIN_SAFE_INTEGER}..${Number.MAX_SAFE_INTEGER}`);
    return sampleQuestions(pool, {
      n: req.n,
      seed: req.seed,
      perCategory: req.perCategory,
      categories: parseCategories(req.categories ?? [], 'categories'),
    });
  }

  private pickIds(pool: readonly Question[], split: SplitName, ids: readonly number[]): Question[] {
    const inPool = new Map(pool.map((q) => [q.questionId, q]));
    const seen = new Set<number>();
    return ids.map((id, i) => {
      if (seen.has(id)) throw new InvalidArgumentError(`question_ids[${i}]`, `duplicate id ${id}`, 'each id once');
      seen.add(id);
      const q = inPool.get(id);
      if (!q) throw new NotFoundError(`question_ids[${i}]: ${split} question`, String(id));
      return q;
    });
  }

  /**
   * The first k validation exemplars of a category, in hub order (the reference's choice). k = 0 means
   * the default 5 (proto3 cannot tell an unset k from 0). `excludeId` leaves a question out of its own
   * exemplars when a validation question is itself prompted.
   */
  fewShot(category: string, k = 0, excludeId?: number): Question[] {
    const name = parseCategory(category, 'category');
    if (!Number.isInteger(k) || k < 0 || k > REFERENCE_SHOTS) {
      throw new InvalidArgumentError('k', `${k} is out of range`, `0..${REFERENCE_SHOTS} (0 = the default ${REFERENCE_SHOTS})`);
    }
    return this.pool('validation').filter((q) => q.category === name && q.questionId !== excludeId).slice(0, k || REFERENCE_SHOTS);
  }

  /** A prompt for a question id; `stepsSoFar` only with the tool-use format. */
  renderPrompt(questionId: number, format: PromptFormatName, stepsSoFar: readonly Step[] = []): RenderedPrompt {
    const q = this.question(questionId);
    if (format !== 'tool-use' && stepsSoFar.length) {
      throw new InvalidArgumentError('steps_so_far', `steps are only rendered in the tool-use format (got ${stepsSoFar.length} with ${format})`, 'empty unless format is tool-use');
    }
    switch (format) {
      case 'cot-0shot': return cotPrompt(q, []);
      case 'cot-5shot': return cotPrompt(q, this.fewShot(q.category, REFERENCE_SHOTS, q.questionId));
      case 'tool-use': return toolUsePrompt(q, stepsSoFar);
      default: throw new InvalidArgumentError('format', `unknown prompt format ${JSON.stringify(format)}`, PROMPT_FORMATS.join(', '));
    }
  }
}
