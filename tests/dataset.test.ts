/**
 * DatasetService over real gRPC on loopback, the `spark dataset` CLI, and the shipped data: the paper's
 * 2,500-question working set must be reproducible from the committed seed and the full test split.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, serverStream, unary } from '../services/common/client.js';
import { SelectionReason, type Question } from '../services/common/gen/spark/v1/common.js';
import {
  DatasetServiceClient,
  PromptFormat,
  Split,
  type SampleQuestionsRequest,
} from '../services/common/gen/spark/v1/dataset.js';
import { loadQuestions } from '../services/dataset/loaders.js';
import { datasetService } from '../services/dataset/main.js';
import { sampleQuestions } from '../services/dataset/sampling.js';
import { buildShippedData, DATA_DIR, drawShippedSamples, loadShippedSplit, readIdList, SHIPPED_FILES } from '../services/dataset/shipped.js';
import { runSpark } from './helpers/cli.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';

/** The full 2024 test split and validation split (tests only; the product never reads this folder). */
const SHARED = '/work/shared/data/mmlu-pro';
const TEST_JSONL = join(SHARED, 'test.jsonl');
const CALL = { timeoutMs: 10_000 };

let withSource: TestService;
let shippedOnly: TestService;
let client: DatasetServiceClient;
let bare: DatasetServiceClient;

beforeAll(async () => {
  [withSource, shippedOnly] = await Promise.all([
    startTestService(datasetService, { env: { SPARK_DATASET_SOURCE: TEST_JSONL } }),
    startTestService(datasetService),
  ]);
  client = createClient(DatasetServiceClient, withSource.address);
  bare = createClient(DatasetServiceClient, shippedOnly.address);
});

afterAll(async () => {
  client?.close();
  bare?.close();
  await Promise.all([withSource?.stop(), shippedOnly?.stop()]);
});

const sample = async (c: DatasetServiceClient, req: Partial<SampleQuestionsRequest>): Promise<Question[]> => {
  const out: Question[] = [];
  const full: SampleQuestionsRequest = { n: 0, seed: 0, perCategory: false, categories: [], questionIds: [], split: Split.SPLIT_UNSPECIFIED, ...req };
  for await (const q of serverStream(c.sampleQuestions.bind(c), full, CALL)) out.push(q);
  return out;
};

/** The gRPC error of a call that must fail. */
async function failure(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code: number; details: string };
  }
  throw new Error('expected the call to fail');
}

const ALL_CATEGORIES = 'biology, business, chemistry, computer science, economics, engineering, health, history, law, math, other, philosophy, physics, psychology';

describe('shipped data', () => {
  it('reproduces the 2,500 working-set ids from the committed seed and the full test split', async () => {
    const manifest = JSON.parse(readFileSync(join(DATA_DIR, SHIPPED_FILES.manifest), 'utf8')) as { seed: number; test: { files: Array<{ sha256: string }> } };
    const test = (await loadQuestions(TEST_JSONL)).questions;
    const redrawn = sampleQuestions(test, { n: 2_500, seed: manifest.seed }).map((q) => q.questionId);
    const committed = readIdList(SHIPPED_FILES.workingSetIds);
    expect(committed).toHaveLength(2_500);
    expect(redrawn).toEqual(committed);
    expect((await loadShippedSplit('working-set')).map((q) => q.questionId)).toEqual(committed);
    // The eval split is drawn the same way and never overlaps the working set.
    const [, evalSplit] = drawShippedSamples(test, manifest.seed);
    expect(evalSplit.map((q) => q.questionId)).toEqual(readIdList(SHIPPED_FILES.evalIds));
    expect(evalSplit.some((q) => committed.includes(q.questionId))).toBe(false);
  });

  it('rebuilds identical shipped files with scripts/make-dataset.ts\'s builder', async () => {
    const out = tempDir('spark-dataset-build-');
    await buildShippedData({ testSource: TEST_JSONL, validationSource: join(SHARED, 'validation.jsonl'), outDir: out });
    // Compare gzip files by content: their bytes may differ between zlib versions.
    const content = (path: string) => (path.endsWith('.gz') ? gunzipSync(readFileSync(path)) : readFileSync(path)).toString('utf8');
    for (const file of Object.values(SHIPPED_FILES)) expect(content(join(out, file)), file).toBe(content(join(DATA_DIR, file)));
    rmSync(out, { recursive: true, force: true });
  });
});

