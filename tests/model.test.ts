/**
 * The policy model end to end on a tiny checkpoint written by `initCheckpoint` (real config.json,
 * safetensors and Llama-3.1 tokenizer): it loads, generates text with the real tokenizer, trains a LoRA
 * that overfits 32 examples, saves it in PEFT format and reloads it bit-identically; generation honours
 * batching, stop strings and max tokens and reports the model's own log-probs; QLoRA (NF4) loads and
 * trains; long calls leave the event loop free; bad input is a JS error, never an abort.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generate } from '../services/trainer/model/generate.js';
import { initCheckpoint } from '../services/trainer/model/init.js';
import { LlamaModel } from '../services/trainer/model/llama.js';
import { createLora, loadLora, saveLora, type LoraAdapter } from '../services/trainer/model/lora.js';
import { readSafetensorsHeader } from '../services/trainer/model/safetensors.js';
import { LlamaTokenizer } from '../services/trainer/model/tokenizer.js';
import { setNumThreads } from '../services/trainer/native/index.js';
import { AdamW } from '../services/trainer/native/optim.js';
import { Tensor, manualSeed, noGrad, tidy, tokenLogprobs } from '../services/trainer/native/tensor.js';

let root: string;
let dir: string;
let hfInitDir: string;
let tokenizer: LlamaTokenizer;

const LETTERS = 'ABCDEFGHIJ';

/** 32 (prompt, action) pairs: each question number has its own answer letter, ended by <|eot_id|>. */
function examples() {
  return Array.from({ length: 32 }, (_, i) => ({
    prompt: tokenizer.encode(`<|begin_of_text|>Question ${i + 1}:`),
    action: tokenizer.encode(`the answer is (${LETTERS[(i * 3) % 10]})<|eot_id|>`),
  }));
}

/**
 * Left-pads prompt+action rows so they all end at the same position; the actions are then predicted by
 * the last `k` logits (logitsToKeep), with a mask for shorter actions.
 */
function batch(rows: Array<{ prompt: number[]; action: number[] }>) {
  const len = Math.max(...rows.map((r) => r.prompt.length + r.action.length));
  const a = Math.max(...rows.map((r) => r.action.length));
  const ids: number[] = [], mask: number[] = [], targets: number[] = [], tmask: number[] = [];
  for (const r of rows) {
    const seq = [...r.prompt, ...r.action];
    ids.push(...Array(len - seq.length).fill(0), ...seq);
    mask.push(...Array(len - seq.length).fill(0), ...seq.map(() => 1));
    // logits at positions len-a-1 .. len-2 predict the last a tokens
    const last = seq.slice(-a - 1);
    for (let j = 0; j < a; j++) {
      const isAction = j >= a - r.action.length;
      targets.push(isAction ? last[j + 1]! : 0);
      tmask.push(isAction ? 1 : 0);
    }
  }
  const b = rows.length;
  return {
    ids: Tensor.ids(ids, [b, len]),
    attentionMask: Tensor.fromData(Uint8Array.from(mask), [b, len], 'bool'),
    targets: Tensor.ids(targets, [b, a]),
    targetMask: Tensor.fromData(Float32Array.from(tmask), [b, a]),
    keep: a + 1,
  };
}

/** Mean negative log-likelihood of the action tokens. */
async function actionLoss(model: LlamaModel, bt: ReturnType<typeof batch>, training: boolean): Promise<Tensor> {
  return tidy(async () => {
    const { logits } = await model.forward(bt.ids, { attentionMask: bt.attentionMask, logitsToKeep: bt.keep, training });
    const k = bt.keep - 1;
    const lp = tokenLogprobs(logits.narrow(1, 0, k), bt.targets);
    return lp.mul(bt.targetMask).sum().neg().div(bt.targetMask.sum());
  });
}

