/**
 * LoRA SFT that also trains the embedding matrix in full (PEFT `modules_to_save`), on tiny random Llama
 * checkpoints on the CPU (real config.json, safetensors, the Llama-3.1 tokenizer):
 *
 * - the run changes the embedding, and the adapter carries it under PEFT's key with `modules_to_save`
 *   (and, on the tied model, `ensure_weight_tying`) in adapter_config.json, with its AdamW moments;
 *   the caller's model and the base file keep the base matrix;
 * - a run cut mid-way and resumed ends with the same adapter and optimiser bytes as an uninterrupted one;
 * - merge writes the trained matrix in place of the base's (both matrices of an untied model);
 * - on an NF4 base the embedding stays dense and trains the same way;
 * - Generate with the adapter differs from the base, while the base served from the same cache, and a
 *   model the adapter was attached to and detached from, stay exactly the base.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCheckpoint } from '../services/trainer/model/init.js';
import { LlamaModel } from '../services/trainer/model/llama.js';
import { createLora, loadLora } from '../services/trainer/model/lora.js';
import { loadTensor, openCheckpoint, readSafetensors, readSafetensorsHeader } from '../services/trainer/model/safetensors.js';
import { setNumThreads } from '../services/trainer/native/index.js';
import { Tensor, noGrad, tidy, tokenLogprobs } from '../services/trainer/native/tensor.js';
import { adapterConfigSchema, loraTensorShapes, savedModuleKey, type LlamaShape } from '../services/trainer/peft.js';
import { parseTrainingSpec, type TrainingSpecInput } from '../services/trainer/spec.js';
import { readTrainerState } from '../services/trainer/training/checkpoint.js';
import { streamGeneration } from '../services/trainer/training/generation.js';
import { mergeAdapter } from '../services/trainer/training/merge.js';
import { PolicyCache } from '../services/trainer/training/model-cache.js';
import { runTraining } from '../services/trainer/training/trainer.js';
import { tempDir } from './helpers/service.js';
import { contextFor, step, tinyModel, writeSteps } from './helpers/trainer-fixtures.js';

const EMBED = 'model.embed_tokens.weight';
const HEAD = 'lm_head.weight';
const IDS = [128000, 9906, 1917, 11, 1268, 527, 499];

let root: string;
let tied: string; // the tiny preset: lm_head is embed_tokens
let untied: string;
let data: string;
let trained: string; // final/ of the first SFT run (tied model)

beforeAll(async () => {
  setNumThreads(2);
  root = tempDir('spark-mts-');
  tied = await tinyModel(root, { name: 'tied' });
  untied = join(root, 'untied'); // the tiny preset with its own lm_head in the file
  await initCheckpoint(untied, { preset: 'tiny', seed: 4, dtype: 'float32', overrides: { initializer_range: 0.5, tie_word_embeddings: false } });
  data = writeSteps(join(root, 'sft.jsonl'), ['calculator', 'python', 'chemistry', 'finance'].map((a, q) => step(q, a, { correctness: 1 })));
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

function spec(name: string, base: string, modulesToSave: string[], hyper: NonNullable<TrainingSpecInput['hyper']>, resume = false) {
  return parseTrainingSpec({
    mode: 'sft', data, baseModelPath: base, outDir: join(root, 'runs', name), resume,
    lora: { rank: 4, alpha: 8, dropout: 0.1, modulesToSave }, hyper: { lr: 5e-3, batchSize: 2, gradAccum: 2, warmupSteps: 0, ...hyper },
  });
}

/** A base weight as stored in a model folder. */
const fileWeight = async (dir: string, name: string) => loadTensor(openCheckpoint(dir).get(name)!);
const maxDiff = (a: Tensor, b: Tensor) => noGrad(() => tidy(() => a.to('float32').sub(b.to('float32')).abs().amax().item()));

/** Last-two-position logits of a model folder, with an adapter attached when given. */
async function logits(dir: string, adapter?: string): Promise<number[]> {
  const m = await LlamaModel.load(dir);
  try {
    const lora = adapter ? await loadLora(adapter, m) : undefined;
    const out = await noGrad(() => tidy(async () => (await m.forward(Tensor.ids(IDS, [1, IDS.length]), { logitsToKeep: 2 })).logits.toArray()));
    lora?.dispose();
    return out;
  } finally {
    m.dispose();
  }
}
const maxDiffArr = (x: number[], y: number[]) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);

