/**
 * Generators backed by a language model: any OpenAI-compatible endpoint (e.g. vLLM serving
 * Llama-3-8B-Instruct, the paper's generator), through the shared resilient chat client. For each action
 * the model sees the SPaRK chat so far plus one instruction naming the action to take, and its reply is
 * read with the step-format parser: a JSON tool call for a tool, plain text for `cot`.
 *
 * Chat endpoints take system/user/assistant roles only, so a tool's output (an `ipython` turn in the
 * Llama template) is sent as a user message that says it is tool output.
 */
import type { ChatMessage, Question, Step } from '../common/gen/spark/v1/common.js';
import type { ChatClient, ChatTurn } from '../common/llm/chat-client.js';
import { buildToolUseMessages, formatQuestionBlock, parseAssistantTurn, type SystemPromptOptions } from '../common/step-format.js';
import type { CandidateProposal, StepGenerator } from './rollout.js';

export const TOOL_OUTPUT_PREFIX = 'Tool output:\n';

/** SPaRK chat messages as OpenAI chat turns. */
export function toChatTurns(messages: readonly ChatMessage[]): ChatTurn[] {
  return messages.map((m) => (m.role === 'ipython'
    ? { role: 'user', content: `${TOOL_OUTPUT_PREFIX}${m.content}` }
    : { role: m.role as ChatTurn['role'], content: m.content }));
}

export function actionInstruction(action: string): string {
  return action === 'cot'
    ? 'Next step: think without a tool (cot). Reply with one short paragraph of reasoning, not the final answer.'
    : `Next step: use the ${action} tool. Reply with only the JSON tool call {"name": "${action}", "parameters": {...}}.`;
}

export const ANSWER_INSTRUCTION = 'Now answer. Finish your answer with "the answer is (X)" where X is the correct letter choice.';

/** Reads a reply to an action instruction into a proposal for that action. */
export function proposalFromReply(action: string, reply: string): CandidateProposal {
  const parsed = parseAssistantTurn(reply);
  if (action === 'cot') return { action, thought: parsed.kind === 'thought' ? parsed.thought : reply.trim() };
  if (parsed.kind === 'tool_call') return { action, thought: `Call ${action}.`, parameters: parsed.parameters };
  // No usable call: the tool gets an empty input and reports the schema error, which the judge sees.
  const embedded = reply.match(/\{[\s\S]*\}/)?.[0];
  const retry = embedded ? parseAssistantTurn(embedded) : undefined;
  if (retry?.kind === 'tool_call') return { action, thought: reply.slice(0, reply.indexOf(embedded!)).trim() || `Call ${action}.`, parameters: retry.parameters };
  return { action, thought: reply.trim(), parameters: {} };
}

export interface LlmGeneratorOptions {
  /** Completion token cap per candidate. */
  maxTokens: number;
  temperature: number;
  prompt?: SystemPromptOptions;
}

export class OpenAiGenerator implements StepGenerator {
  readonly kind = 'openai';

  constructor(private readonly chat: ChatClient, private readonly opts: LlmGeneratorOptions) {}

  private context(question: Question, steps: readonly Step[]): ChatTurn[] {
    return toChatTurns(buildToolUseMessages(formatQuestionBlock(question), steps, this.opts.prompt));
  }

  async propose(question: Question, steps: readonly Step[], actions: readonly string[], signal: AbortSignal): Promise<CandidateProposal[]> {
    const context = this.context(question, steps);
    return Promise.all(actions.map(async (action) => {
      const res = await this.chat.complete([...context, { role: 'user', content: actionInstruction(action) }], { maxTokens: this.opts.maxTokens, temperature: this.opts.temperature }, signal);
      return proposalFromReply(action, res.text);
    }));
  }

  async answer(question: Question, steps: readonly Step[], signal: AbortSignal): Promise<string> {
    const res = await this.chat.complete([...this.context(question, steps), { role: 'user', content: ANSWER_INSTRUCTION }], { maxTokens: this.opts.maxTokens, temperature: this.opts.temperature }, signal);
    return res.text.trim();
  }
}
