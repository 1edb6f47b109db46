/**
 * Models under test behind one small interface: `generate(messages, sampling, signal) → {text, tokens}`.
 *
 * - TRAINER: a Llama checkpoint (optionally with a PEFT adapter) through TrainerService.Generate, a
 *   server stream of tokens; the trainer renders the chat with the Llama-3.1 template itself. Concurrent
 *   greedy calls with the same sampling settings go as one batched call (generate-batcher.ts).
 * - OPENAI: any OpenAI-compatible chat endpoint (vLLM, Ollama, OpenAI) through the shared ChatClient
 *   (services/common/llm/chat-client.ts: retries with backoff, circuit breaker, concurrency limit,
 *   per-attempt timeout). Chat endpoints accept tool results only as replies to their own `tool_calls`
 *   ids, so the step format's `ipython` turns (tool output) are sent as `user` turns, verbatim.
 *
 * `runner` says which MMLU-Pro reference runner a backend stands for: the API runner strips `**` from
 * responses before extracting (evaluate_from_api.py), the local one does not (evaluate_from_local.py).
 */
import { createClient, serverStream, type ClientSecurity } from '../common/client.js';
import type { ChatMessage } from '../common/gen/spark/v1/common.js';
import type { ModelRef } from '../common/gen/spark/v1/common.js';
import { TrainerServiceClient, type SamplingParams } from '../common/gen/spark/v1/trainer.js';
import { ChatClient, type ChatTurn } from '../common/llm/chat-client.js';
import { GenerateBatcher, type BatchingOptions, type BatchPiece } from './generate-batcher.js';
import { modelRefOf, type ModelSpec } from './spec.js';

export interface Sampling {
  maxTokens: number;
  temperature: number;
  /** Stop strings (the reference CoT stops at "Question:"). */
  stop: string[];
  seed?: number;
}

export interface Generation {
  text: string;
  /** Completion tokens, when the backend reports them. */
  tokens?: number;
}

export interface ModelBackend {
  readonly runner: 'api' | 'local';
  generate(messages: readonly ChatMessage[], sampling: Sampling, signal: AbortSignal): Promise<Generation>;
  close(): void;
}

export interface BackendSettings {
  trainerAddress: string;
  /** TLS / token towards the trainer (the evaluator's own settings). */
  trainerSecurity?: ClientSecurity;
  openaiApiKey?: string;
  requestTimeoutMs: number;
  maxRetries: number;
  /** Requests in flight at once per endpoint (the evaluation's concurrency). */
  concurrency: number;
  /** How TRAINER-backend calls are batched. */
  trainerBatching: BatchingOptions;
}

/** Generation can take minutes on a CPU; the per-question timeout (the caller's signal) bounds it. */
const GENERATE_CALL_TIMEOUT_MS = 3_600_000;

/**
 * TrainerService.Generate, several conversations per call. Only greedy calls are batched: a greedy row's
 * tokens do not depend on the other rows, while sampled rows of one call share one seeded generator,
 * so which calls happened to meet would change each sampled answer.
 */
class TrainerBackend implements ModelBackend {
  readonly runner = 'local';
  private readonly client: TrainerServiceClient;
  private readonly batcher: GenerateBatcher<ChatMessage[], SamplingParams>;

  constructor(private readonly model: ModelRef, address: string, security: ClientSecurity | undefined, batching: BatchingOptions) {
    this.client = createClient(TrainerServiceClient, address, security);
    this.batcher = new GenerateBatcher((conversations, sampling, signal) => this.stream(conversations, sampling, signal), batching);
  }

  async generate(messages: readonly ChatMessage[], sampling: Sampling, signal: AbortSignal): Promise<Generation> {
    // One field order for every call: the batcher groups calls by these settings' JSON.
    const params: SamplingParams = { maxTokens: sampling.maxTokens, temperature: sampling.temperature, topP: 0, topK: 0, stop: [...sampling.stop], seed: sampling.seed ?? 0 };
    return this.batcher.generate([...messages], params, signal, { alone: sampling.temperature > 0 });
  }

  private async *stream(conversations: ChatMessage[][], sampling: SamplingParams, signal: AbortSignal): AsyncGenerator<BatchPiece> {
    const request = { model: this.model, conversations: conversations.map((messages) => ({ messages })), sampling };
    yield* serverStream(this.client.generate.bind(this.client), request, { timeoutMs: GENERATE_CALL_TIMEOUT_MS, signal });
  }

  close(): void {
    this.client.close();
  }
}

/** An OpenAI-compatible chat endpoint through the shared resilient client. */
class OpenAIBackend implements ModelBackend {
  readonly runner = 'api';
  private readonly chat: ChatClient;

  constructor(model: ModelSpec, settings: BackendSettings) {
    this.chat = new ChatClient({
      upstreamName: `model ${JSON.stringify(model.name)} endpoint`,
      baseUrl: model.endpointBaseUrl,
      apiKey: settings.openaiApiKey,
      model: model.endpointModel!,
      timeoutMs: settings.requestTimeoutMs,
      maxTokens: 0,
      temperature: 0,
      structuredOutput: 'off',
      retry: { maxRetries: settings.maxRetries, baseDelayMs: 500, maxDelayMs: 30_000 },
      concurrency: settings.concurrency,
      breakerFailures: 5,
      breakerCooldownMs: 30_000,
    });
  }

  async generate(messages: readonly ChatMessage[], sampling: Sampling, signal: AbortSignal): Promise<Generation> {
    const turns: ChatTurn[] = messages.map((m) => ({ role: m.role === 'system' || m.role === 'assistant' ? m.role : 'user', content: m.content }));
    const res = await this.chat.complete(turns, { maxTokens: sampling.maxTokens, temperature: sampling.temperature, stop: sampling.stop, seed: sampling.seed }, signal);
    return { text: res.text, tokens: res.completionTokens };
  }

  close(): void {
    // The openai package keeps no sockets open between calls.
  }
}

export function createBackend(model: ModelSpec, settings: BackendSettings): ModelBackend {
  return model.backend === 'trainer'
    ? new TrainerBackend(modelRefOf(model), settings.trainerAddress, settings.trainerSecurity, settings.trainerBatching)
    : new OpenAIBackend(model, settings);
}
