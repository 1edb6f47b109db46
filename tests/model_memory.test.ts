/**
 * Deterministic freeing: 1,000 LoRA training steps (forward, fused log-prob loss, backward off the JS
 * thread, AdamW) on a tiny checkpoint keep the process RSS flat. Each step allocates ~40 MB of logits and
 * gradients, so a leak of even one tensor per step would show within a few dozen steps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { initCheckpoint } from '../services/trainer/model/init.js';
import { LlamaModel } from '../services/trainer/model/llama.js';
import { createLora } from '../services/trainer/model/lora.js';
import { setNumThreads } from '../services/trainer/native/index.js';
import { AdamW, clipGradNorm } from '../services/trainer/native/optim.js';
import { Tensor, keep, tidy, tokenLogprobs } from '../services/trainer/native/tensor.js';

let root: string;
beforeAll(async () => {
  setNumThreads(2);
  root = mkdtempSync(join(tmpdir(), 'spark-rss-'));
  await initCheckpoint(join(root, 'tiny'), { preset: 'tiny', seed: 5 });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('RSS stays flat over 1,000 training steps', async () => {
  const model = await LlamaModel.load(join(root, 'tiny'));
  const lora = createLora(model, { rank: 8, alpha: 16, dropout: 0.05 });
  const opt = new AdamW(lora.parameters(), { lr: 1e-3 });
  const ids = keep(Tensor.randint(0, 128_256, [2, 17]));
  const rss: number[] = [];
  for (let step = 0; step < 1000; step++) {
    const loss = await tidy(async () => {
      const { logits } = await model.forward(ids.narrow(1, 0, 16), { training: true });
      return tokenLogprobs(logits, ids.narrow(1, 1, 16)).mean().neg();
    });
    await loss.backward();
    loss.dispose();
    clipGradNorm(lora.parameters(), 1);
    await opt.step();
    opt.zeroGrad();
    if (step % 100 === 99) rss.push(process.memoryUsage().rss);
  }
  const growthMb = (rss.at(-1)! - rss[0]!) / 2 ** 20;
  expect(growthMb).toBeLessThan(24);
  ids.dispose();
  lora.dispose();
  model.dispose();
}, 600_000);
