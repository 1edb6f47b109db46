import { describe, expect, it } from 'vitest';
import { Candidate, ToolCall } from '../common/gen/spark/v1/common.js';
import { WATER_MOLAR_MASS_QUESTION } from '../../tests/helpers/questions.js';
import { judgeAnswerOffline, judgeCandidateOffline, matchingOptions } from './offline-judge.js';

const question = WATER_MOLAR_MASS_QUESTION;
const ctx = { question, stepsSoFar: [] };

const tool = (action: string, thought: string, call: Partial<ToolCall>) =>
  Candidate.fromPartial({ action, thought, toolCall: ToolCall.fromPartial({ name: action, inputJson: '{}', ...call }) });

const answers = tool('chemistry', 'Use the chemistry tool to get the molar mass of H2O.', { inputJson: '{"operation":"molar_mass","formula":"H2O"}', output: 'molar mass of H2O: 18.015 g/mol' });
const errors = tool('python', 'Compute the molar mass of water in Python.', { inputJson: '{"code":"print(molar)"}', error: "NameError: name 'molar' is not defined" });
const cot = Candidate.fromPartial({ action: 'cot', thought: 'Water has two hydrogen atoms of about 1.008 g/mol and one oxygen atom of 16.00 g/mol, so its molar mass is about 18.02 g/mol. The answer is (B)' });

describe('offline judge', () => {
  it('is deterministic: the same step always gets the same score and rationale', () => {
    const first = [answers, errors, cot].map((c) => judgeCandidateOffline(ctx, c));
    const again = [answers, errors, cot].map((c) => judgeCandidateOffline(structuredClone(ctx), structuredClone(c)));
    expect(again).toEqual(first);
    for (const v of first) {
      expect(v.score).toBeGreaterThanOrEqual(0);
      expect(v.score).toBeLessThanOrEqual(10);
      expect(v.rationale).toMatch(/^offline: /);
    }
  });

  it('prefers a step whose tool output answers the question over one whose tool errors', () => {
    const good = judgeCandidateOffline(ctx, answers);
    const bad = judgeCandidateOffline(ctx, errors);
    expect(good.score).toBeGreaterThan(6); // viable at the paper's threshold
    expect(bad.score).toBeLessThanOrEqual(6);
    expect(good.score).toBeGreaterThan(bad.score);
    expect(good.rationale).toContain('points to option (B)');
    expect(bad.rationale).toContain('tool failed: NameError');
  });

  it('rewards a well-formed final answer and penalises a malformed one', () => {
    const wellFormed = judgeCandidateOffline(ctx, cot);
    const malformed = judgeCandidateOffline(ctx, { ...cot, thought: cot.thought.replace('The answer is (B)', 'Final answer: 18.02, so the answer is B-ish') });
    expect(wellFormed.score).toBeGreaterThan(malformed.score);
    expect(wellFormed.rationale).toContain('final answer (B) well formed');
  });

  it('scores final answers by format, then correctness and support', () => {
    const steps = [{ index: 0, action: 'chemistry', thought: answers.thought, toolCall: answers.toolCall, score: 8, selectionReason: 0, candidates: [], isFinal: false }];
    expect(judgeAnswerOffline({ question, stepsSoFar: steps }, 'So the answer is (B)').score).toBe(10);
    expect(judgeAnswerOffline(ctx, 'So the answer is (B)').score).toBe(8);
    expect(judgeAnswerOffline(ctx, 'the answer is (C)').score).toBe(2);
    expect(judgeAnswerOffline(ctx, 'I think B').score).toBe(0);
  });

  it('matches numeric options within a small tolerance and text options verbatim', () => {
    expect(matchingOptions('result: 18.015', question.options)).toEqual([1]);
    expect(matchingOptions('the mitochondria is the powerhouse', ['the nucleus', 'the mitochondria', 'ribosomes'])).toEqual([1]);
    expect(matchingOptions('nothing relevant', question.options)).toEqual([]);
    // A number the question states is not evidence for an option that repeats it.
    expect(matchingOptions('with x = 0.005 the result is 0.24917', ['0.005 %', '0.249 %'], 'for x=0.0050')).toEqual([1]);
  });
});
