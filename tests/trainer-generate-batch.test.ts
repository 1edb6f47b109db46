/**
 * Batched generation (services/trainer/model/generate.ts) on tiny checkpoints with the real tokenizer, for
 * prompts longer than one prefill chunk: left-padded rows of very different lengths give the greedy
 * tokens of each prompt alone, with log-probs equal to a teacher-forced forward over the whole sequence;
 * generations of two models running at the same time (their steps take turns) give what each gives alone.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate, PREFILL_CHUNK_TOKENS } from '../services/trainer/model/generate.js';
import { LlamaModel } from '../services/trainer/model/llama.js';
import { LlamaTokenizer } from '../services/trainer/model/tokenizer.js';
import { setNumThreads } from '../services/trainer/native/index.js';
import { Tensor, noGrad, tidy, tokenLogprobs } from '../services/trainer/native/tensor.js';
import { tempDir } from './helpers/service.js';
import { tinyModel } from './helpers/trainer-fixtures.js';

const NEW_TOKENS = 10;
const WORDS = ['energy', 'the', 'ledger', 'of', 'a', 'proof', 'moles', 'interest', 'court', 'cell'];

let root: string;
let tokenizer: LlamaTokenizer;
let a: LlamaModel;
let b: LlamaModel;

/** A chat prompt of about `words` words: lengths on both sides of the prefill chunk. */
function prompt(q: number, words: number): number[] {
  const text = Array.from({ length: words }, (_, i) => WORDS[(i * 7 + q) % WORDS.length]).join(' ');
  return tokenizer.encodeChat([{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: `Question ${q}: ${text}?` }], { addGenerationPrompt: true });
}

beforeAll(async () => {
  setNumThreads(2);
  root = tempDir('spark-generate-batch-');
  const dirA = await tinyModel(root, { name: 'a', seed: 3, initRange: 0.25 });
  const dirB = await tinyModel(root, { name: 'b', seed: 11, initRange: 0.25 });
  tokenizer = LlamaTokenizer.load(dirA);
  a = await LlamaModel.load(dirA);
  b = await LlamaModel.load(dirB);
}, 120_000);

afterAll(() => {
  a?.dispose();
  b?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('batched generation over long prompts', () => {
  it('gives each left-padded row the greedy tokens it gets alone, with the log-probs of a full forward', async () => {
    const prompts = [prompt(1, 12), prompt(2, 260), prompt(3, 90), prompt(4, 610)];
    const lengths = prompts.map((p) => p.length);
    // Rows shorter than one chunk next to rows spanning several: padding crosses chunk boundaries.
    expect(Math.min(...lengths)).toBeLessThan(PREFILL_CHUNK_TOKENS);
    expect(Math.max(...lengths)).toBeGreaterThan(2 * PREFILL_CHUNK_TOKENS);
    const opts = { maxNewTokens: NEW_TOKENS, temperature: 0, stopTokenIds: [] };
    const together = await generate(a, tokenizer, prompts, opts);
    for (const [i, p] of prompts.entries()) {
      const [alone] = await generate(a, tokenizer, [p], opts);
      expect(together[i]!.tokens, `row ${i} (${p.length} prompt tokens)`).toEqual(alone!.tokens);
      expect(together[i]!.text).toBe(alone!.text);
      expect(together[i]!.promptTokens).toBe(p.length);
      const full = [...p, ...alone!.tokens];
      const teacherForced = await noGrad(() => tidy(async () => {
        const { logits } = await a.forward(Tensor.ids(full, [1, full.length]), { logitsToKeep: NEW_TOKENS + 1 });
        return tokenLogprobs(logits.narrow(1, 0, NEW_TOKENS), Tensor.ids(alone!.tokens, [1, NEW_TOKENS])).toArray();
      }));
      for (let j = 0; j < NEW_TOKENS; j++) {
        expect(Math.abs(together[i]!.logprobs[j]! - alone!.logprobs[j]!)).toBeLessThan(1e-4);
        expect(Math.abs(teacherForced[j]! - alone!.logprobs[j]!)).toBeLessThan(1e-4);
      }
    }
  }, 120_000);

  it('runs generations of two models at the same time, each as it runs alone', async () => {
    const prompts = [prompt(5, 300), prompt(6, 40), prompt(7, 150)];
    const opts = { maxNewTokens: NEW_TOKENS, temperature: 0, stopTokenIds: [] };
    const aloneA = await generate(a, tokenizer, prompts, opts);
    const aloneB = await generate(b, tokenizer, prompts, opts);
    // Interleaved: one batch per model plus single rows, all in flight together.
    const [batchA, batchB, ...singles] = await Promise.all([
      generate(a, tokenizer, prompts, opts),
      generate(b, tokenizer, prompts, opts),
      ...prompts.map((p) => generate(b, tokenizer, [p], opts)),
    ]);
    expect(batchA.map((g) => g.tokens)).toEqual(aloneA.map((g) => g.tokens));
    expect(batchB.map((g) => g.tokens)).toEqual(aloneB.map((g) => g.tokens));
    expect(singles.map(([g]) => g!.tokens)).toEqual(aloneB.map((g) => g.tokens));
    // Two different random models: the comparison above is not between equal outputs by construction.
    expect(aloneA.map((g) => g.tokens)).not.toEqual(aloneB.map((g) => g.tokens));
  }, 120_000);
});
