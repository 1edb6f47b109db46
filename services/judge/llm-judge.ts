/**
 * The LLM judge: renders the versioned prompt, asks an OpenAI-compatible endpoint through `ChatClient`,
 * and reads the verdicts. An unusable reply (not JSON, a score of 11 or "high", a missing candidate) gets
 * exactly one repair turn that quotes the problem; a second unusable reply is an error, never a guess.
 * Batch mode sends a step's candidates in one call; single mode sends one call per candidate (in
 * parallel, within the client's concurrency limit) and cancels the rest as soon as one fails.
 */
import type { Candidate } from '../common/gen/spark/v1/common.js';
import { FailedPreconditionError } from '../common/errors.js';
import type { JudgeBackend, JudgeMode, TokenUsage } from './backend.js';
import type { ChatClient } from '../common/llm/chat-client.js';
import type { ChatTurn, JudgeContext, JudgePrompt } from './prompt.js';
import { batchSchema, parseBatchVerdicts, parseSingleVerdict, SINGLE_SCHEMA, VerdictError, type ResponseSchema, type Verdict } from './verdict.js';

/**
 * Thrown when the judge's reply stays unusable after the repair turn. It maps to FAILED_PRECONDITION, not
 * UNAVAILABLE, on purpose: gRPC clients retry UNAVAILABLE, and asking the same model the same question at
 * temperature 0 buys the same unusable reply again; the model or prompt needs fixing first.
 */
export class UnusableVerdictError extends FailedPreconditionError {}

export interface LlmJudgeHooks {
  /** A reply could not be used (counted whether or not the repair then succeeds). */
  invalidReply?(problem: string): void;
  /** Tokens billed by one completed call, reported as it happens so failed requests are billed too. */
  usage?(promptTokens: number, completionTokens: number): void;
}

export class LlmJudge implements JudgeBackend {
  readonly name: string;
  readonly cacheable = true;

  constructor(
    private readonly chat: ChatClient,
    private readonly prompt: JudgePrompt,
    model: string,
    private readonly hooks: LlmJudgeHooks = {},
  ) {
    this.name = `openai:${model}`;
  }

  async scoreCandidates(ctx: JudgeContext, candidates: Candidate[], mode: JudgeMode, signal?: AbortSignal): Promise<{ verdicts: Verdict[]; usage: TokenUsage }> {
    if (mode === 'batch') {
      const { value, usage } = await this.ask(this.prompt.candidates(ctx, candidates), batchSchema(candidates.length), (t) => parseBatchVerdicts(t, candidates.length), signal);
      return { verdicts: value, usage };
    }
    // Single mode: siblings share one controller so the first failure stops the others' retries.
    const siblings = new AbortController();
    const linked = signal ? AbortSignal.any([signal, siblings.signal]) : siblings.signal;
    const results = await Promise.all(candidates.map((c) =>
      this.ask(this.prompt.single(ctx, c), SINGLE_SCHEMA, parseSingleVerdict, linked).catch((err: unknown) => {
        siblings.abort(err);
        throw err;
      })));
    return { verdicts: results.map((r) => r.value), usage: sumUsage(results.map((r) => r.usage)) };
  }

  async scoreAnswer(ctx: JudgeContext, answerText: string, signal?: AbortSignal): Promise<{ verdict: Verdict; usage: TokenUsage }> {
    const { value, usage } = await this.ask(this.prompt.answer(ctx, answerText), SINGLE_SCHEMA, parseSingleVerdict, signal);
    return { verdict: value, usage };
  }

  /** One question to the judge, with at most one repair turn. */
  private async ask<T>(messages: ChatTurn[], schema: ResponseSchema, parse: (text: string) => T, signal?: AbortSignal): Promise<{ value: T; usage: TokenUsage }> {
    const first = await this.complete(messages, schema, signal);
    let usage: TokenUsage = { promptTokens: first.promptTokens, completionTokens: first.completionTokens };
    let problem: string;
    try {
      return { value: parse(first.text), usage };
    } catch (err) {
      if (!(err instanceof VerdictError)) throw err;
      problem = err.message;
      this.hooks.invalidReply?.(problem);
    }
    const repair = [...messages, { role: 'assistant', content: first.text } as const, this.prompt.repair(problem)];
    const second = await this.complete(repair, schema, signal);
    usage = sumUsage([usage, second]);
    try {
      return { value: parse(second.text), usage };
    } catch (err) {
      if (!(err instanceof VerdictError)) throw err;
      this.hooks.invalidReply?.(err.message);
      throw new UnusableVerdictError(`judge endpoint gave an unusable reply after one repair: ${err.message} (first reply: ${problem})`, { cause: err });
    }
  }

  private async complete(messages: ChatTurn[], schema: ResponseSchema, signal?: AbortSignal) {
    const result = await this.chat.complete(messages, { schema }, signal);
    this.hooks.usage?.(result.promptTokens, result.completionTokens);
    return result;
  }
}

function sumUsage(parts: TokenUsage[]): TokenUsage {
  return parts.reduce((a, b) => ({ promptTokens: a.promptTokens + b.promptTokens, completionTokens: a.completionTokens + b.completionTokens }), { promptTokens: 0, completionTokens: 0 });
}
