/**
 * Log-probs of given continuations under a model (ScoreSequences): each context is rendered with the
 * Llama-3.1 template and an open assistant header, the continuation is tokenised as it is, and one
 * forward per batch returns the continuation tokens' log-probs (logits at those positions only,
 * batch.ts). Used for behaviour / reference log-probs by other tools, and by tests to read the policy's
 * distribution over the nine actions.
 */
import { InvalidArgumentError } from '../../common/errors.js';
import type { ChatMessage } from '../../common/step-format.js';
import type { LlamaModel } from '../model/llama.js';
import { noGrad, tidy } from '../native/tensor.js';
import { actionLogProbs, collate, toMatrix } from './batch.js';
import { tokenizeExample, type TextEncoder } from './data.js';

/** Rows scored per forward. */
export const SCORE_BATCH = 8;
/** Contexts longer than this lose tokens from the left (the continuation is kept whole up to it). */
export const SCORE_MAX_SEQ_LEN = 8_192;

export interface ScoredRow {
  /** Log-prob of each continuation token. */
  logprobs: number[];
  total: number;
}

export async function scoreContinuations(
  model: LlamaModel,
  tokenizer: TextEncoder,
  contexts: ReadonlyArray<readonly ChatMessage[]>,
  continuations: readonly string[],
  opts: { adapters?: boolean; signal?: AbortSignal; maxSeqLen?: number } = {},
): Promise<ScoredRow[]> {
  if (contexts.length !== continuations.length) {
    throw new InvalidArgumentError('continuations', `has ${continuations.length} entries but contexts has ${contexts.length}`, 'one continuation per context');
  }
  const rows = contexts.map((messages, i) => {
    if (messages.length === 0) throw new InvalidArgumentError(`contexts[${i}].messages`, 'must not be empty');
    if (!continuations[i]) throw new InvalidArgumentError(`continuations[${i}]`, 'must not be empty');
    return tokenizeExample(tokenizer, messages as Parameters<typeof tokenizeExample>[1], continuations[i]!, opts.maxSeqLen ?? SCORE_MAX_SEQ_LEN);
  });
  const out: ScoredRow[] = [];
  for (let start = 0; start < rows.length; start += SCORE_BATCH) {
    opts.signal?.throwIfAborted();
    const chunk = rows.slice(start, start + SCORE_BATCH);
    const m = await noGrad(() => tidy(async () => {
      const batch = collate(chunk, model.device);
      const { logProb } = await actionLogProbs(model, batch, { adapters: opts.adapters ?? true });
      return toMatrix(logProb.to('float32', 'cpu'));
    }));
    chunk.forEach((r, j) => {
      const c = r.completionIds.length;
      const logprobs = Array.from(m.data.subarray(j * m.respLen + (m.respLen - c), (j + 1) * m.respLen));
      out.push({ logprobs, total: logprobs.reduce((a, b) => a + b, 0) });
    });
  }
  return out;
}
