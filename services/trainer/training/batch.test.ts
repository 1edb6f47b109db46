/**
 * Batches of (context → completion) rows on a real tiny Llama (libtorch): the layout collate builds, the
 * completion log-probs of a padded batch against a plain full-sequence forward of each row alone, and the
 * entropy at the completion positions against the whole block's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCheckpoint } from '../model/init.js';
import { LlamaModel } from '../model/llama.js';
import { Tensor, noGrad, tidy } from '../native/tensor.js';
import { actionLogProbs, collate, completionEntropy, completionMatrix, completionValues, entropyFromLogits, toMatrix, type BatchRow } from './batch.js';

let root: string;
let model: LlamaModel;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'spark-batch-'));
  await initCheckpoint(join(root, 'tiny'), { preset: 'tiny', dtype: 'float32', seed: 5, overrides: { initializer_range: 0.2 } });
  model = await LlamaModel.load(join(root, 'tiny'));
}, 120_000);

afterAll(() => {
  model?.dispose();
  rmSync(root, { recursive: true, force: true });
});

const ROWS: BatchRow[] = [
  { contextIds: [5, 6, 7], completionIds: [8, 9] },
  { contextIds: [10], completionIds: [11, 12, 13] },
  { contextIds: [20, 21, 22, 23, 24, 25], completionIds: [26] },
];

describe('collate', () => {
  it('left-pads each row without its last token and right-aligns the completions', () => tidy(() => {
    const b = collate(ROWS);
    expect(b.ids.shape).toEqual([3, 6]);
    expect(b.ids.toArray()).toEqual([0, 0, 5, 6, 7, 8, /**/ 0, 0, 0, 10, 11, 12, /**/ 20, 21, 22, 23, 24, 25]);
    expect(b.attentionMask!.toArray()).toEqual([0, 0, 1, 1, 1, 1, /**/ 0, 0, 0, 1, 1, 1, /**/ 1, 1, 1, 1, 1, 1]);
    expect(b.targets.toArray()).toEqual([0, 8, 9, /**/ 11, 12, 13, /**/ 0, 0, 26]);
    expect(Array.from(b.responseMask.data)).toEqual([0, 1, 1, 1, 1, 1, 0, 0, 1]);
    expect(b.completionLengths).toEqual([2, 3, 1]);
    expect(b.rowLengths).toEqual([4, 3, 6]);
    expect(b.tokens).toBe(5 + 4 + 7);
    // Rows of one length need no mask.
    expect(collate([ROWS[0]!, { contextIds: [1, 2], completionIds: [3, 4, 5] }]).attentionMask).toBeUndefined();
  }));

  it('rejects a row without completion tokens', () => {
    expect(() => collate([{ contextIds: [1], completionIds: [] }])).toThrow(/row 0/);
  });
});

describe('actionLogProbs', () => {
  it('gives each completion token the log-prob a full forward of its row alone gives it', async () => {
    const batched = await noGrad(() => tidy(async () => toMatrix((await actionLogProbs(model, collate(ROWS))).logProb.to('float32'))));
    for (const [r, row] of ROWS.entries()) {
      const full = [...row.contextIds, ...row.completionIds];
      const alone = await noGrad(() => tidy(async () => {
        const { logits } = await model.forward(Tensor.ids(full, [1, full.length]));
        // Position t predicts token t + 1.
        const logp = logits.logSoftmax(2).toArray();
        const vocab = logits.shape[2]!;
        return row.completionIds.map((tok, j) => logp[(row.contextIds.length - 1 + j) * vocab + tok]!);
      }));
      const a = batched.respLen, c = row.completionIds.length;
      const got = Array.from(batched.data.subarray(r * a + a - c, (r + 1) * a));
      got.forEach((x, j) => expect(x).toBeCloseTo(alone[j]!, 4));
    }
  });
});

describe('completionEntropy', () => {
  it('equals the whole block\'s entropy at the completion positions, gradient included', async () => {
    // Rows longer than one chunk of positions, and a row of one.
    const lengths = [30, 1, 13];
    const a = 30, vocab = 50;
    const z = Tensor.randn([3, a, vocab]).mul(2).setRequiresGrad(true);
    const mask = { batch: 3, respLen: a, data: new Float32Array(3 * a) };
    lengths.forEach((c, r) => mask.data.fill(1, r * a + a - c, (r + 1) * a));
    const w = completionValues({ ...mask, data: mask.data.map((m, i) => m * (1 + (i % 7))) }, lengths);

    const rows = completionEntropy(z, lengths);
    expect(rows.shape).toEqual([31 + 13]);
    const whole = noGrad(() => toMatrix(entropyFromLogits(z)));
    const got = completionMatrix(rows.detach().data() as Float32Array, lengths, a);
    got.data.forEach((x, i) => expect(x).toBeCloseTo(mask.data[i]! ? whole.data[i]! : 0, 5));

    await rows.mul(Tensor.fromData(w, [w.length])).sum().backward();
    const gRows = z.grad!.toArray();
    const z2 = z.detach().clone().setRequiresGrad(true);
    const wFull = completionMatrix(w, lengths, a);
    await entropyFromLogits(z2).mul(Tensor.fromData(wFull.data, [3, a])).sum().backward();
    const gWhole = z2.grad!.toArray();
    gRows.forEach((g, i) => expect(g).toBeCloseTo(gWhole[i]!, 5));
    for (const t of [z, z2, rows]) t.dispose();
  });
});

describe('completionMatrix / completionValues', () => {
  it('place the completion values right-aligned and read them back', () => {
    const m = completionMatrix(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3, 1], 3);
    expect(Array.from(m.data)).toEqual([0, 1, 2, 3, 4, 5, 0, 0, 6]);
    expect(Array.from(completionValues(m, [2, 3, 1]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => completionMatrix(Float32Array.from([1, 2]), [2, 3, 1], 3)).toThrow(/expected 6 values, got 2/);
  });
});
