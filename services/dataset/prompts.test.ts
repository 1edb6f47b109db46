import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseChat } from '../common/step-format.js';
import { SelectionReason } from '../common/gen/spark/v1/common.js';
import { cotPrompt, renderCotPrompt, toolUsePrompt } from './prompts.js';
import { loadShippedSplit } from './shipped.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');
const [workingSet, validation] = await Promise.all([loadShippedSplit('working-set'), loadShippedSplit('validation')]);
const byId = (id: number) => workingSet.find((q) => q.questionId === id)!;
const exemplars = (category: string) => validation.filter((q) => q.category === category).slice(0, 5);

describe('MMLU-Pro reference CoT prompt', () => {
  it('matches the reference evaluator byte for byte (5-shot)', () => {
    for (const id of [203, 10376]) {
      const q = byId(id);
      expect(renderCotPrompt(q, exemplars(q.category)), `question ${id}`).toBe(fixture(`reference-prompt-${id}-5shot.txt`));
    }
  });

  it('matches the reference template byte for byte (0-shot)', () => {
    expect(renderCotPrompt(byId(203), [])).toBe(
      'The following are multiple choice questions (with answers) about business. Think step by step and then finish your answer with "the answer is (X)" where X is the correct letter choice.\n\n\n\n'
      + 'Question:\nWhat is the term for organisational development through a formally designed organisational structure?\n'
      + 'Options:\nA. Mechanistic\nB. Processual\nC. Formal\nD. Strategic\nE. Organic\nF. Operational\nG. Hierarchical\n'
      + "Answer: Let's think step by step.",
    );
    expect(cotPrompt(byId(203), []).messages).toEqual([{ role: 'user', content: renderCotPrompt(byId(203), []) }]);
  });
});

describe('SPaRK tool-use prompt', () => {
  it('is a Llama-3.1 chat ending in an open assistant turn, with the steps so far', () => {
    const q = byId(10376);
    const step = {
      index: 0, action: 'encyclopedia', thought: '', score: 8, selectionReason: SelectionReason.SELECTION_REASON_RAREST_VIABLE, candidates: [], isFinal: false,
      toolCall: { name: 'encyclopedia', inputJson: '{"query":"specification"}', output: 'A specification states what a program must do.', error: '', durationMs: 2, structuredJson: '' },
    };
    const { text, messages } = toolUsePrompt(q, [step]);
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'ipython']);
    expect(messages[1]!.content).toBe(`Question:\n${q.question}\nOptions:\n${q.options.map((o, i) => `${'ABCDEFGHIJ'[i]}. ${o}`).join('\n')}`);
    expect(messages[2]!.content).toBe('{"name": "encyclopedia", "parameters": {"query": "specification"}}');
    expect(text.endsWith('<|start_header_id|>ipython<|end_header_id|>\n\nA specification states what a program must do.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
    expect(parseChat(text)).toMatchObject({ messages, tools: true, addGenerationPrompt: true });
  });
});
