/** The OpenAI-compatible generator against a real local HTTP server speaking the chat-completions API. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION_NAMES } from '../common/actions.js';
import { Question, Step, ToolCall } from '../common/gen/spark/v1/common.js';
import { ChatClient } from '../common/llm/chat-client.js';
import { OpenAIServer } from '../../tests/helpers/openai-server.js';
import { LlmStepGenerator, openAiComplete, proposalFromReply, TOOL_OUTPUT_PREFIX } from './llm-generator.js';

const q = Question.fromPartial({ questionId: 333, question: 'He sold 17 subscriptions at 85 cents each. Commission?', options: ['$19.55', '$14.45'], answer: 'B', category: 'business' });

let llm: OpenAIServer;
let generator: LlmStepGenerator;
beforeAll(async () => {
  llm = await OpenAIServer.start({
    responder: (req) => {
      const last = req.body!.messages!.at(-1)!.content;
      const tool = last.match(/use the (\w+) tool/)?.[1];
      if (tool === 'calculator') return { content: '{"name": "calculator", "parameters": {"expression": "0.85 * 17"}}' };
      if (tool) return { content: `I would call ${tool} like this: {"name": "${tool}", "parameters": {"query": "x"}}` };
      if (last.startsWith('Next step: think')) return { content: 'Commission is price times count.' };
      return { content: 'So 0.85 * 17 = 14.45, the answer is (B)' };
    },
  });
  generator = new LlmStepGenerator('openai', openAiComplete(new ChatClient({
    upstreamName: 'generator endpoint', baseUrl: llm.baseUrl, model: 'llama-3-8b-instruct', timeoutMs: 5_000, maxTokens: 256, temperature: 0,
    structuredOutput: 'off', retry: { maxRetries: 2, baseDelayMs: 10, maxDelayMs: 50 }, concurrency: 4, breakerFailures: 5, breakerCooldownMs: 1_000,
  }), { maxTokens: 256, temperature: 0.7 }));
});
afterAll(() => llm.close());

describe('LlmStepGenerator over an OpenAI-compatible endpoint', () => {
  it('asks for one candidate per action and parses tool calls and thoughts', async () => {
    const proposals = await generator.propose(q, [], ACTION_NAMES, new AbortController().signal);
    expect(proposals.map((p) => p.action)).toEqual([...ACTION_NAMES]);
    expect(proposals[0]).toEqual({ action: 'calculator', thought: 'Call calculator.', parameters: { expression: '0.85 * 17' } });
    expect(proposals.find((p) => p.action === 'encyclopedia')).toMatchObject({ thought: 'I would call encyclopedia like this:', parameters: { query: 'x' } });
    expect(proposals.at(-1)).toEqual({ action: 'cot', thought: 'Commission is price times count.' });
    const req = llm.requests.at(-1)!.body!;
    expect(req.model).toBe('llama-3-8b-instruct');
    expect(req.temperature).toBe(0.7);
    expect(req.messages![0].role).toBe('system');
    expect(req.messages![1].content).toContain('Question:\nHe sold 17');
  });

  it('sends tool outputs as user turns and returns the final answer text', async () => {
    const step = Step.fromPartial({ action: 'calculator', toolCall: ToolCall.fromPartial({ name: 'calculator', inputJson: '{"expression":"0.85*17"}', output: '14.45' }) });
    const text = await generator.answer(q, [step], new AbortController().signal);
    expect(text).toMatch(/the answer is \(B\)$/);
    const messages = llm.requests.at(-1)!.body!.messages!;
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'user']);
    expect(messages[2].content).toBe('{"name": "calculator", "parameters": {"expression": "0.85*17"}}');
    expect(messages[3].content).toBe(`${TOOL_OUTPUT_PREFIX}14.45`);
  });

  it('turns a reply without a call into an empty input the tool will reject', () => {
    expect(proposalFromReply('python', 'I am not sure.')).toEqual({ action: 'python', thought: 'I am not sure.', parameters: {} });
  });
});
