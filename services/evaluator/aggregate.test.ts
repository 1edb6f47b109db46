import { describe, expect, it } from 'vitest';
import { INVALID_TOOL_CALL_ACTION } from './agentic.js';
import { summarize, summarizeGroup } from './aggregate.js';
import type { EvalRecord } from './results.js';

const record = (actions: string[]): EvalRecord => ({
  model: 'spark', mode: 'agentic', question_id: 1, category: 'math', answer: 'A', response: 'the answer is (A)',
  predicted: 'A', rule: 'answer_is', guessed: false, correct: true, outcome: 'correct', actions,
} as EvalRecord);

describe('summarizeGroup', () => {
  it('keeps invalid tool calls in the usage table but out of the tool-selection entropy', () => {
    const s = summarizeGroup('spark', 'agentic', [record([INVALID_TOOL_CALL_ACTION, 'calculator']), record(['python', INVALID_TOOL_CALL_ACTION])], { bootstrapIterations: 10 });
    expect(s.actionCounts).toEqual({ [INVALID_TOOL_CALL_ACTION]: 2, calculator: 1, python: 1 });
    expect(s.toolEntropyBits).toBeCloseTo(1, 12);
    expect(s.categoryToolEntropyBits.math).toBeCloseTo(1, 12);
    expect(s.malformedCalls).toBe(0);
  });

  it('counts a malformed call of a named tool as that tool\'s selection, and says how many there were', () => {
    const r = { ...record(['python', 'calculator']), steps: [{ action: 'python', output: '{"name": "python", "parameters": {', malformed: 'not valid JSON' }, { action: 'calculator', input: '{}', output: '4' }] };
    const s = summarizeGroup('spark', 'agentic', [r, record(['python'])], { bootstrapIterations: 10 });
    expect(s.actionCounts).toEqual({ python: 2, calculator: 1 });
    expect(s.malformedCalls).toBe(1);
  });
});

describe('summarize', () => {
  it('gives the same figures, entropy interval included, whatever order the answers finished in', () => {
    const recs = [['calculator', 'python'], ['encyclopedia'], ['cot', 'calculator'], ['logic'], ['python', 'python']].map((actions, i) => ({ ...record(actions), question_id: i + 1 }));
    const opts = { models: ['spark'], modes: ['agentic' as const], bootstrapIterations: 200, seed: 3 };
    const [inOrder] = summarize(recs, opts).results;
    const [reversed] = summarize([...recs].reverse(), opts).results;
    // Unordered, the resamples differ (low 0.880 against 0.971 here); ordered, only the last bit may.
    expect({ ...reversed, toolEntropyCi: undefined }).toEqual({ ...inOrder, toolEntropyCi: undefined });
    expect(reversed!.toolEntropyCi.low).toBeCloseTo(inOrder!.toolEntropyCi.low, 12);
    expect(reversed!.toolEntropyCi.high).toBeCloseTo(inOrder!.toolEntropyCi.high, 12);
  });
});
