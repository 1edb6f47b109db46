/**
 * Streaming generation for TrainerService.Generate: each conversation is rendered with the Llama-3.1
 * template and an open assistant header, all rows are generated as one batch with the KV cache
 * (model/generate.ts), and every token is handed out as soon as it is sampled, with its log-prob and its
 * piece of text (text-stream.ts). A row's last piece carries `finished` and the reason: "stop" (a stop
 * token or stop string) or "length" (max tokens).
 */
import { InvalidArgumentError } from '../../common/errors.js';
import type { GenerateResponse, SamplingParams } from '../../common/gen/spark/v1/trainer.js';
import type { ChatMessage } from '../../common/step-format.js';
import { generate } from '../model/generate.js';
import type { LoadedPolicy } from './model-cache.js';
import { TextStreamer } from './text-stream.js';

/** Defaults for sampling fields a request leaves at 0 (proto3 cannot tell 0 from unset). */
export const DEFAULT_MAX_TOKENS = 256;

/** Sampling settings as the proto carries them (0 = default / off, see trainer.proto SamplingParams). */
export type Sampling = SamplingParams;

/** Checks sampling settings, naming the proto field of a bad one. */
export function checkSampling(s: Sampling): Sampling {
  const maxTokens = s.maxTokens || DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new InvalidArgumentError('sampling.max_tokens', `must be >= 1 (got ${s.maxTokens})`);
  if (!(s.temperature >= 0)) throw new InvalidArgumentError('sampling.temperature', `must be >= 0 (got ${s.temperature})`, '0 = greedy, or > 0');
  if (!(s.topP >= 0 && s.topP <= 1)) throw new InvalidArgumentError('sampling.top_p', `must be in [0, 1] (got ${s.topP})`, '0 = off, or (0, 1]');
  if (!Number.isInteger(s.topK) || s.topK < 0) throw new InvalidArgumentError('sampling.top_k', `must be an integer >= 0 (got ${s.topK})`);
  return { maxTokens, temperature: s.temperature, topP: s.topP || 1, topK: s.topK, stop: s.stop.filter((x) => x.length > 0), seed: s.seed };
}

/** Generates every conversation's continuation, yielding tokens as they come. */
export async function* streamGeneration(
  policy: LoadedPolicy,
  conversations: ReadonlyArray<readonly ChatMessage[]>,
  sampling: Sampling,
  signal?: AbortSignal,
): AsyncGenerator<GenerateResponse> {
  const s = checkSampling(sampling);
  if (conversations.length === 0) throw new InvalidArgumentError('conversations', 'must not be empty');
  const prompts = conversations.map((messages, i) => {
    if (messages.length === 0) throw new InvalidArgumentError(`conversations[${i}].messages`, 'must not be empty');
    return policy.tokenizer.encodeChat(messages, { addGenerationPrompt: true });
  });
  const stopIds = new Set(policy.tokenizer.stopIds);
  const streamers = prompts.map(() => new TextStreamer((ids) => policy.tokenizer.decode(ids), s.stop, stopIds));
  const counts = prompts.map(() => 0);
  const queue: GenerateResponse[] = [];
  let wake: (() => void) | undefined;
  let settled = false;
  let failure: unknown;
  const running = generate(policy.model, policy.tokenizer, prompts, {
    maxNewTokens: s.maxTokens,
    temperature: s.temperature,
    topP: s.topP,
    topK: s.topK,
    stop: s.stop,
    adapters: !!policy.adapter,
    seed: s.seed,
    signal,
    onToken: ({ row, token, logprob }) => {
      const streamer = streamers[row]!;
      counts[row]! += 1;
      let text = streamer.push(token);
      const finished = streamer.stopped || counts[row] === s.maxTokens;
      if (finished && !streamer.stopped) text += streamer.finish();
      queue.push({ index: row, tokenId: token, text, logprob, finished, finishReason: finished ? (streamer.stopped ? 'stop' : 'length') : '' });
      wake?.();
    },
  }).then(
    () => { settled = true; wake?.(); },
    (err: unknown) => { failure = err; settled = true; wake?.(); },
  );
  try {
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (settled) break;
      await new Promise<void>((resolve) => { wake = resolve; });
      wake = undefined;
    }
    if (failure) throw failure;
  } finally {
    await running; // a consumer that stopped early still waits for the native work to end
  }
}
