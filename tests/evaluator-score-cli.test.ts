/**
 * `spark eval score` as a user runs it, on responses written for every question of the shared MMLU-Pro
 * test split (12,032 rows): the figures it prints must equal the ones known from how each response
 * was written.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CATEGORIES } from '../services/dataset/categories.js';
import { runSpark } from './helpers/cli.js';
import { tempDir } from './helpers/service.js';

const TEST_SPLIT = '/work/shared/data/mmlu-pro/test.jsonl';
const LETTERS = 'ABCDEFGHIJ';

interface Row { question_id: number; category: string; answer: string; options: string[] }

/** Five response styles, in turn: what each should score (correct, no answer). */
const STYLES: Array<{ write: (r: Row) => string; correct: boolean; noAnswer: boolean }> = [
  { write: (r) => `Let's think step by step. Option ${r.answer} matches the definition. The answer is (${r.answer}).`, correct: true, noAnswer: false },
  { write: (r) => `Checking each option in turn... the answer is (${LETTERS[(LETTERS.indexOf(r.answer) + 1) % r.options.length]})`, correct: false, noAnswer: false },
  { write: (r) => `We compute the value carefully.\nAnswer: ${r.answer}`, correct: true, noAnswer: false },
  { write: () => 'the computation does not converge, so no option can be chosen.', correct: false, noAnswer: true },
  { write: (r) => `after elimination only one remains: ${r.answer}`, correct: true, noAnswer: false },
];

describe('spark eval score', () => {
  let dir: string;
  let responsesPath: string;
  const expected = new Map<string, { correct: number; n: number; noAnswer: number }>();

  beforeAll(() => {
    dir = tempDir('spark-eval-score-');
    const rows = readFileSync(TEST_SPLIT, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
    const lines = rows.map((r, i) => {
      const style = STYLES[i % STYLES.length];
      const e = expected.get(r.category) ?? { correct: 0, n: 0, noAnswer: 0 };
      e.n += 1;
      if (style.correct) e.correct += 1;
      if (style.noAnswer) e.noAnswer += 1;
      expected.set(r.category, e);
      return JSON.stringify({ question_id: r.question_id, category: r.category, answer: r.answer, response: style.write(r) });
    });
    responsesPath = join(dir, 'responses.jsonl');
    writeFileSync(responsesPath, `${lines.join('\n')}\n`);
  });

  it('prints exactly one JSON object with the 14 categories and the known figures (strict)', () => {
    const r = runSpark(['eval', 'score', '--responses', responsesPath, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const out = JSON.parse(r.stdout) as { overall: { accuracy: number; n: number; no_answer: number }; categories: Record<string, { accuracy: number; n: number; no_answer: number }> };
    expect(Object.keys(out)).toEqual(['overall', 'categories']);
    expect(Object.keys(out.categories)).toEqual([...CATEGORIES]);
    let correct = 0;
    let noAnswer = 0;
    for (const [name, e] of expected) {
      expect(out.categories[name]).toEqual({ accuracy: e.correct / e.n, n: e.n, no_answer: e.noAnswer });
      correct += e.correct;
      noAnswer += e.noAnswer;
    }
    expect(out.overall).toEqual({ accuracy: correct / 12_032, n: 12_032, no_answer: noAnswer });
    expect(out.categories['computer science'].n).toBe(410);
  });

  it('random mode keeps the no-answer counts and adds about one hit in ten of them', () => {
    const strict = JSON.parse(runSpark(['eval', 'score', '--responses', responsesPath, '--format', 'json']).stdout);
    const r = runSpark(['eval', 'score', '--responses', responsesPath, '--format', 'json', '--mode', 'random', '--seed', '7']);
    expect(r.code).toBe(0);
    const random = JSON.parse(r.stdout);
    expect(random.overall.no_answer).toBe(strict.overall.no_answer);
    const extraHits = Math.round((random.overall.accuracy - strict.overall.accuracy) * 12_032);
    // 2,406 guesses at 1 in 10: far inside 150..330 for any seed.
    expect(extraHits).toBeGreaterThan(150);
    expect(extraHits).toBeLessThan(330);
    expect(runSpark(['eval', 'score', '--responses', responsesPath, '--format', 'json', '--mode', 'random', '--seed', '7']).stdout).toBe(r.stdout);
  });

  it('prints a table by default', () => {
    const r = runSpark(['eval', 'score', '--responses', responsesPath]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^category\s+accuracy\s+n\s+no_answer$/);
    expect(lines).toHaveLength(16);
    expect(lines[15]).toMatch(/^overall\s+0\.\d{4}\s+12032\s+\d+$/);
    expect(lines.find((l) => l.startsWith('computer science'))).toMatch(/\s410\s/);
  });

  it('names the flag and the allowed values on bad input', () => {
    const mode = runSpark(['eval', 'score', '--responses', responsesPath, '--mode', 'lenient']);
    expect(mode.code).not.toBe(0);
    expect(mode.stderr).toContain("'--mode <mode>' argument 'lenient' is invalid. Allowed choices are strict, random");
    const seed = runSpark(['eval', 'score', '--responses', responsesPath, '--seed', 'abc']);
    expect(seed.code).not.toBe(0);
    expect(seed.stderr).toContain('--seed must be a whole number (allowed: any; got "abc")');
    const missing = runSpark(['eval', 'score', '--responses', join(dir, 'nope.jsonl')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('--responses: cannot read');
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"question_id": 1, "category": "law", "answer": "Z", "response": "x"}\n');
    const key = runSpark(['eval', 'score', '--responses', bad]);
    expect(key.code).not.toBe(0);
    expect(key.stderr).toContain(`${bad}:1.answer: must be one capital letter A..J`);
  });
});
