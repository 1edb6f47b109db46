import { describe, expect, it } from 'vitest';
import { ACTION_NAMES } from './actions.js';
import { SelectionReason, type Step } from './gen/spark/v1/common.js';
import {
  buildSystemPrompt,
  buildToolUseMessages,
  extractFinalAnswer,
  formatQuestionBlock,
  parseAssistantTurn,
  parseChat,
  pythonJson,
  renderChat,
  renderStepCompletion,
  stepToMessages,
  toolCallText,
  type ChatMessage,
} from './step-format.js';

function step(partial: Partial<Step>): Step {
  return {
    index: 0, action: 'cot', thought: '', toolCall: undefined, score: 0,
    selectionReason: SelectionReason.SELECTION_REASON_UNSPECIFIED, candidates: [], isFinal: false, ...partial,
  };
}

const toolStep = step({
  index: 0,
  action: 'calculator',
  thought: 'Multiply the two prices.',
  toolCall: { name: 'calculator', inputJson: '{"expression":"12 * 3.5","exact":true}', output: '42', error: '', durationMs: 1.2, structuredJson: '' },
});
const cotStep = step({ index: 1, action: 'cot', thought: 'The total is 42 dollars, which is option C. Therefore the answer is (C).', isFinal: true });
const question = { question: 'What do 12 items at $3.50 cost?', options: ['$40', '$41', '$42', '$43'] };

describe('rendering', () => {
  it('renders a whole tool-use chat in the Llama-3.1 template, byte for byte', () => {
    const messages = buildToolUseMessages(formatQuestionBlock(question), [toolStep, cotStep]);
    const text = renderChat(messages);
    const system = buildSystemPrompt();
    expect(text).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n'
      + 'Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n'
      + `${system}<|eot_id|>`
      + '<|start_header_id|>user<|end_header_id|>\n\nQuestion:\nWhat do 12 items at $3.50 cost?\nOptions:\nA. $40\nB. $41\nC. $42\nD. $43<|eot_id|>'
      + '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "calculator", "parameters": {"expression": "12 * 3.5", "exact": true}}<|eom_id|>'
      + '<|start_header_id|>ipython<|end_header_id|>\n\n42<|eot_id|>'
      + '<|start_header_id|>assistant<|end_header_id|>\n\nThe total is 42 dollars, which is option C. Therefore the answer is (C).<|eot_id|>',
    );
  });

  it('lists all 9 actions and the final-answer phrase in the system prompt', () => {
    const system = buildSystemPrompt();
    for (const name of ACTION_NAMES) expect(system).toContain(`\n- ${name}: `);
    expect(system).toContain('9 actions');
    expect(system).toContain('at most 5 steps');
    expect(system).toContain('finish your answer with "the answer is (X)"');
    expect(buildSystemPrompt({ actions: [{ name: 'search', description: 'web' }], maxSteps: 3 })).toContain('at most 3 steps. At each step take exactly one of these 1 actions:\n\n- search: web\n');
  });

  it('writes tool-call JSON the way Python json.dumps does', () => {
    expect(pythonJson({ a: [1, 'x', null], b: { c: false }, d: 'é"' })).toBe('{"a": [1, "x", null], "b": {"c": false}, "d": "é\\""}');
    expect(pythonJson({})).toBe('{}');
    expect(toolCallText('python', { code: 'print(1)\nprint(2)' })).toBe('{"name": "python", "parameters": {"code": "print(1)\\nprint(2)"}}');
  });

  it('renders tool errors into the ipython turn and rejects bad tool input', () => {
    const failed = step({ action: 'python', toolCall: { name: 'python', inputJson: '{"code":"1/0"}', output: '', error: 'ZeroDivisionError', durationMs: 3, structuredJson: '' } });
    expect(stepToMessages(failed)[1]).toEqual({ role: 'ipython', content: 'error: ZeroDivisionError' });
    const bad = step({ action: 'python', toolCall: { name: 'python', inputJson: '[1]', output: '', error: '', durationMs: 0, structuredJson: '' } });
    expect(() => stepToMessages(bad, 'steps[2]')).toThrow(/steps\[2\]\.tool_call\.input_json: must be a JSON object/);
  });

  it('uses <|eot_id|> everywhere when tools are off, and can end with a generation prompt', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'hi' }, { role: 'assistant', content: toolCallText('calculator', {}) }];
    expect(renderChat(messages, { tools: false })).toBe(
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>'
      + '<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>'
      + '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "calculator", "parameters": {}}<|eot_id|>',
    );
    expect(renderChat([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }).endsWith('hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
    expect(() => renderChat([{ role: 'user', content: 'a' }, { role: 'system', content: 'late' }])).toThrow(/role: "system" cannot appear here/);
  });

  it('context + step completion equals the chat with the step (the step-wise training pair)', () => {
    const context = buildToolUseMessages(formatQuestionBlock(question));
    const prompt = renderChat(context, { addGenerationPrompt: true });
    const withTool = renderChat([...context, ...stepToMessages(toolStep)]);
    expect(withTool.startsWith(prompt + renderStepCompletion(toolStep))).toBe(true);
    expect(renderStepCompletion(toolStep).endsWith('<|eom_id|>')).toBe(true);
    const withCot = renderChat([...context, ...stepToMessages(cotStep)]);
    expect(withCot).toBe(prompt + renderStepCompletion(cotStep));
  });
});