describe('DatasetService over gRPC', () => {
  it('ListCategories counts the working set (default), eval, validation and test splits', async () => {
    const ws = await unary(client.listCategories.bind(client), { split: Split.SPLIT_UNSPECIFIED }, CALL);
    expect(ws.total).toBe(2_500);
    expect(ws.categories.map((c) => c.name).join(', ')).toBe(ALL_CATEGORIES);
    expect(ws.categories.find((c) => c.name === 'computer science')?.count).toBe(85);
    expect((await unary(client.listCategories.bind(client), { split: Split.SPLIT_EVAL }, CALL)).total).toBe(140);
    expect((await unary(client.listCategories.bind(client), { split: Split.SPLIT_VALIDATION }, CALL)).total).toBe(70);
    expect((await unary(client.listCategories.bind(client), { split: Split.SPLIT_TEST }, CALL)).total).toBe(12_031);
  });

  it('GetQuestion returns a question from any split in the hub\'s fields', async () => {
    const q = await unary(client.getQuestion.bind(client), { questionId: 70 }, CALL);
    expect(q).toMatchObject({ questionId: 70, answer: 'I', answerIndex: 8, category: 'business', src: 'ori_mmlu-business_ethics' });
    expect(q.options).toHaveLength(9);
    const v = await unary(bare.getQuestion.bind(bare), { questionId: 2 }, CALL);
    expect(v.cotContent.startsWith("A: Let's think step by step.")).toBe(true);
    expect(v.options).not.toContain('N/A');
  });

  it('SampleQuestions streams seeded, stratified samples', async () => {
    const a = await sample(client, { n: 28, seed: 5, perCategory: true, split: Split.SPLIT_EVAL });
    expect(a).toHaveLength(28);
    const perCategory = new Map<string, number>();
    for (const q of a) perCategory.set(q.category, (perCategory.get(q.category) ?? 0) + 1);
    expect([...perCategory.values()]).toEqual(new Array(14).fill(2));
    expect((await sample(client, { n: 28, seed: 5, perCategory: true, split: Split.SPLIT_EVAL })).map((q) => q.questionId)).toEqual(a.map((q) => q.questionId));
    expect((await sample(client, { n: 28, seed: 6, perCategory: true, split: Split.SPLIT_EVAL })).map((q) => q.questionId)).not.toEqual(a.map((q) => q.questionId));
    const cs = await sample(client, { n: 7, seed: 1, categories: ['computer_science'], split: Split.SPLIT_TEST });
    expect(cs.map((q) => q.category)).toEqual(new Array(7).fill('computer science'));
    const ids = await sample(client, { questionIds: [12_256, 70], split: Split.SPLIT_TEST });
    expect(ids.map((q) => q.questionId)).toEqual([12_256, 70]);
  });

  it('GetFewShot returns the category\'s validation exemplars in hub order', async () => {
    const five = await unary(client.getFewShot.bind(client), { category: 'computer science', k: 0 }, CALL);
    expect(five.questions).toHaveLength(5);
    expect(five.questions.every((q) => q.category === 'computer science' && q.cotContent.length > 0)).toBe(true);
    const two = await unary(client.getFewShot.bind(client), { category: 'computer_science', k: 2 }, CALL);
    expect(two.questions.map((q) => q.questionId)).toEqual(five.questions.slice(0, 2).map((q) => q.questionId));
  });

  it('RenderPrompt renders the reference 5-shot prompt byte for byte, 0-shot, and the tool-use chat', async () => {
    const five = await unary(client.renderPrompt.bind(client), { questionId: 10_376, format: PromptFormat.PROMPT_FORMAT_UNSPECIFIED, stepsSoFar: [] }, CALL);
    expect(five.text).toBe(readFileSync(join(import.meta.dirname, '../services/dataset/testdata/reference-prompt-10376-5shot.txt'), 'utf8'));
    expect(five.messages).toEqual([{ role: 'user', content: five.text }]);
    const zero = await unary(client.renderPrompt.bind(client), { questionId: 203, format: PromptFormat.PROMPT_FORMAT_COT_0SHOT, stepsSoFar: [] }, CALL);
    expect(zero.text.startsWith('The following are multiple choice questions (with answers) about business. Think step by step')).toBe(true);
    expect(zero.text.endsWith("G. Hierarchical\nAnswer: Let's think step by step.")).toBe(true);
    const step = {
      index: 0, action: 'cot', thought: 'Formal structure is mechanistic.', toolCall: undefined, score: 7,
      selectionReason: SelectionReason.SELECTION_REASON_RAREST_VIABLE, candidates: [], isFinal: false,
    };
    const tool = await unary(client.renderPrompt.bind(client), { questionId: 203, format: PromptFormat.PROMPT_FORMAT_TOOL_USE, stepsSoFar: [step] }, CALL);
    expect(tool.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    expect(tool.text.startsWith('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\n')).toBe(true);
    expect(tool.text.endsWith('Formal structure is mechanistic.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
  });

  it('answers every bad request with its status code and a message naming the field and allowed values', async () => {
    const cases: Array<[string, () => Promise<unknown>, number, string]> = [
      ['n = 0', () => sample(client, { n: 0 }), status.INVALID_ARGUMENT, 'n: must be a whole number >= 1 (got 0) (allowed: 1..2500)'],
      ['n < 0', () => sample(client, { n: -3 }), status.INVALID_ARGUMENT, 'n: must be a whole number >= 1 (got -3) (allowed: 1..2500)'],
      ['n above the pool', () => sample(client, { n: 2_501 }), status.INVALID_ARGUMENT, 'n: 2501 is more than the 2500 questions in the pool (allowed: 1..2500)'],
      ['n above equal counts', () => sample(client, { n: 141, perCategory: true, split: Split.SPLIT_EVAL }), status.INVALID_ARGUMENT, 'n: 141 is more than equal counts per category allow: 14 categories × 10 in the smallest (allowed: 1..140)'],
      ['unknown category', () => sample(client, { n: 3, categories: ['math', 'astrology'] }), status.INVALID_ARGUMENT, `categories[1]: unknown category "astrology" (allowed: ${ALL_CATEGORIES})`],
      ['unknown id in a sample', () => sample(client, { questionIds: [70, 99_999] , split: Split.SPLIT_TEST }), status.NOT_FOUND, 'question_ids[1]: test question "99999" not found'],
      ['unknown split', () => sample(client, { n: 1, split: 42 as Split }), status.INVALID_ARGUMENT, 'split: unknown value 42 (allowed: SPLIT_UNSPECIFIED, SPLIT_WORKING_SET, SPLIT_EVAL, SPLIT_VALIDATION, SPLIT_TEST)'],
      ['test split without a source', () => unary(bare.listCategories.bind(bare), { split: Split.SPLIT_TEST }, CALL), status.FAILED_PRECONDITION, 'split: the full test split needs an MMLU-Pro source (set SPARK_DATASET_SOURCE'],
      ['unknown id', () => unary(client.getQuestion.bind(client), { questionId: 99_999 }, CALL), status.NOT_FOUND, 'question_id: question "99999" not found'],
      ['few-shot unknown category', () => unary(client.getFewShot.bind(client), { category: 'astrology', k: 5 }, CALL), status.INVALID_ARGUMENT, `category: unknown category "astrology" (allowed: ${ALL_CATEGORIES})`],
      ['few-shot k above 5', () => unary(client.getFewShot.bind(client), { category: 'law', k: 6 }, CALL), status.INVALID_ARGUMENT, 'k: 6 is out of range (allowed: 0..5 (0 = the default 5))'],
      ['prompt for an unknown id', () => unary(client.renderPrompt.bind(client), { questionId: 99_999, format: PromptFormat.PROMPT_FORMAT_COT_0SHOT, stepsSoFar: [] }, CALL), status.NOT_FOUND, 'question_id: question "99999" not found'],
      ['prompt format unknown', () => unary(client.renderPrompt.bind(client), { questionId: 70, format: 9 as PromptFormat, stepsSoFar: [] }, CALL), status.INVALID_ARGUMENT, 'format: unknown value 9 (allowed: PROMPT_FORMAT_UNSPECIFIED, PROMPT_FORMAT_COT_0SHOT, PROMPT_FORMAT_COT_5SHOT, PROMPT_FORMAT_TOOL_USE)'],
    ];
    for (const [name, call, code, details] of cases) {
      const err = await failure(call());
      expect(err.code, name).toBe(code);
      expect(err.details, name).toContain(details);
    }
  });

  it('counts questions served per category', async () => {
    const before = sampleValue(await scrape(withSource.metricsPort), 'spark_dataset_questions_served_total', { category: 'computer science' }) ?? 0;
    await sample(client, { n: 3, seed: 9, categories: ['computer science'] });
    await unary(client.getFewShot.bind(client), { category: 'computer science', k: 2 }, CALL);
    const after = sampleValue(await scrape(withSource.metricsPort), 'spark_dataset_questions_served_total', { category: 'computer science' });
    expect(after).toBe(before + 5);
  });
});

describe('spark dataset (built CLI)', () => {
  it('sample --n 2500 --seed 0 reproduces the shipped set, from the full test split and from the shipped split', () => {
    const dir = tempDir('spark-dataset-cli-');
    const fromSource = runSpark(['dataset', 'sample', '--n', '2500', '--seed', '0', '--source', TEST_JSONL, '--out', join(dir, 'a.jsonl')]);
    expect(fromSource.code, fromSource.stderr).toBe(0);
    expect(fromSource.stderr).toContain('row 3860 (question_id 3983): answer_index: 1 is letter B but answer is C');
    const shipped = runSpark(['dataset', 'sample', '--n', '2500', '--seed', '0', '--out', join(dir, 'b.jsonl')]);
    expect(shipped.code, shipped.stderr).toBe(0);
    const a = readFileSync(join(dir, 'a.jsonl'), 'utf8');
    expect(readFileSync(join(dir, 'b.jsonl'), 'utf8')).toBe(a);
    const rows = a.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.map((r) => r.question_id)).toEqual(readIdList(SHIPPED_FILES.workingSetIds));
    expect(Object.keys(rows[0]!)).toEqual(['question_id', 'question', 'options', 'answer', 'answer_index', 'cot_content', 'category', 'src']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('categories, show and the eval quick subset', () => {
    const cats = runSpark(['dataset', 'categories', '--split', 'eval']);
    expect(cats.stdout).toMatch(/^computer science\s+10$/m);
    expect(cats.stdout).toMatch(/^total\s+140$/m);
    const show = runSpark(['dataset', 'show', '203', '--format', 'cot-0shot']);
    expect(show.stdout).toContain("G. Hierarchical\nAnswer: Let's think step by step.");
    const quick = runSpark(['dataset', 'sample', '--split', 'eval', '--n', '28', '--per-category']);
    expect(quick.stdout.trim().split('\n')).toHaveLength(28);
  });

  it('rejects bad flags with a message naming the flag and the allowed values', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--n', '0'], /--n must be a whole number >= 1/],
      [['--n', '3000'], /--n: 3000 is more than the 2500 questions in the pool \(allowed: 1\.\.2500\)/],
      [['--n', '5', '--split', 'train'], /'--split <name>' argument 'train' is invalid\. Allowed choices are working-set, eval, validation, test/],
      [['--n', '5', '--categories', 'math,astrology'], /--categories\[1\]: unknown category "astrology" \(allowed: biology, /],
      [['--n', '5', '--split', 'test'], /--split: the full test split needs an MMLU-Pro source/],
      [['--n', '5', '--source', '/nonexistent/test.jsonl'], /\/nonexistent\/test\.jsonl: no such file or folder/],
      [[], /--n: required/],
    ];
    for (const [args, message] of cases) {
      const r = runSpark(['dataset', 'sample', ...args]);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });
});
