import { describe, expect, it } from 'vitest';
import { Question } from '../common/gen/spark/v1/common.js';
import { loadJudgePrompt, parseJudgePrompt, renderCandidate } from './prompt.js';

const question = Question.fromPartial({ questionId: 70, question: 'What is 12 * 7?', options: ['74', '84', '94'], answer: 'B' });

describe('judge prompt file', () => {
  it('the shipped prompt loads, has a version and renders every section', () => {
    const prompt = loadJudgePrompt();
    expect(prompt.version).toBe('judge-v1');
    expect(prompt.sha256).toMatch(/^[0-9a-f]{64}$/);
    const ctx = { question, stepsSoFar: [] };
    const [system, user] = prompt.candidates(ctx, [
      { action: 'calculator', thought: 'multiply', toolCall: { name: 'calculator', inputJson: '{"expression":"12*7"}', output: '84', error: '', durationMs: 1, structuredJson: '' }, score: 0, viable: false, rationale: '' },
      { action: 'cot', thought: 'think', toolCall: undefined, score: 0, viable: false, rationale: '' },
    ]);
    expect(system.role).toBe('system');
    expect(system.content).toMatch(/0 to 10/);
    expect(user.content).toContain('(B) 84');
    expect(user.content).toContain('[candidate 1]');
    expect(user.content).toContain('tool output: 84');
    expect(user.content).not.toMatch(/\{\{/);
    expect(prompt.answer(ctx, 'the answer is (B)')[1].content).toContain('the answer is (B)');
    expect(prompt.repair('scores[0].score: 11 is outside 0..10').content).toContain('11 is outside');
  });

  it('rejects a file without a version, with a missing section or an unknown placeholder', () => {
    expect(() => parseJudgePrompt('## system\nx')).toThrow(/front matter/);
    const ok = '---\nversion: t\n---\n## system\ns\n## candidates\n{{candidates}}\n## single\n{{candidate}}\n## answer\n{{answer}}\n## repair\n{{problem}}\n';
    expect(parseJudgePrompt(ok).version).toBe('t');
    expect(() => parseJudgePrompt(ok.replace('## repair\n{{problem}}\n', ''))).toThrow(/missing section "## repair"/);
    expect(() => parseJudgePrompt(ok.replace('{{answer}}', '{{anwser}}'))).toThrow(/unknown placeholder \{\{anwser\}\}/);
  });

  it('renders a failed tool call with its error instead of an output, and clips long outputs', () => {
    const failed = renderCandidate({ action: 'python', thought: 't', toolCall: { name: 'python', inputJson: '{}', output: '', error: 'SyntaxError', durationMs: 0, structuredJson: '' } });
    expect(failed).toContain('tool error: SyntaxError');
    const long = renderCandidate({ action: 'python', thought: 't', toolCall: { name: 'python', inputJson: '{}', output: 'x'.repeat(10_000), error: '', durationMs: 0, structuredJson: '' } });
    expect(long.length).toBeLessThan(5_000);
    expect(long).toContain('more characters cut');
  });
});
