/**
 * Generators backed by a language model: any OpenAI-compatible endpoint (e.g. vLLM serving
 * Llama-3-8B-Instruct, the paper's generator) through the shared resilient chat client, or the policy
 * itself through TrainerService.Generate. For each action
 * the model sees the SPaRK chat so far plus one instruction naming the action to take, and its reply is
 * read with the step-format parser: a JSON tool call for a tool, plain text for `cot`.
 *
 * OpenAI chat endpoints take system/user/assistant roles only, so there a tool's output (an `ipython`
 * turn in the Llama template) is sent as a user message that says it is tool output.
 */
import { serverStream } from '../common/client.js';
import type { ChatMessage, ModelRef, Question, Step } from '../common/gen/spark/v1/common.js';
import { GenerateRequest, type TrainerServiceClient } from '../common/gen/spark/v1/trainer.js';
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

/** Sends a chat and returns the reply text: the one thing that differs between model backends. */
export type CompleteFn = (messages: ChatMessage[], signal: AbortSignal) => Promise<string>;

/**
 * A generator over any chat model: per action, the SPaRK chat so far plus one instruction naming the
 * action; the reply is parsed with the step-format parser. `kind` labels it in manifests.
 */
export class LlmStepGenerator implements StepGenerator {
  constructor(readonly kind: string, private readonly complete: CompleteFn, private readonly prompt?: SystemPromptOptions) {}

  private context(question: Question, steps: readonly Step[]): ChatMessage[] {
    return buildToolUseMessages(formatQuestionBlock(question), steps, this.prompt);
  }

  async propose(question: Question, steps: readonly Step[], actions: readonly string[], signal: AbortSignal): Promise<CandidateProposal[]> {
    const context = this.context(question, steps);
    return Promise.all(actions.map(async (action) =>
      proposalFromReply(action, await this.complete([...context, { role: 'user', content: actionInstruction(action) }], signal))));
  }

  async answer(question: Question, steps: readonly Step[], signal: AbortSignal): Promise<string> {
    return (await this.complete([...this.context(question, steps), { role: 'user', content: ANSWER_INSTRUCTION }], signal)).trim();
  }
}

export interface SamplingOptions {
  /** Completion token cap per candidate. */
  maxTokens: number;
  temperature: number;
}

/** An OpenAI-compatible endpoint (e.g. vLLM serving Llama-3-8B-Instruct, the paper's generator). */
export function openAiComplete(chat: ChatClient, sampling: SamplingOptions): CompleteFn {
  return async (messages, signal) => (await chat.complete(toChatTurns(messages), sampling, signal)).text;
}

/**
 * The policy itself through TrainerService.Generate (base + optional adapter). The trainer renders the
 * chat with the Llama-3.1 template, so tool outputs stay native `ipython` turns.
 */
export function trainerComplete(client: TrainerServiceClient, model: ModelRef, sampling: SamplingOptions & { seed: number }): CompleteFn {
  return async (messages, signal) => {
    let text = '';
    const request = GenerateRequest.fromPartial({
      model,
      conversations: [{ messages }],
      sampling: { maxTokens: sampling.maxTokens, temperature: sampling.temperature, seed: sampling.seed },
    });
    for await (const piece of serverStream(client.generate.bind(client), request, { timeoutMs: POLICY_CALL_TIMEOUT_MS, signal })) text += piece.text;
    return text;
  };
}

/** Generation on a CPU can take minutes per call; the job's signal bounds it further. */
const POLICY_CALL_TIMEOUT_MS = 1_800_000;
