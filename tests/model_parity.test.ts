/**
 * Parity of the TypeScript/libtorch Llama with a straightforward PyTorch implementation
 * (tests/helpers/torch_reference.py) on the same tiny checkpoints: full forward, padded batches, cached
 * generation step by step, LoRA on and off, bf16 storage with untied embeddings. fp32, max |Δ| < 1e-4.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCheckpoint } from '../services/trainer/model/init.js';
import { LlamaModel } from '../services/trainer/model/llama.js';
import { createLora, saveLora } from '../services/trainer/model/lora.js';
import { Tensor, noGrad, tidy } from '../services/trainer/native/tensor.js';
import { setNumThreads } from '../services/trainer/native/index.js';
import { referenceLogits } from './helpers/torch-reference.js';

const TOL = 1e-4;
let root: string;
let fp32Dir: string;
let bf16Dir: string;

/** Deterministic pseudo-random token ids below `vocab`. */
function tokens(n: number, seed: number, vocab = 128_256): number[] {
  let s = seed;
  return Array.from({ length: n }, () => ((s = (s * 1_103_515_245 + 12_345) % 2 ** 31), s % vocab));
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  return tidy(() => a.sub(b).abs().amax().item());
}

beforeAll(async () => {
  setNumThreads(2);
  root = mkdtempSync(join(tmpdir(), 'spark-parity-'));
  fp32Dir = join(root, 'tiny-fp32');
  bf16Dir = join(root, 'tiny-bf16-untied');
  // A larger init scale than HF's 0.02 makes logits O(1), so an absolute 1e-4 is a tight check.
  await initCheckpoint(fp32Dir, { preset: 'tiny', dtype: 'float32', seed: 1, overrides: { initializer_range: 0.3 } });
  await initCheckpoint(bf16Dir, { preset: 'tiny', dtype: 'bfloat16', seed: 2, overrides: { initializer_range: 0.3, tie_word_embeddings: false, num_hidden_layers: 3 } });
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Llama parity with PyTorch', () => {
  it('full forward, fp32 checkpoint (GQA, tied embeddings, llama3 RoPE, 300 positions)', async () => {
    const model = await LlamaModel.load(fp32Dir);
    const ids = [tokens(300, 1), tokens(300, 2)];
    const { logits } = await noGrad(() => model.forward(Tensor.ids(ids.flat(), [2, 300])));
    const ref = await referenceLogits({ model: fp32Dir, ids });
    expect(logits.shape).toEqual([2, 300, 128_256]);
    expect(tidy(() => ref.abs().amax().item())).toBeGreaterThan(1);
    expect(maxAbsDiff(logits, ref)).toBeLessThan(TOL);
    model.dispose();
  });

  it('full forward, bf16 checkpoint with an untied lm_head, left-padded batch', async () => {
    const model = await LlamaModel.load(bf16Dir);
    const ids = [[0, 0, 0, ...tokens(9, 3)], tokens(12, 4)];
    const mask = [[0, 0, 0, ...Array(9).fill(1)], Array(12).fill(1)];
    const { logits } = await noGrad(() => model.forward(Tensor.ids(ids.flat(), [2, 12]), {
      attentionMask: Tensor.fromData(Uint8Array.from(mask.flat()), [2, 12], 'bool'),
    }));
    const ref = await referenceLogits({ model: bf16Dir, ids, attention_mask: mask });
    expect(maxAbsDiff(logits, ref)).toBeLessThan(TOL);
    model.dispose();
  });

  it('cached generation step by step equals the full forward at every position', async () => {
    const model = await LlamaModel.load(fp32Dir);
    // Two prompts of different lengths (left-padded), then 6 decode steps each.
    const prompts = [tokens(4, 5), tokens(7, 6)];
    const cont = [tokens(6, 7), tokens(6, 8)];
    const full = prompts.map((p, i) => [...p, ...cont[i]!]);
    const width = 7;
    const padded = prompts.map((p) => [...Array(width - p.length).fill(0), ...p]);
    const mask = prompts.map((p) => [...Array(width - p.length).fill(0), ...p.map(() => 1)]);
    const ref = await referenceLogits({ model: fp32Dir, ids: full.map((f, i) => [...Array(width - prompts[i]!.length).fill(0), ...f]), attention_mask: full.map((f, i) => [...Array(width - prompts[i]!.length).fill(0), ...f.map(() => 1)]) });
    const cache = model.newCache(2, 16);
    let worst = 0;
    await noGrad(() => tidy(async () => {
      const first = await model.step(cache, Tensor.ids(padded.flat(), [2, width]), {
        attentionMask: Tensor.fromData(Uint8Array.from(mask.flat()), [2, width], 'bool'), wantLogits: true,
      });
      worst = Math.max(worst, maxAbsDiff(first.logits!, ref.narrow(1, width - 1, 1).squeeze(1)));
      for (let s = 0; s < 6; s++) {
        const r = await model.step(cache, Tensor.ids([cont[0]![s]!, cont[1]![s]!], [2, 1]), { wantLogits: true });
        worst = Math.max(worst, maxAbsDiff(r.logits!, ref.narrow(1, width + s, 1).squeeze(1)));
      }
    }));
    expect(cache.length).toBe(width + 6);
    expect(worst).toBeLessThan(TOL);
    cache.dispose();
    model.dispose();
  });

  it('LoRA on all seven projections (PEFT files read by the reference), and adapters off = base', async () => {
    const model = await LlamaModel.load(fp32Dir);
    const lora = createLora(model, { rank: 4, alpha: 8, dropout: 0 });
    // PEFT starts B at zero (no effect); give B values so the adapters change the logits.
    noGrad(() => { for (const [name, t] of lora.tensors) if (name.includes('lora_B')) t.normal_(0, 0.2); });
    const adapterDir = join(root, 'adapter');
    await saveLora(adapterDir, lora, fp32Dir);
    const ids = [tokens(20, 9)];
    const on = await noGrad(() => model.forward(Tensor.ids(ids[0]!, [1, 20])));
    const off = await noGrad(() => model.forward(Tensor.ids(ids[0]!, [1, 20]), { adapters: false }));
    const refOn = await referenceLogits({ model: fp32Dir, ids, lora: adapterDir });
    const refOff = await referenceLogits({ model: fp32Dir, ids });
    expect(maxAbsDiff(on.logits, off.logits)).toBeGreaterThan(0.01);
    expect(maxAbsDiff(on.logits, refOn)).toBeLessThan(TOL);
    expect(maxAbsDiff(off.logits, refOff)).toBeLessThan(TOL);
    lora.dispose();
    model.dispose();
  });
});
