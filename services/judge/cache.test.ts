import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheKey, VerdictCache, type CacheKeyParts } from './cache.js';

const parts: CacheKeyParts = {
  backend: 'openai:gpt-4o', promptVersion: 'judge-v1', promptSha256: 'abc', kind: 'candidate',
  question: [70, 'q', ['a', 'b'], 'A'], steps: [], subject: 'action: cot\nthought: x',
};

describe('cacheKey', () => {
  it('is stable and changes with every part', () => {
    const base = cacheKey(parts);
    expect(cacheKey({ ...parts })).toBe(base);
    for (const [field, value] of Object.entries({ backend: 'openai:gpt-4o-mini', promptVersion: 'judge-v2', promptSha256: 'abd', kind: 'answer', question: [71], steps: ['s'], subject: 'other' })) {
      expect(cacheKey({ ...parts, [field]: value }), field).not.toBe(base);
    }
  });
});

describe('VerdictCache', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'judge-cache-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('survives a restart: a new instance reads what the old one appended', () => {
    const path = join(dir, 'judge', 'cache.jsonl');
    const a = new VerdictCache(path);
    a.put('k1', { score: 7.5, rationale: 'good' }, 'openai:m');
    a.put('k2', { score: 1, rationale: 'bad' }, 'openai:m');
    const b = new VerdictCache(path);
    expect(b.size).toBe(2);
    expect(b.get('k1')).toEqual({ score: 7.5, rationale: 'good' });
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('two writers on one file: each sees the other\'s verdicts on a miss, and no line is lost', () => {
    const path = join(dir, 'cache.jsonl');
    const a = new VerdictCache(path);
    const b = new VerdictCache(path);
    for (let i = 0; i < 50; i += 1) {
      a.put(`a${i}`, { score: i % 11, rationale: 'from a' }, 'x');
      b.put(`b${i}`, { score: 10 - (i % 11), rationale: 'from b' }, 'x');
    }
    expect(a.get('b49')).toEqual({ score: 10 - (49 % 11), rationale: 'from b' });
    expect(b.get('a0')).toEqual({ score: 0, rationale: 'from a' });
    expect(new VerdictCache(path).size).toBe(100);
  });

  it('skips torn and foreign lines anywhere in the file, and reads a line completed later', () => {
    const path = join(dir, 'cache.jsonl');
    writeFileSync(path, [
      '{"k":"ok1","s":5,"r":"fine","b":"x","t":"t"}',
      '{"k":"torn","s":',
      'not json at all',
      '{"k":"bad-score","s":42,"r":"","b":"x","t":"t"}',
      '{"k":"ok2","s":9,"r":"great","b":"x","t":"t"}',
    ].join('\n') + '\n{"k":"late","s":3,');
    const cache = new VerdictCache(path);
    expect(cache.size).toBe(2);
    expect(cache.get('bad-score')).toBeUndefined();
    appendFileSync(path, '"r":"done","b":"x","t":"t"}\n');
    expect(cache.get('late')).toEqual({ score: 3, rationale: 'done' });
  });
});
