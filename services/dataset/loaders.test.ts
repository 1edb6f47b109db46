import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { BadRowError, type HubRow } from './rows.js';
import { DataSourceError, loadQuestions } from './loaders.js';

const SHARED = '/work/shared/data/mmlu-pro';
const dir = mkdtempSync(join(tmpdir(), 'spark-dataset-loaders-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ROWS: HubRow[] = [
  { question_id: 70, question: 'Typical advertising regulatory bodies suggest?', options: ['a', 'b', 'c', 'd'], answer: 'D', answer_index: 3, cot_content: '', category: 'business', src: 'ori_mmlu-business_ethics' },
  { question_id: 10356, question: 'A method is to be written to search an array.', options: ['x', 'y', 'z'], answer: 'B', answer_index: 1, cot_content: '', category: 'computer science', src: 'ori_mmlu-high_school_computer_science' },
  { question_id: 2, question: 'Greatest negative number?', options: ['-5', '0', '-3', 'N/A', 'N/A'], answer: 'A', answer_index: 0, cot_content: "A: Let's think step by step. The answer is (A).", category: 'math', src: 'cot_lib-college_mathematics' },
];

/**
 * A parquet file in the hub's schema, as pyarrow writes it: int64 ids, UTF8 strings, and `options` as a
 * three-level LIST (options → list → element).
 */
function hubParquet(rows: HubRow[]): ArrayBuffer {
  const utf8 = (name: string) => ({ name, type: 'BYTE_ARRAY' as const, converted_type: 'UTF8' as const, repetition_type: 'OPTIONAL' as const });
  return parquetWriteBuffer({
    schema: [
      { name: 'schema', num_children: 8 },
      { name: 'question_id', type: 'INT64', repetition_type: 'OPTIONAL' },
      utf8('question'),
      { name: 'options', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      utf8('element'),
      utf8('answer'),
      { name: 'answer_index', type: 'INT64', repetition_type: 'OPTIONAL' },
      utf8('cot_content'),
      utf8('category'),
      utf8('src'),
    ],
    columnData: [
      { name: 'question_id', data: rows.map((r) => BigInt(r.question_id)) },
      { name: 'question', data: rows.map((r) => r.question) },
      { name: 'options', data: rows.map((r) => r.options) },
      { name: 'answer', data: rows.map((r) => r.answer) },
      { name: 'answer_index', data: rows.map((r) => BigInt(r.answer_index)) },
      { name: 'cot_content', data: rows.map((r) => r.cot_content) },
      { name: 'category', data: rows.map((r) => r.category) },
      { name: 'src', data: rows.map((r) => r.src) },
    ],
  });
}

const write = (name: string, data: string | ArrayBuffer | Buffer) => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data instanceof ArrayBuffer ? Buffer.from(data) : data);
  return path;
};
const jsonl = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

