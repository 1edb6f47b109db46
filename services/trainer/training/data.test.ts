import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderChat } from '../../common/step-format.js';
import { LlamaTokenizer, writeLlama31TokenizerFiles } from '../model/tokenizer.js';
import { readStepExamples, tokenizeExample, tokenizeExamples, truncateLeft } from './data.js';

const line = (over: Record<string, unknown> = {}) => JSON.stringify({
  question_id: 1, category: 'math', step_index: 0, num_steps: 2, is_final: false, action: 'calculator',
  messages: [{ role: 'system', content: 'Pick a tool.' }, { role: 'user', content: 'What is 2+2?' }],
  completion: '{"name": "calculator", "parameters": {"expression": "2+2"}}<|eom_id|>',
  reward: { judge_score: 0.8, correctness: 1, diversity: 0.9 },
  ...over,
});

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'steps-')), 'steps.jsonl');
  writeFileSync(path, text);
  return path;
}

describe('readStepExamples', () => {
  it('reads the trajectory service format and hashes the file', () => {
    const { examples, sha256 } = readStepExamples(file(`${line()}\n\n${line({ action: 'cot', is_final: true })}\n`));
    expect(examples.map((e) => e.action)).toEqual(['calculator', 'cot']);
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('names the line and field of a bad example, and rejects an empty file', () => {
    expect(() => readStepExamples(file(`${line()}\n${line({ reward: { judge_score: 0.5, correctness: 1 } })}\n`))).toThrow(/data line 2: reward\.diversity/);
    expect(() => readStepExamples(file(`${line()}\nnot json\n`))).toThrow(/data line 2: is not valid JSON/);
    expect(() => readStepExamples(file(`${line({ completion: '' })}\n`))).toThrow(/data line 1: completion/);
    expect(() => readStepExamples(file('\n'))).toThrow(/holds no step examples/);
    expect(() => readStepExamples('/nonexistent/steps.jsonl')).toThrow(/^data: cannot read/);
  });
});

describe('truncation and tokenisation', () => {
  it('cuts the context from the left and keeps the completion whole', () => {
    const r = truncateLeft([1, 2, 3, 4, 5, 6], [7, 8], 5);
    expect(r).toEqual({ contextIds: [4, 5, 6], completionIds: [7, 8], droppedContext: 3, droppedCompletion: 0 });
    // A completion longer than the budget keeps one context token and loses its tail.
    expect(truncateLeft([1, 2, 3], [4, 5, 6, 7], 3)).toEqual({ contextIds: [3], completionIds: [4, 5], droppedContext: 2, droppedCompletion: 2 });
    expect(truncateLeft([1, 2], [3], 10)).toEqual({ contextIds: [1, 2], completionIds: [3], droppedContext: 0, droppedCompletion: 0 });
  });

  it('tokenises the chat with an open assistant header and the completion after it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    writeLlama31TokenizerFiles(dir);
    const tok = LlamaTokenizer.load(dir);
    const ex = readStepExamples(file(`${line()}\n`)).examples[0]!;
    const r = tokenizeExample(tok, ex.messages, ex.completion, 4096);
    expect(r.contextIds).toEqual(tok.encode(renderChat(ex.messages, { addGenerationPrompt: true })));
    expect(tok.decode(r.contextIds)).toMatch(/<\|start_header_id\|>assistant<\|end_header_id\|>\n\n$/);
    expect(r.completionIds).toEqual(tok.encode(ex.completion));
    expect(r.completionIds.at(-1)).toBe(tok.tokenId('<|eom_id|>'));
    const { rows, truncated } = tokenizeExamples(tok, [ex, ex], 20);
    expect(truncated).toBe(2);
    expect(rows[0]!.contextIds.length + rows[0]!.completionIds.length).toBe(20);
    expect(rows[0]!.completionIds).toEqual(r.completionIds);
  });
});