describe('modules_to_save: embed_tokens', () => {
  it('an SFT run trains the embedding and saves it under PEFT\'s key; the caller\'s model keeps the base matrix', async () => {
    const s = spec('tied', tied, ['embed_tokens'], { maxSteps: 3, saveEvery: 100 });
    const shared = await LlamaModel.load(tied);
    try {
      const result = await runTraining(s, { model: shared });
      trained = result.finalDir;
      // The run trained a private copy: the model it was handed has its base matrix back.
      expect(maxDiff(shared.weight(EMBED), await fileWeight(tied, EMBED))).toBe(0);
    } finally {
      shared.dispose();
    }
    const config = JSON.parse(readFileSync(join(trained, 'adapter_config.json'), 'utf8'));
    expect(adapterConfigSchema.safeParse(config).success).toBe(true);
    expect(config).toMatchObject({ modules_to_save: ['embed_tokens'], ensure_weight_tying: true, r: 4, base_model_name_or_path: tied });
    const hf = JSON.parse(readFileSync(join(tied, 'config.json'), 'utf8')) as LlamaShape;
    const header = readSafetensorsHeader(join(trained, 'adapter_model.safetensors'));
    const want = loraTensorShapes(hf, 4, config.target_modules, ['embed_tokens']);
    expect([...header.entries.keys()].sort()).toEqual([...want.keys()].sort());
    expect(header.entries.get('base_model.model.model.embed_tokens.weight')).toMatchObject({ dtype: 'float32', shape: [128_256, 64] });
    const optimizer = readSafetensorsHeader(join(trained, 'optimizer.safetensors'));
    expect(optimizer.entries.get(`${savedModuleKey('embed_tokens')}.exp_avg_sq`)?.shape).toEqual([128_256, 64]);
    const saved = (await readSafetensors(join(trained, 'adapter_model.safetensors'))).get(savedModuleKey('embed_tokens'))!;
    expect(maxDiff(saved, await fileWeight(tied, EMBED))).toBeGreaterThan(1e-3);
  }, 120_000);

  it('a run cut mid-way and resumed ends with the same adapter and optimiser state', async () => {
    const whole = spec('whole', tied, ['embed_tokens'], { maxSteps: 4, saveEvery: 2 });
    await runTraining(whole);
    const parts = spec('parts', tied, ['embed_tokens'], { maxSteps: 4, saveEvery: 2 });
    const controller = new AbortController();
    await expect(runTraining(parts, { signal: controller.signal, onStep: (n) => { if (n === 3) controller.abort(new Error('cut')); } })).rejects.toThrow('cut');
    expect(readTrainerState(join(parts.outDir, 'checkpoint-3')).step).toBe(3);
    const resumed = await runTraining(spec('parts', tied, ['embed_tokens'], { maxSteps: 4, saveEvery: 2 }, true));
    expect(resumed.resumedFrom).toBe(3);
    const bytes = (s: { outDir: string }, f: string) => readFileSync(join(s.outDir, 'final', f));
    expect(bytes(parts, 'adapter_model.safetensors').equals(bytes(whole, 'adapter_model.safetensors'))).toBe(true);
    expect(bytes(parts, 'optimizer.safetensors').equals(bytes(whole, 'optimizer.safetensors'))).toBe(true);
  }, 120_000);

  it('merge writes the trained embedding in place of the base\'s; its logits equal base + adapter', async () => {
    const merged = join(root, 'merged-tied');
    const r = await mergeAdapter(tied, trained, merged);
    expect(r.replacedTensors).toEqual([EMBED]);
    expect(r.mergedTensors).toBe(2 * 7);
    const saved = (await readSafetensors(join(trained, 'adapter_model.safetensors'))).get(savedModuleKey('embed_tokens'))!;
    expect(maxDiff(await fileWeight(merged, EMBED), saved)).toBe(0);
    expect(openCheckpoint(merged).has(HEAD)).toBe(false); // still tied, as config.json says
    const withAdapter = await logits(tied, trained);
    expect(maxDiffArr(await logits(merged), withAdapter)).toBeLessThan(1e-4);
    expect(maxDiffArr(await logits(tied), withAdapter)).toBeGreaterThan(1e-3);
  }, 120_000);

  it('Generate with the adapter differs from the base; the base from the same cache, and a model the adapter left, stay the base', async () => {
    const cache = new PolicyCache(4, { device: 'cpu' });
    const sampling = { maxTokens: 4, temperature: 0, topP: 0, topK: 0, stop: [], seed: 0 };
    const conversations = [contextFor(0), contextFor(1)];
    const run = async (adapterPath?: string) => {
      const { policy, release } = await cache.acquire({ baseModelPath: tied, adapterPath });
      try {
        const out: Array<[number, number, number]> = [];
        for await (const r of streamGeneration(policy, conversations, sampling)) out.push([r.index, r.tokenId, r.logprob]);
        return out;
      } finally {
        release();
      }
    };
    try {
      const base = await run();
      const adapted = await run(trained);
      expect(adapted).not.toEqual(base);
      expect(await run()).toEqual(base);
      expect(cache.loads).toBe(2); // the second base call was served by the cached base
      const { policy, release } = await cache.acquire({ baseModelPath: tied });
      try {
        expect(maxDiff(policy.model.weight(EMBED), await fileWeight(tied, EMBED))).toBe(0);
      } finally {
        release();
      }
    } finally {
      cache.clear();
    }
    // One model instance: attaching the adapter changes its outputs, disposing it restores them exactly.
    const m = await LlamaModel.load(tied);
    try {
      const ids = Tensor.ids(IDS, [1, IDS.length]);
      const out = () => noGrad(() => tidy(async () => (await m.forward(ids, { logitsToKeep: 1 })).logits.toArray()));
      const before = await out();
      const lora = await loadLora(trained, m);
      expect(maxDiffArr(await out(), before)).toBeGreaterThan(1e-3);
      lora.dispose();
      expect(await out()).toEqual(before);
    } finally {
      m.dispose();
    }
  }, 120_000);
});

