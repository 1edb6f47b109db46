/**
 * Activation checkpointing (LlamaModel.setActivationCheckpointing): a training forward + backward with
 * it on gives the same loss and the same LoRA gradients as with it off — the blocks are run again in the
 * backward with the random state of their forward, so LoRA dropout draws the same masks — also for the
 * first block, whose input (the frozen embedding) needs no gradient.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, manualSeed, noGrad, tidy, tokenLogprobs } from '../native/tensor.js';
import { initCheckpoint } from './init.js';
import { LlamaModel } from './llama.js';
import { createLora, peftKey } from './lora.js';

let root: string;
let dir: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'spark-ckpt-'));
  dir = join(root, 'tiny');
  await initCheckpoint(dir, { preset: 'tiny', dtype: 'float32', seed: 3, overrides: { initializer_range: 0.2 } });
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Loss and LoRA gradients of one training step (dropout on), with checkpointing on or off. */
async function step(checkpointing: boolean, seed: number, padded: boolean) {
  const model = await LlamaModel.load(dir);
  manualSeed(7);
  const lora = createLora(model, { rank: 4, alpha: 8, dropout: 0.3 });
  // PEFT starts B at zero, which makes every A gradient zero: give B values so both get gradients.
  noGrad(() => { for (const [key, t] of lora.tensors) if (key.endsWith('lora_B.weight')) t.uniform_(-0.2, 0.2); });
  model.setActivationCheckpointing(checkpointing);
  const b = 2, t = 20, a = 5;
  const ids = Tensor.randint(0, 128_256, [b, t]);
  const targets = Tensor.randint(0, 128_256, [b, a]);
  const mask = padded ? Tensor.fromData(Uint8Array.from([...Array(4).fill(0), ...Array(t - 4).fill(1), ...Array(t).fill(1)]), [b, t], 'bool') : undefined;
  manualSeed(seed);
  const loss = await tidy(async () => {
    const { logits } = await model.forward(ids, { training: true, attentionMask: mask, logitsToKeep: a + 1 });
    return tokenLogprobs(logits.narrow(1, 0, a), targets).mean().neg();
  });
  await loss.backward();
  const grads = new Map([...lora.tensors].map(([k, v]) => [k, v.grad!.toArray()]));
  const value = loss.item();
  for (const x of [loss, ids, targets, mask]) x?.dispose();
  lora.dispose();
  model.dispose();
  return { value, grads };
}

const maxDiff = (x: number[], y: number[]) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
const maxAbs = (x: number[]) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('activation checkpointing', () => {
  for (const padded of [false, true]) {
    it(`gives the loss and LoRA gradients of the plain backward, dropout on (${padded ? 'padded' : 'unpadded'} batch)`, async () => {
      const plain = await step(false, 21, padded);
      const ckpt = await step(true, 21, padded);
      expect(ckpt.value).toBeCloseTo(plain.value, 6);
      expect(ckpt.grads.size).toBe(plain.grads.size);
      let worst = 0;
      for (const [key, g] of plain.grads) worst = Math.max(worst, maxDiff(g, ckpt.grads.get(key)!) / (maxAbs(g) + 1e-12));
      expect(worst).toBeLessThan(1e-5);
      // The first block's adapters get gradients too, and they are not zero.
      expect(maxAbs(ckpt.grads.get(peftKey(0, 'q_proj', 'A'))!)).toBeGreaterThan(0);
      // Another dropout draw gives other gradients: the equality above is the replayed masks, not luck.
      const other = await step(true, 22, padded);
      expect(maxDiff(other.grads.get(peftKey(1, 'down_proj', 'B'))!, plain.grads.get(peftKey(1, 'down_proj', 'B'))!)).toBeGreaterThan(1e-6);
    }, 120_000);
  }
});