describe('loadQuestions', () => {
  it('reads a parquet file in the hub schema (options as a list column, int64 ids)', async () => {
    const path = write('test-00000-of-00001.parquet', hubParquet(ROWS));
    const { questions, skipped } = await loadQuestions(path);
    expect(skipped).toEqual([]);
    expect(questions.map((q) => q.questionId)).toEqual([70, 10356, 2]);
    expect(questions[1]).toEqual({
      questionId: 10356, question: 'A method is to be written to search an array.', options: ['x', 'y', 'z'], answer: 'B',
      answerIndex: 1, cotContent: '', category: 'computer science', src: 'ori_mmlu-high_school_computer_science',
    });
    expect(questions[2]!.options).toEqual(['-5', '0', '-3']); // "N/A" padding dropped, as the reference does
  });

  it('reads the hub folder layout, picking the split\'s files', async () => {
    write('hub/data/test-00000-of-00001.parquet', hubParquet(ROWS.slice(0, 2)));
    write('hub/data/validation-00000-of-00001.parquet', hubParquet(ROWS.slice(2)));
    expect((await loadQuestions(join(dir, 'hub'))).questions.map((q) => q.questionId)).toEqual([70, 10356]);
    expect((await loadQuestions(join(dir, 'hub'), { split: 'validation' })).questions.map((q) => q.questionId)).toEqual([2]);
    mkdirSync(join(dir, 'empty'));
    await expect(loadQuestions(join(dir, 'empty'))).rejects.toThrow(/empty: no MMLU-Pro test files found/);
  });

  it('reads JSONL, gzipped JSONL and a JSON list with the same columns', async () => {
    for (const [name, data] of [
      ['rows.jsonl', jsonl(ROWS)],
      ['rows.jsonl.gz', gzipSync(jsonl(ROWS))],
      ['rows.json', JSON.stringify(ROWS)],
    ] as const) {
      const { questions } = await loadQuestions(write(name, data));
      expect(questions.map((q) => q.questionId), name).toEqual([70, 10356, 2]);
    }
    await expect(loadQuestions(write('object.json', '{"rows": []}'))).rejects.toThrow(DataSourceError);
    await expect(loadQuestions(write('rows.csv', 'a,b'))).rejects.toThrow(/rows\.csv: unsupported file type \(allowed: \.parquet, \.jsonl/);
  });

  it('maps "computer_science" to the hub spelling', async () => {
    const { questions } = await loadQuestions(write('underscore.jsonl', jsonl([{ ...ROWS[1], category: 'computer_science' }])));
    expect(questions[0]!.category).toBe('computer science');
  });

  it('skips bad rows with file, row and field, or fails on the first when strict', async () => {
    const bad = [
      ROWS[0],
      { ...ROWS[1], question_id: 11, options: ['only', 'two'] },
      { ...ROWS[0], question_id: 12, answer: 'B' },
      { ...ROWS[0], question_id: 13, category: 'astrology' },
      'not json',
      { ...ROWS[0] },
    ];
    const path = write('bad.jsonl', bad.map((r, i) => (i === 4 ? `${r}\n` : `${JSON.stringify(r)}\n`)).join(''));
    const { questions, skipped } = await loadQuestions(path);
    expect(questions.map((q) => q.questionId)).toEqual([70]);
    expect(skipped.map((s) => [s.row, s.field])).toEqual([[2, 'options'], [3, 'answer_index'], [4, 'category'], [5, '(row)'], [6, 'question_id']]);
    expect(skipped[0]).toMatchObject({ file: path, questionId: 11, problem: 'has 2 options; allowed 3..10 (not counting "N/A" padding)' });
    expect(skipped[1]!.problem).toBe('3 is letter D but answer is B');
    expect(skipped[4]!.problem).toMatch(/duplicate id 70 \(first at .*bad\.jsonl row 1\)/);
    const strict = loadQuestions(path, { strict: true });
    await expect(strict).rejects.toThrow(BadRowError);
    await expect(strict).rejects.toThrow(`${path} row 2 (question_id 11): options: has 2 options`);
  });

  it('loads the shared JSONL test split: 12,032 rows, one known bad row (id 3983) skipped', async () => {
    const { questions, skipped } = await loadQuestions(join(SHARED, 'test.jsonl'));
    expect(questions).toHaveLength(12_031);
    expect(skipped).toEqual([{
      file: join(SHARED, 'test.jsonl'), row: 3860, questionId: 3983, field: 'answer_index', problem: '1 is letter B but answer is C',
    }]);
    expect(new Set(questions.map((q) => q.category)).size).toBe(14);
    expect(questions.filter((q) => q.category === 'computer science')).toHaveLength(410);
    const validation = await loadQuestions(join(SHARED, 'validation.jsonl'), { strict: true });
    expect(validation.questions).toHaveLength(70);
    expect(validation.questions.some((q) => q.options.includes('N/A'))).toBe(false);
  });
});