beforeAll(async () => {
  setNumThreads(2);
  root = mkdtempSync(join(tmpdir(), 'spark-model-'));
  dir = join(root, 'tiny');
  // initializer_range 0.5: with a frozen tied embedding, logits are bounded by |E_t|·√hidden, and HF's
  // 0.02 would cap them far below what a memorised token needs in a 128k vocabulary.
  await initCheckpoint(dir, { preset: 'tiny', seed: 3, overrides: { initializer_range: 0.5 } });
  hfInitDir = join(root, 'tiny-hf-init');
  await initCheckpoint(hfInitDir, { preset: 'tiny', seed: 4 });
  tokenizer = LlamaTokenizer.load(dir);
}, 120_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('tiny checkpoint', () => {
  it('is written in the real formats with the Llama-3.1 tokenizer', () => {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ model_type: 'llama', vocab_size: 128_256, num_key_value_heads: 2, rope_scaling: { rope_type: 'llama3' } });
    const header = readSafetensorsHeader(join(dir, 'model.safetensors'));
    expect(header.entries.get('model.layers.1.self_attn.k_proj.weight')).toMatchObject({ dtype: 'bfloat16', shape: [32, 64] });
    expect(tokenizer.tokenId('<|eom_id|>')).toBe(128_008);
    expect(tokenizer.tokenId('<|python_tag|>')).toBe(128_010);
    expect(tokenizer.stopIds).toEqual([128_001, 128_008, 128_009]);
    const ids = tokenizer.encodeChat([{ role: 'user', content: 'Hello world' }], { addGenerationPrompt: true });
    expect(ids[0]).toBe(128_000);
    expect(tokenizer.decode(ids)).toContain('<|start_header_id|>user<|end_header_id|>\n\nHello world<|eot_id|>');
  });
});