describe('parsing', () => {
  it('round-trips messages through text', () => {
    const messages = buildToolUseMessages(formatQuestionBlock(question), [toolStep, cotStep]);
    for (const addGenerationPrompt of [false, true]) {
      const parsed = parseChat(renderChat(messages, { addGenerationPrompt, dateString: '01 Jan 2025' }));
      expect(parsed.messages).toEqual(messages);
      expect(parsed).toMatchObject({ tools: true, dateString: '01 Jan 2025', addGenerationPrompt });
    }
    const plain: ChatMessage[] = [{ role: 'user', content: 'u' }, { role: 'assistant', content: 'a' }];
    expect(parseChat(renderChat(plain, { tools: false }))).toEqual({ messages: plain, tools: false, dateString: '26 Jul 2024', addGenerationPrompt: false });
    expect(() => parseChat('hello')).toThrow(/text: must start with <\|begin_of_text\|>/);
  });

  it('round-trips each step through its completion text', () => {
    expect(parseAssistantTurn(renderStepCompletion(toolStep))).toEqual({
      kind: 'tool_call', action: 'calculator', parameters: { expression: '12 * 3.5', exact: true },
    });
    expect(parseAssistantTurn(renderStepCompletion(cotStep))).toEqual({
      kind: 'thought', action: 'cot', thought: cotStep.thought, finalAnswer: 'C',
    });
  });

  it('accepts the variants real models and servers emit', () => {
    expect(parseAssistantTurn('<|python_tag|>{"name": "python", "arguments": {"code": "print(2)"}}<|eom_id|>'))
      .toEqual({ kind: 'tool_call', action: 'python', parameters: { code: 'print(2)' } });
    expect(parseAssistantTurn('Let me think.')).toEqual({ kind: 'thought', action: 'cot', thought: 'Let me think.' });
    expect(parseAssistantTurn('{"name": "calc", "parameters": {')).toMatchObject({ kind: 'invalid_tool_call', name: 'calc', error: expect.stringMatching(/not valid JSON/) });
    expect(parseAssistantTurn('{"parameters": {"name": "calc"')).not.toHaveProperty('name');
    expect(parseAssistantTurn('{"parameters": {}}')).toMatchObject({ kind: 'invalid_tool_call', error: 'name: missing or not a string' });
    expect(parseAssistantTurn('{"name": "calc", "parameters": [1]}')).toMatchObject({ kind: 'invalid_tool_call', error: 'parameters: must be a JSON object' });
  });

  it('extracts the last final answer with the MMLU-Pro pattern', () => {
    expect(extractFinalAnswer('the answer is (B). On reflection the answer is (D)')).toBe('D');
    expect(extractFinalAnswer('The answer is C')).toBe('C');
    expect(extractFinalAnswer('no letter here')).toBeUndefined();
  });
});
