import { describe, expect, it } from 'vitest';
import { batchSchema, extractJson, parseBatchVerdicts, parseSingleVerdict, VerdictError } from './verdict.js';

describe('parseBatchVerdicts', () => {
  it('reads the structured-output shape in candidate order, using index', () => {
    const text = JSON.stringify({ scores: [{ index: 1, score: 3, rationale: 'b' }, { index: 0, score: 8.5, rationale: ' a ' }] });
    expect(parseBatchVerdicts(text, 2)).toEqual([{ score: 8.5, rationale: 'a' }, { score: 3, rationale: 'b' }]);
  });

  it('tolerates prose, code fences and a bare array', () => {
    const fenced = 'Here are the scores:\n```json\n[{"score": 7, "rationale": "x"}, {"score": 0, "rationale": "y"}]\n```\nThanks';
    expect(parseBatchVerdicts(fenced, 2).map((v) => v.score)).toEqual([7, 0]);
    const prose = 'Sure! {"scores": [{"index": 0, "score": 10, "rationale": "z"}]} Hope this helps.';
    expect(parseBatchVerdicts(prose, 1)[0].score).toBe(10);
  });

  it('rejects scores outside 0..10 and non-numbers instead of coercing them', () => {
    expect(() => parseBatchVerdicts('{"scores": [{"index": 0, "score": 11, "rationale": ""}]}', 1)).toThrow(/scores\[0\]\.score: 11 is outside 0\.\.10/);
    expect(() => parseBatchVerdicts('{"scores": [{"index": 0, "score": "high", "rationale": ""}]}', 1)).toThrow(/"high" is not a number/);
    expect(() => parseBatchVerdicts('{"scores": [{"index": 0, "score": "7", "rationale": ""}]}', 1)).toThrow(VerdictError);
    expect(() => parseBatchVerdicts('{"scores": [{"index": 0, "score": -0.5}]}', 1)).toThrow(/outside/);
  });

  it('rejects a wrong count, a missing score, a repeated or foreign index, and non-JSON', () => {
    expect(() => parseBatchVerdicts('{"scores": [{"score": 5}]}', 2)).toThrow(/expected 2 entries/);
    expect(() => parseBatchVerdicts('{"scores": [{"rationale": "no score"}]}', 1)).toThrow(/score: missing/);
    expect(() => parseBatchVerdicts('[{"index": 0, "score": 1}, {"index": 0, "score": 2}]', 2)).toThrow(/scored twice/);
    expect(() => parseBatchVerdicts('[{"index": 5, "score": 1}]', 1)).toThrow(/not a candidate number/);
    expect(() => parseBatchVerdicts('the first one is great', 1)).toThrow(/not valid JSON/);
    expect(() => parseBatchVerdicts('   ', 1)).toThrow(/empty/);
  });
});

describe('parseSingleVerdict', () => {
  it('reads an object, or a one-entry list', () => {
    expect(parseSingleVerdict('{"score": 6.5, "rationale": "fine"}')).toEqual({ score: 6.5, rationale: 'fine' });
    expect(parseSingleVerdict('[{"score": 2, "rationale": "bad"}]')).toEqual({ score: 2, rationale: 'bad' });
  });

  it('rejects a string score and a non-string rationale', () => {
    expect(() => parseSingleVerdict('{"score": "9"}')).toThrow(/not a number/);
    expect(() => parseSingleVerdict('{"score": 9, "rationale": 3}')).toThrow(/rationale: expected a string/);
  });
});

describe('schemas and extraction', () => {
  it('batch schema pins the number of entries and the score range', () => {
    const s = batchSchema(9).schema as { properties: { scores: { minItems: number; maxItems: number; items: { properties: { score: { minimum: number; maximum: number } } } } } };
    expect(s.properties.scores.minItems).toBe(9);
    expect(s.properties.scores.maxItems).toBe(9);
    expect(s.properties.scores.items.properties.score).toMatchObject({ minimum: 0, maximum: 10 });
  });

  it('extractJson prefers the whole text, then a fence, then the outer brackets', () => {
    expect(extractJson(' {"a": 1} ')).toEqual({ a: 1 });
    expect(extractJson('x ```{"b": 2}``` y')).toEqual({ b: 2 });
    expect(extractJson('x [1, 2] y')).toEqual([1, 2]);
  });
});
