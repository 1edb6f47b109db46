/** Scoring responses: micro averages, no-answer counts, strict vs random, and reading responses files. */
import { describe, expect, it } from 'vitest';
import { parseResponses } from './responses-file.js';
import { AccuracyTally, scoreResponses, type ResponseRecord } from './score.js';

const rec = (questionId: number, category: string, answer: string, response: string): ResponseRecord => ({ questionId, category, answer, response });

describe('scoreResponses', () => {
  const records = [
    rec(1, 'math', 'A', 'so the answer is (A)'),
    rec(2, 'math', 'B', 'so the answer is (C)'),
    rec(3, 'math', 'C', 'I cannot decide.'.toLowerCase()),
    rec(4, 'law', 'D', 'Answer: D'),
    rec(5, 'computer_science', 'E', 'E'),
    rec(6, 'computer science', 'F', 'the answer is (G)'),
  ];

  it('gives per-category and micro-averaged overall accuracy with no-answer counts (strict)', () => {
    const s = scoreResponses(records);
    expect(s.overall).toEqual({ accuracy: 3 / 6, n: 6, noAnswer: 1 });
    expect(s.categories).toEqual({
      'computer science': { accuracy: 0.5, n: 2, noAnswer: 0 },
      law: { accuracy: 1, n: 1, noAnswer: 0 },
      math: { accuracy: 1 / 3, n: 3, noAnswer: 1 },
    });
    expect(Object.keys(s.categories)).toEqual(['computer science', 'law', 'math']);
  });

  it('random mode guesses among A–J with a seeded RNG, still reporting the misses', () => {
    const misses = Array.from({ length: 2_000 }, (_, i) => rec(i, 'other', 'A', 'no letter here'));
    const strict = scoreResponses(misses, { mode: 'strict' });
    const random = scoreResponses(misses, { mode: 'random', seed: 12_345 });
    expect(strict.overall).toEqual({ accuracy: 0, n: 2_000, noAnswer: 2_000 });
    expect(random.overall.noAnswer).toBe(2_000);
    // One guess in ten hits; with 2,000 guesses the hit rate sits well inside 0.07..0.13.
    expect(random.overall.accuracy).toBeGreaterThan(0.07);
    expect(random.overall.accuracy).toBeLessThan(0.13);
    expect(scoreResponses(misses, { mode: 'random', seed: 12_345 })).toEqual(random);
    expect(scoreResponses(misses, { mode: 'random', seed: 1 }).overall.accuracy).not.toBe(random.overall.accuracy);
  });

  it('rejects a bad key naming the record and the allowed letters', () => {
    expect(() => scoreResponses([rec(1, 'math', 'K', 'x')])).toThrow('responses[0].answer: must be one capital letter A..J (got "K") (allowed: A, B, C, D, E, F, G, H, I, J)');
    expect(() => scoreResponses([rec(1, ' ', 'A', 'x')])).toThrow(/responses\[0\]\.category/);
  });

  it('a tally reports zeros for an empty category and empty input', () => {
    const t = new AccuracyTally();
    expect(t.category('law')).toEqual({ accuracy: 0, n: 0, noAnswer: 0 });
    expect(t.summary()).toEqual({ overall: { accuracy: 0, n: 0, noAnswer: 0 }, categories: {} });
  });
});

describe('parseResponses', () => {
  it('reads JSONL lines, skipping blank ones', () => {
    const text = '{"question_id": 70, "category": "business", "answer": "I", "response": "the answer is (I)"}\n\n{"question_id": 71, "category": "law", "answer": "A", "response": ""}\n';
    expect(parseResponses(text, 'r.jsonl')).toEqual([rec(70, 'business', 'I', 'the answer is (I)'), rec(71, 'law', 'A', '')]);
  });

  it('reads a reference result file (JSON array with model_outputs or generated_text)', () => {
    const text = JSON.stringify([
      { question_id: '70', category: 'computer_science', answer: 'B', model_outputs: 'The answer is (B)', pred: 'B' },
      { question_id: 71, category: 'math', answer: 'C', generated_text: ' The answer is (D).' },
    ]);
    expect(parseResponses(text, 'r.json')).toEqual([rec(70, 'computer science', 'B', 'The answer is (B)'), rec(71, 'math', 'C', ' The answer is (D).')]);
  });

  it('names the line and field of bad input', () => {
    expect(() => parseResponses('{"question_id": 1, "category": "law", "answer": "A", "response": "x"}\nnot json\n', 'r.jsonl')).toThrow(/^r\.jsonl:2: not valid JSON/);
    expect(() => parseResponses('{"question_id": 1, "category": "law", "answer": "A"}', 'r.jsonl')).toThrow('r.jsonl:1.response: missing (allowed: a string field named response or model_outputs or generated_text)');
    expect(() => parseResponses('{"question_id": "x1", "category": "law", "answer": "A", "response": ""}', 'r.jsonl')).toThrow(/r\.jsonl:1\.question_id: must be a whole number/);
    expect(() => parseResponses('{"question_id": 1, "category": "law", "answer": "a", "response": ""}', 'r.jsonl')).toThrow(/r\.jsonl:1\.answer/);
  });
});
