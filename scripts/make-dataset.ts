/**
 * Rebuilds the shipped MMLU-Pro files in services/dataset/data/ (see its README.md) from a full test
 * split and the validation split, in any layout the loader reads (hub parquet, JSONL, JSON, a folder).
 *
 *   npx tsc -p tsconfig.json
 *   node dist/scripts/make-dataset.js --test <test file or folder> --validation <validation file or folder> [--seed 0] [--out DIR] [--strict]
 *
 * Same sources and seed → byte-identical files.
 */
import { parseArgs } from 'node:util';
import { describeIssue } from '../services/dataset/rows.js';
import { buildShippedData, DATA_DIR, SHIPPED_SEED } from '../services/dataset/shipped.js';

const USAGE = 'usage: node dist/scripts/make-dataset.js --test PATH --validation PATH [--seed N] [--out DIR] [--strict]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      test: { type: 'string' },
      validation: { type: 'string' },
      seed: { type: 'string', default: String(SHIPPED_SEED) },
      out: { type: 'string', default: DATA_DIR },
      strict: { type: 'boolean', default: false },
    },
  });
  if (!values.test || !values.validation) throw new Error(`--test and --validation are required\n${USAGE}`);
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed: must be a whole number (got ${JSON.stringify(values.seed)})`);
  const report = await buildShippedData({ testSource: values.test, validationSource: values.validation, outDir: values.out, seed, strict: values.strict });
  for (const issue of report.skipped) process.stderr.write(`skipped ${describeIssue(issue)}\n`);
  process.stdout.write(`wrote ${values.out}: working set ${report.workingSet.length}, eval ${report.eval.length}, validation ${report.validation.length}; skipped ${report.skipped.length} bad rows\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`make-dataset: ${err.message}\n`);
  process.exit(2);
});