describe('modules_to_save on an NF4 base', () => {
  it('the embedding stays dense and gets its gradient next to the LoRA matrices', async () => {
    const m = await LlamaModel.load(tied, { quantization: 'nf4' });
    try {
      const lora = createLora(m, { rank: 4, alpha: 8, dropout: 0, modulesToSave: ['embed_tokens'] });
      const embed = lora.tensors.get(savedModuleKey('embed_tokens'))!;
      expect(embed).toMatchObject({ requiresGrad: true, dtype: 'float32', shape: [128_256, 64] });
      const ids = Tensor.ids(IDS, [1, IDS.length]);
      const loss = await tidy(async () => {
        const { logits } = await m.forward(ids.narrow(1, 0, 6), { training: true });
        return tokenLogprobs(logits, ids.narrow(1, 1, 6)).mean().neg();
      });
      await loss.backward();
      const gradNorm = (t: Tensor) => noGrad(() => tidy(() => t.grad!.abs().amax().item()));
      expect(gradNorm(embed)).toBeGreaterThan(0);
      expect(gradNorm(lora.tensors.get('base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight')!)).toBeGreaterThan(0);
      lora.dispose();
      expect(maxDiff(m.weight(EMBED), await fileWeight(tied, EMBED))).toBe(0);
    } finally {
      m.dispose();
    }
  }, 60_000);
});

describe('modules_to_save: embed_tokens and lm_head on an untied model', () => {
  it('trains and saves both matrices; merge replaces both', async () => {
    const s = spec('untied', untied, ['lm_head', 'embed_tokens'], { maxSteps: 2, saveEvery: 100 });
    const { finalDir } = await runTraining(s);
    const config = JSON.parse(readFileSync(join(finalDir, 'adapter_config.json'), 'utf8'));
    expect(config.modules_to_save).toEqual(['embed_tokens', 'lm_head']);
    expect(config).not.toHaveProperty('ensure_weight_tying');
    const saved = await readSafetensors(join(finalDir, 'adapter_model.safetensors'));
    expect(saved.get('base_model.model.lm_head.weight')?.shape).toEqual([128_256, 64]);
    expect(maxDiff(saved.get(savedModuleKey('lm_head'))!, await fileWeight(untied, HEAD))).toBeGreaterThan(1e-3);
    expect(maxDiff(saved.get(savedModuleKey('embed_tokens'))!, await fileWeight(untied, EMBED))).toBeGreaterThan(1e-4);
    const merged = join(root, 'merged-untied');
    const r = await mergeAdapter(untied, finalDir, merged);
    expect(r.replacedTensors.sort()).toEqual([HEAD, EMBED].sort());
    expect(maxDiff(await fileWeight(merged, HEAD), saved.get(savedModuleKey('lm_head'))!)).toBe(0);
    expect(maxDiffArr(await logits(merged), await logits(untied, finalDir))).toBeLessThan(1e-4);
  }, 120_000);
});
