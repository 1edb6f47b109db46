/**
 * DatasetService handlers: decode the request, ask the DatasetStore, encode. Validation and error
 * messages live in the store; this file only maps proto enums to names and counts served questions.
 */
import { InvalidArgumentError } from '../common/errors.js';
import {
  PromptFormat,
  Split,
  type DatasetServiceService,
  type GetFewShotRequest,
  type GetQuestionRequest,
  type ListCategoriesRequest,
  type RenderPromptRequest,
  type SampleQuestionsRequest,
} from '../common/gen/spark/v1/dataset.js';
import type { Handlers } from '../common/handlers.js';
import { counter } from '../common/metrics.js';
import type { ServiceDeps } from '../common/service.js';
import type { DatasetServiceConfig } from './config.js';
import { describeIssue, type Question } from './rows.js';
import { DatasetStore, type PromptFormatName, type SplitName } from './store.js';

/** Log at most this many skipped rows one by one; the rest only as a count. */
const SKIPPED_ROWS_LOGGED = 20;

const SPLITS: Partial<Record<Split, SplitName>> = {
  [Split.SPLIT_UNSPECIFIED]: 'working-set',
  [Split.SPLIT_WORKING_SET]: 'working-set',
  [Split.SPLIT_EVAL]: 'eval',
  [Split.SPLIT_VALIDATION]: 'validation',
  [Split.SPLIT_TEST]: 'test',
};

const FORMATS: Partial<Record<PromptFormat, PromptFormatName>> = {
  [PromptFormat.PROMPT_FORMAT_UNSPECIFIED]: 'cot-5shot',
  [PromptFormat.PROMPT_FORMAT_COT_0SHOT]: 'cot-0shot',
  [PromptFormat.PROMPT_FORMAT_COT_5SHOT]: 'cot-5shot',
  [PromptFormat.PROMPT_FORMAT_TOOL_USE]: 'tool-use',
};

/** Looks up an enum value in a table, or names the field and the values allowed. */
function fromEnum<E extends number, N>(table: Partial<Record<E, N>>, value: E, field: string, names: Record<number, string>): N {
  const name = table[value];
  if (name === undefined) {
    const allowed = Object.keys(table).map((k) => names[Number(k)]).join(', ');
    throw new InvalidArgumentError(field, `unknown value ${value}`, allowed);
  }
  return name;
}

const splitOf = (split: Split) => fromEnum(SPLITS, split, 'split', Split);
const formatOf = (format: PromptFormat) => fromEnum(FORMATS, format, 'format', PromptFormat);

export async function createDatasetHandlers({ config, log, metrics }: ServiceDeps<DatasetServiceConfig>): Promise<Handlers<typeof DatasetServiceService>> {
  const store = await DatasetStore.open({ source: config.datasetSource, strict: config.datasetStrict });
  if (store.skipped.length) {
    log.warn({ skipped: store.skipped.length, first: store.skipped.slice(0, SKIPPED_ROWS_LOGGED).map(describeIssue) }, 'skipped bad MMLU-Pro rows in SPARK_DATASET_SOURCE');
  }
  const servedTotal = counter(metrics.registry, 'spark_dataset_questions_served_total', 'Questions sent to clients (GetQuestion, SampleQuestions, GetFewShot), by category', ['category']);
  const served = (q: Question) => { servedTotal.inc({ category: q.category }); return q; };

  return {
    listCategories: (req: ListCategoriesRequest) => {
      const categories = store.categories(splitOf(req.split));
      return { categories, total: categories.reduce((sum, c) => sum + c.count, 0) };
    },
    getQuestion: (req: GetQuestionRequest) => served(store.question(req.questionId)),
    sampleQuestions: async function* (req: SampleQuestionsRequest, ctx) {
      const questions = store.sample({
        split: splitOf(req.split), n: req.n, seed: req.seed, perCategory: req.perCategory,
        categories: req.categories, questionIds: req.questionIds,
      });
      for (const q of questions) {
        if (ctx.signal.aborted) return;
        yield served(q);
      }
    },
    getFewShot: (req: GetFewShotRequest) => ({ questions: store.fewShot(req.category, req.k).map(served) }),
    renderPrompt: (req: RenderPromptRequest) => store.renderPrompt(req.questionId, formatOf(req.format), req.stepsSoFar),
  };
}