describe('generation', () => {
  let model: LlamaModel;
  beforeAll(async () => { model = await LlamaModel.load(dir); });
  afterAll(() => model.dispose());

  it('generates text with the real tokenizer, within max tokens, with log-probs', async () => {
    const prompt = tokenizer.encodeChat([{ role: 'user', content: 'Say something.' }], { addGenerationPrompt: true });
    const [g] = await generate(model, tokenizer, [prompt], { maxNewTokens: 12, temperature: 0.8, topP: 0.95, topK: 50, seed: 7 });
    expect(g!.tokens.length).toBeGreaterThan(0);
    expect(g!.tokens.length).toBeLessThanOrEqual(12);
    expect(g!.logprobs).toHaveLength(g!.tokens.length);
    for (const lp of g!.logprobs) expect(lp).toBeLessThanOrEqual(0);
    expect(typeof g!.text).toBe('string');
    expect(g!.text.length).toBeGreaterThan(0);
    // Same seed, same sample.
    const [again] = await generate(model, tokenizer, [prompt], { maxNewTokens: 12, temperature: 0.8, topP: 0.95, topK: 50, seed: 7 });
    expect(again!.tokens).toEqual(g!.tokens);
  });

  it('batched greedy generation with left padding equals one prompt at a time, and log-probs equal the forward pass', async () => {
    const prompts = [tokenizer.encode('<|begin_of_text|>The capital of France'), tokenizer.encode('<|begin_of_text|>One two three four five six seven')];
    const together = await generate(model, null, prompts, { maxNewTokens: 8, temperature: 0, stopTokenIds: [] });
    for (const [i, p] of prompts.entries()) {
      const [alone] = await generate(model, null, [p], { maxNewTokens: 8, temperature: 0, stopTokenIds: [] });
      expect(together[i]!.tokens).toEqual(alone!.tokens);
      expect(together[i]!.finishReason).toBe('length');
      for (let j = 0; j < 8; j++) expect(Math.abs(together[i]!.logprobs[j]! - alone!.logprobs[j]!)).toBeLessThan(1e-4);
      // Teacher-forced log-probs of the generated tokens from one full forward.
      const full = [...p, ...alone!.tokens];
      const lp = await noGrad(() => tidy(async () => {
        const { logits } = await model.forward(Tensor.ids(full, [1, full.length]), { logitsToKeep: 9 });
        return tokenLogprobs(logits.narrow(1, 0, 8), Tensor.ids(alone!.tokens, [1, 8])).toArray();
      }));
      for (let j = 0; j < 8; j++) expect(Math.abs(lp[j]! - alone!.logprobs[j]!)).toBeLessThan(1e-4);
    }
  });

  it('stops at stop strings and stop tokens', async () => {
    const prompt = tokenizer.encode('<|begin_of_text|>Counting:');
    const [free] = await generate(model, tokenizer, [prompt], { maxNewTokens: 10, temperature: 0, stopTokenIds: [] });
    const stop = free!.text.slice(Math.floor(free!.text.length / 2), Math.floor(free!.text.length / 2) + 2);
    const [cut] = await generate(model, tokenizer, [prompt], { maxNewTokens: 10, temperature: 0, stopTokenIds: [], stop: [stop] });
    expect(cut!.finishReason).toBe('stop');
    expect(cut!.text).toBe(free!.text.slice(0, free!.text.indexOf(stop)));
    expect(cut!.tokens.length).toBeLessThan(free!.tokens.length + 1);
    const third = free!.tokens[2]!;
    const [byToken] = await generate(model, tokenizer, [prompt], { maxNewTokens: 10, temperature: 0, stopTokenIds: [third] });
    expect(byToken!.tokens.at(-1)).toBe(third);
    expect(byToken!.finishReason).toBe('stop');
    expect(byToken!.text).toBe(tokenizer.decode(byToken!.tokens.slice(0, -1)));
    // A row that stops at its very first token has no text (not a tokenizer error).
    const [first] = await generate(model, tokenizer, [prompt], { maxNewTokens: 10, temperature: 0, stopTokenIds: [free!.tokens[0]!] });
    expect(first).toMatchObject({ tokens: [free!.tokens[0]], finishReason: 'stop', text: '' });
  });

  it('keeps the event loop free during a long forward, and reports bad input as errors', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await noGrad(() => tidy(() => model.forward(Tensor.randint(0, 128_256, [8, 256]))));
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    await expect(tidy(() => model.forward(Tensor.zeros([1, 4])))).rejects.toThrow(/input ids must be int64/);
    await expect(tidy(() => model.forward(Tensor.ids([1, 2, 3], [1, 3]), { attentionMask: Tensor.ones([2, 3], 'bool') }))).rejects.toThrow(/attention mask \[2, 3\] must match input ids \[1, 3\]/);
    await expect(tidy(() => model.forward(Tensor.ids([128_256], [1, 1])))).rejects.toThrow(/index out of range/i);
    const cache = model.newCache(1, 4);
    await expect(tidy(() => model.step(cache, Tensor.ids([1, 2, 3, 4, 5], [1, 5])))).rejects.toThrow(/KV cache full: 0 \+ 5 tokens > capacity 4/);
    cache.dispose();
  });
});

