/**
 * `spark dataset`: MMLU-Pro categories, seeded samples (JSONL in the hub's columns) and single questions
 * or their prompts, read in-process from the shipped splits or a full MMLU-Pro source (`--source`, or
 * SPARK_DATASET_SOURCE). Request checks live in the dataset store; this file only maps its field names
 * to flags, so a bad value is reported as `--n: ...` with the allowed values.
 */
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander';
import { ConfigError } from '../common/config.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { writeFileAtomic } from '../common/files.js';
import { describeIssue, toHubRow } from '../dataset/rows.js';
import { countByCategory } from '../dataset/sampling.js';
import { DatasetStore, PROMPT_FORMATS, SPLIT_NAMES, type PromptFormatName, type SplitName } from '../dataset/store.js';
import { SHIPPED_SEED } from '../dataset/shipped.js';

/** Store field → the flag or argument a CLI user typed. */
const FLAG_OF: Record<string, string> = {
  n: '--n', seed: '--seed', categories: '--categories', question_ids: '--ids', split: '--split',
  question_id: 'ID', format: '--format', k: '--k', steps_so_far: '--format',
};

/** Re-words a store error so it names the flag instead of the request field. */
function asFlagError(err: unknown): unknown {
  if (!(err instanceof InvalidArgumentError || err instanceof NotFoundError || err instanceof FailedPreconditionError)) return err;
  const message = err.message.replace(/^([a-z_]+)(?=[[:])/, (field: string) => FLAG_OF[field] ?? field);
  return new ConfigError(message, { cause: err });
}

const wholeNumber = (flag: string, min: number) => (value: string): number => {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new CommanderArgError(`${flag} must be a whole number${min > Number.MIN_SAFE_INTEGER ? ` >= ${min}` : ''} (got ${JSON.stringify(value)})`);
  }
  return n;
};

const idList = (value: string): number[] => value.split(',').filter((s) => s.trim()).map((s) => wholeNumber('--ids', 0)(s.trim()));

const splitOption = () => new Option('--split <name>', 'pool: the shipped working-set (default), eval or validation split, or test (needs --source); with --source, which split files of a folder to read (test or validation)')
  .choices(SPLIT_NAMES);
const sourceOption = () => new Option('--source <path>', 'full MMLU-Pro data: hub parquet, JSONL/JSON (optionally .gz), or a folder of them')
  .env('SPARK_DATASET_SOURCE');
const strictOption = () => new Option('--strict', 'fail on the first bad source row instead of skipping it');

interface PoolFlags {
  split?: SplitName;
  source?: string;
  strict?: boolean;
}

/** Opens the store and decides the pool: the source (as `test`) when given, else a shipped split. */
async function openPool(flags: PoolFlags): Promise<{ store: DatasetStore; split: SplitName }> {
  if (flags.source && flags.split && flags.split !== 'test' && flags.split !== 'validation') {
    throw new ConfigError(`--split: with --source it picks which files of a folder to read (allowed: test, validation; got ${flags.split})`);
  }
  const store = await DatasetStore.open({
    source: flags.source,
    sourceSplit: flags.split === 'validation' ? 'validation' : 'test',
    strict: flags.strict,
  });
  if (store.skipped.length) {
    process.stderr.write(`skipped ${store.skipped.length} bad row(s) of ${flags.source} (use --strict to fail instead):\n`);
    for (const issue of store.skipped) process.stderr.write(`  ${describeIssue(issue)}\n`);
  }
  return { store, split: flags.source ? 'test' : flags.split ?? 'working-set' };
}

/** Runs a subcommand body, turning store errors into flag errors. */
const withFlags = <A extends unknown[]>(fn: (...args: A) => Promise<void>) => async (...args: A) => {
  try {
    await fn(...args);
  } catch (err) {
    throw asFlagError(err);
  }
};

function categoriesCommand(): Command {
  return new Command('categories')
    .description('the 14 categories with their question counts')
    .addOption(splitOption()).addOption(sourceOption()).addOption(strictOption())
    .option('--json', 'print JSON instead of a table')
    .action(withFlags(async (flags: PoolFlags & { json?: boolean }) => {
      const { store, split } = await openPool(flags);
      const categories = store.categories(split);
      const total = categories.reduce((sum, c) => sum + c.count, 0);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ split, categories, total })}\n`);
        return;
      }
      const width = Math.max(...categories.map((c) => c.name.length));
      for (const c of categories) process.stdout.write(`${c.name.padEnd(width)}  ${String(c.count).padStart(6)}\n`);
      process.stdout.write(`${'total'.padEnd(width)}  ${String(total).padStart(6)}\n`);
    }));
}

interface SampleFlags extends PoolFlags {
  n?: number;
  seed: number;
  perCategory?: boolean;
  categories?: string;
  ids?: number[];
  out?: string;
}

function sampleCommand(): Command {
  return new Command('sample')
    .description('a seeded stratified sample as JSONL in the hub\'s columns (sorted by question_id)')
    .option('--n <count>', 'how many questions in all', wholeNumber('--n', 1))
    .option('--seed <seed>', 'PRNG seed; the shipped working set is --n 2500 --seed 0 of the full test split', wholeNumber('--seed', Number.MIN_SAFE_INTEGER), SHIPPED_SEED)
    .option('--per-category', 'equal count per category instead of proportional to category size')
    .option('--categories <list>', 'comma-separated categories (e.g. "math,computer science" or computer_science)')
    .option('--ids <list>', 'comma-separated question ids to take instead of sampling', idList)
    .addOption(splitOption()).addOption(sourceOption()).addOption(strictOption())
    .option('--out <file.jsonl>', 'output file (default: stdout)')
    .action(withFlags(async (flags: SampleFlags) => {
      if (flags.n === undefined && !flags.ids?.length) throw new ConfigError('--n: required (a whole number >= 1), unless --ids is given');
      const { store, split } = await openPool(flags);
      const questions = store.sample({
        split,
        n: flags.n ?? 0,
        seed: flags.seed,
        perCategory: flags.perCategory,
        categories: flags.categories?.split(',').map((c) => c.trim()).filter(Boolean),
        questionIds: flags.ids,
      });
      const jsonl = questions.map((q) => `${JSON.stringify(toHubRow(q))}\n`).join('');
      if (flags.out) writeFileAtomic(flags.out, jsonl);
      else process.stdout.write(jsonl);
      const counts = [...countByCategory(questions)].map(([c, n]) => `${c} ${n}`).join(', ');
      process.stderr.write(`${questions.length} questions from ${flags.source ?? `the shipped ${split} split`}${flags.out ? ` → ${flags.out}` : ''} (${counts})\n`);
    }));
}

function showCommand(): Command {
  return new Command('show')
    .description('one question as a hub row, or its prompt with --format')
    .argument('<id>', 'question_id', wholeNumber('ID', 0))
    .addOption(new Option('--format <format>', 'print a prompt instead of the row').choices(PROMPT_FORMATS))
    .addOption(sourceOption()).addOption(strictOption())
    .action(withFlags(async (id: number, flags: PoolFlags & { format?: PromptFormatName }) => {
      const { store } = await openPool({ source: flags.source, strict: flags.strict });
      if (flags.format) process.stdout.write(`${store.renderPrompt(id, flags.format).text}\n`);
      else process.stdout.write(`${JSON.stringify(toHubRow(store.question(id)), null, 2)}\n`);
    }));
}

export function datasetCommand(): Command {
  return new Command('dataset')
    .description('MMLU-Pro categories, samples and questions')
    .addCommand(categoriesCommand())
    .addCommand(sampleCommand())
    .addCommand(showCommand());
}