describe('LoRA training', () => {
  it('overfits 32 examples (loss falls > 90 %), then saves and reloads bit-identically in PEFT format', async () => {
    const model = await LlamaModel.load(dir);
    manualSeed(11);
    const lora = createLora(model, { rank: 8, alpha: 16, dropout: 0 });
    const opt = new AdamW(lora.parameters(), { lr: 1e-2, weightDecay: 0 });
    const data = examples();
    const bt = batch(data);
    let first = NaN, last = NaN;
    // 200 steps: at 160 the memorisation was at the edge (≥ 28 of 32 answers back before the LoRA parts
    // were added into the base GEMM's output in place, 27 after: the same maths, other rounding; 31 at 200).
    for (let step = 0; step < 200; step++) {
      const loss = await actionLoss(model, bt, true);
      last = loss.item();
      if (step === 0) first = last;
      await loss.backward();
      loss.dispose();
      await opt.step();
      opt.zeroGrad();
    }
    expect(first).toBeGreaterThan(5);
    expect(last).toBeLessThan(first * 0.1);

    // The memorised answers come back from greedy generation.
    const outs = await generate(model, tokenizer, data.map((d) => d.prompt), { maxNewTokens: 10, temperature: 0 });
    const right = outs.filter((o, i) => o.text === `the answer is (${LETTERS[(i * 3) % 10]})`).length;
    expect(right).toBeGreaterThanOrEqual(28);
    expect(outs.every((o) => o.finishReason === 'stop')).toBe(true);

    const out = join(root, 'adapter');
    await saveLora(out, lora, dir);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] });
    const keys = [...readSafetensorsHeader(join(out, 'adapter_model.safetensors')).entries.keys()];
    expect(keys).toContain('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(keys).toContain('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight');
    expect(keys).toHaveLength(2 * 7 * 2);

    const model2 = await LlamaModel.load(dir);
    const lora2: LoraAdapter = await loadLora(out, model2);
    for (const [name, t] of lora.tensors) expect(t.equal(lora2.tensors.get(name)!)).toBe(true);
    const [a, b] = await noGrad(() => Promise.all([
      tidy(() => model.forward(bt.ids, { attentionMask: bt.attentionMask })),
      tidy(() => model2.forward(bt.ids, { attentionMask: bt.attentionMask })),
    ]));
    expect(a!.logits.equal(b!.logits)).toBe(true);
    // Adapters off gives back the base model.
    const base = await LlamaModel.load(dir);
    const [off, orig] = await noGrad(() => Promise.all([
      tidy(() => model2.forward(bt.ids, { attentionMask: bt.attentionMask, adapters: false })),
      tidy(() => base.forward(bt.ids, { attentionMask: bt.attentionMask })),
    ]));
    expect(off!.logits.equal(orig!.logits)).toBe(true);
    for (const m of [model, model2, base]) m.dispose();
  }, 300_000);

  it('QLoRA: NF4 base weights (double-quantised) take ~4.1 bits per linear weight, compute exactly the dequantised model, and train', async () => {
    const dense = await LlamaModel.load(hfInitDir);
    const q = await LlamaModel.load(hfInitDir, { quantization: 'nf4', doubleQuant: true });
    const c = q.config;
    const linear = c.numLayers * (c.hiddenSize * (c.numHeads + 2 * c.numKvHeads) * c.headDim + c.numHeads * c.headDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize);
    const bitsPerWeight = ((4 * linear - (dense.nbytes - q.nbytes)) * 8) / linear;  // fp32 linears (32 bits) → NF4
    expect(bitsPerWeight).toBeGreaterThan(4);
    expect(bitsPerWeight).toBeLessThan(4.2);
    // The same model with the dequantised weights stored dense gives the same logits.
    const dequant = await LlamaModel.fromTensors(c, (name) => q.weight(name).clone());
    const ids = Tensor.ids(examples()[0]!.prompt, [1, examples()[0]!.prompt.length]);
    const [d, n, e] = await noGrad(() => Promise.all([tidy(() => dense.forward(ids)), tidy(() => q.forward(ids)), tidy(() => dequant.forward(ids))]));
    expect(tidy(() => n!.logits.sub(e!.logits).abs().amax().item())).toBeLessThan(1e-5);
    // And stays near the original (NF4 weight error is ~9 % of |w| on Gaussian weights).
    const rel = tidy(() => d!.logits.sub(n!.logits).abs().mean().item() / d!.logits.abs().mean().item());
    expect(rel).toBeGreaterThan(0);
    expect(rel).toBeLessThan(0.25);
    // QLoRA training (on the large-init checkpoint, whose logits can express a memorised token).
    const qBig = await LlamaModel.load(dir, { quantization: 'nf4', doubleQuant: true });
    const lora = createLora(qBig, { rank: 8, alpha: 16, dropout: 0.05 });
    const opt = new AdamW(lora.parameters(), { lr: 1e-2, weightDecay: 0 });
    const bt = batch(examples().slice(0, 8));
    const losses: number[] = [];
    for (let step = 0; step < 10; step++) {
      const loss = await actionLoss(qBig, bt, true);
      losses.push(loss.item());
      await loss.backward();
      loss.dispose();
      await opt.step();
      opt.zeroGrad();
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! * 0.7);
    for (const m of [dense, q, dequant, qBig]) m.dispose();
  }, 300_000);
});
