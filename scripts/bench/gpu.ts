/**
 * The trainer on a GPU, in one run (issue 12), against PyTorch eager on the same GPU:
 *
 *   parity     a tiny checkpoint on CUDA (bf16 and fp32) against the CPU fp32 logits (relative L2 error,
 *              full and left-padded batches); activation checkpointing gives the plain backward's LoRA
 *              gradients on the GPU; greedy generation and two PPO steps of the real trainer on CUDA; two
 *              SFT steps that also train the embedding (modules_to_save) and save it under PEFT's key.
 *   qlora      Llama-3.1-8B shape, random weights built on the GPU (no download), NF4 base + LoRA r=16 on
 *              all seven projections, activation checkpointing: the trainer's own offline-PPO step
 *              (runTraining, batch × seq = 8 × 1024) — seconds, peak GPU memory, tokens/s, MFU.
 *   lora       the same with the bf16 base (no quantisation).
 *   lora-full  the bf16 LoRA step without activation checkpointing (needs ~100 GB: H200).
 *   generate   greedy decoding with the KV cache on the bf16 8B model, batch 1 and 32.
 *   kernels    each fused CUDA kernel (RMSNorm, RoPE, SwiGLU: forward + backward; NF4 dequantisation) at
 *              the 8B shapes against libtorch's ops for the same maths (rows gpu.kernel.*; ratio = fused / ops).
 * With the fused CUDA kernels built (cuda/fused.cu: RMSNorm, RoPE, SwiGLU, NF4), parity also checks them
 * against libtorch's ops (setCudaFused(false)), and each step / generation row is run a second time on
 * the ops path (rows `<bench>.libtorch_ops`): the before/after of the kernels in one run.
 * Each figure is set against scripts/bench/gpu_torch.py, the same step / decoding written in PyTorch eager,
 * run right after on the same GPU (ratio = ts_s / baseline_s, lower is better, target ≤ 1.0). MFU is the
 * step's model FLOPs (training/mfu.ts: policy forward + backward; the KL reference is the cached
 * behaviour log-probs; recomputation not counted) over the step time and the GPU's dense bf16 peak (989 TFLOP/s for H100 SXM and H200).
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/bench/gpu.js [--device cuda] [--sections parity,qlora,lora,generate]
 *     [--steps 3] [--warmup 1] [--batch 8] [--seq 1024] [--gen-batches 1,32] [--gen-prompt 128] [--gen-new 64]
 *     [--preset 8b-shape] [--overrides '{"num_hidden_layers":2}'] [--python python3] [--no-torch] [--ops-path qlora,lora|''] [--out FILE.jsonl]
 *
 * On the lent GPU machines it runs from a bundle: scripts/gpu/pack.sh, then scripts/gpu/device.sh there.
 * Prints a line per figure and one JSON line each (also appended to --out).
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../services/common/paths.js';
import { parseLlamaConfig, presetConfigJson, type LlamaConfig, type ModelPreset } from '../../services/trainer/model/config.js';
import { generate } from '../../services/trainer/model/generate.js';
import { checkpointTensors, initCheckpoint } from '../../services/trainer/model/init.js';
import { LlamaModel, type Quantization } from '../../services/trainer/model/llama.js';
import { createLora } from '../../services/trainer/model/lora.js';
import { LlamaTokenizer, writeLlama31TokenizerFiles } from '../../services/trainer/model/tokenizer.js';
import { loadNative } from '../../services/trainer/native/index.js';
import { Tensor, manualSeed, noGrad, qkvRope, rmsNorm, swiglu, tidy, tokenLogprobs } from '../../services/trainer/native/tensor.js';
import { inputLength } from '../../services/trainer/training/batch.js';
import { devicePeak, trainingStepFlops } from '../../services/trainer/training/mfu.js';
import { runTraining } from '../../services/trainer/training/trainer.js';
import { readSafetensors } from '../../services/trainer/model/safetensors.js';
import { savedModuleKey } from '../../services/trainer/peft.js';
import { parseTrainingSpec } from '../../services/trainer/spec.js';
import { PPO_LORA, ppoRows, ppoSpec, writeStepExamples, writeTorchBatch, type PpoBench } from './ppo-data.js';

const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda' },
    sections: { type: 'string', default: 'parity,kernels,qlora,lora,generate' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '1024' },
    'gen-batches': { type: 'string', default: '1,32' },
    'gen-prompt': { type: 'string', default: '128' },
    'gen-new': { type: 'string', default: '64' },
    preset: { type: 'string', default: '8b-shape' },
    overrides: { type: 'string', default: '{}' },
    python: { type: 'string', default: process.env.SPARK_TORCH_PYTHON ?? 'python3' },
    'no-torch': { type: 'boolean', default: false },
    // Step variants also run on libtorch's ops (the fused CUDA kernels off): the kernels' before/after.
    'ops-path': { type: 'string', default: 'qlora,lora' },
    out: { type: 'string' },
    commit: { type: 'string', default: process.env.SPARK_COMMIT ?? '' },
  },
});
const device = args.device!;
const sections = new Set(args.sections!.split(','));
const opsPath = new Set(args['ops-path']!.split(',').filter(Boolean));
const steps = Number(args.steps), warmup = Number(args.warmup);
const BATCH = Number(args.batch), SEQ = Number(args.seq);
const genBatches = args['gen-batches']!.split(',').map(Number);
const GEN = { prompt: Number(args['gen-prompt']), new: Number(args['gen-new']) };
const TORCH_SCRIPT = join(REPO_ROOT, 'scripts', 'bench', 'gpu_torch.py');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 4) => Number(x.toPrecision(digits));
const native = loadNative();
const cuda = device.startsWith('cuda');
/** "NVIDIA H200" from the addon's "cuda:0 NVIDIA H200 (143771 MiB)". */
const deviceDescription = native.info().devices.find((d) => d.startsWith(device === 'cuda' ? 'cuda:0' : device)) ?? device;
const gpuName = cuda ? deviceDescription.replace(/^cuda:\d+ /, '').replace(/ \(\d+ MiB\)$/, '') : 'cpu';
const peak = devicePeak(device, { description: deviceDescription });

function emit(row: Record<string, unknown>): void {
  const line = JSON.stringify({ ...row, gpu: gpuName, commit: args.commit || undefined });
  process.stdout.write(`${line}\n`);
  if (args.out) appendFileSync(args.out, `${line}\n`);
}

function log(message: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/** Runs one section; a failure is reported as a row and the run goes on. */
async function section(name: string, fn: () => Promise<void>): Promise<void> {
  if (!sections.has(name)) return;
  const t0 = performance.now();
  try {
    await fn();
  } catch (err) {
    emit({ bench: `gpu.${name}`, error: (err as Error).message.slice(0, 2000) });
  } finally {
    native.cudaEmptyCache();
    log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

const gb = (bytes: number) => round(bytes / 1e9);

// ---------------------------------------------------------------- parity on the GPU

/**
 * Relative L2 error of `m`'s fp32 logits against `ref` (CPU fp32), over the real tokens: a padding
 * position attends to no key at all, and what it holds then is each kernel's own choice (the CPU's
 * uniform average, the fused GPU kernels' zeros) that nothing reads.
 */
async function relError(m: LlamaModel, ref: Tensor, ids: Tensor, mask?: Tensor): Promise<number> {
  return noGrad(() => tidy(async () => {
    const { logits } = await m.forward(ids, { attentionMask: mask });
    const keep = mask ? mask.to('float32').unsqueeze(2) : Tensor.ones([1, 1, 1]);
    const d = logits.to('float32', 'cpu').sub(ref).mul(keep);
    return Math.sqrt(d.pow(2).sum().item()) / Math.sqrt(ref.mul(keep).pow(2).sum().item());
  }));
}

/** LoRA gradients of one training step (dropout on) with activation checkpointing on or off. */
async function loraGrads(dir: string, checkpointing: boolean, dtype: 'float32' | 'bfloat16' = 'float32'): Promise<number[]> {
  const model = await LlamaModel.load(dir, { device, dtype });
  manualSeed(5);
  const lora = createLora(model, { rank: 4, alpha: 8, dropout: 0.2 });
  noGrad(() => { for (const [key, t] of lora.tensors) if (key.endsWith('lora_B.weight')) t.uniform_(-0.2, 0.2); });
  model.setActivationCheckpointing(checkpointing);
  manualSeed(9);
  const loss = await tidy(async () => {
    const ids = Tensor.randint(0, 128_256, [2, 48], device);
    const { logits } = await model.forward(ids, { training: true, logitsToKeep: 9 });
    return tokenLogprobs(logits.narrow(1, 0, 8), ids.narrow(1, 40, 8)).mean().neg();
  });
  await loss.backward();
  const grads = [...lora.tensors.values()].flatMap((t) => t.grad!.to('float32', 'cpu').toArray());
  loss.dispose();
  lora.dispose();
  model.dispose();
  return grads;
}

const relL2 = (a: number[], b: number[]) =>
  Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0) / Math.max(1e-30, a.reduce((s, x) => s + x * x, 0)));

/** `fn` with the fused CUDA kernels off (libtorch's ops), then on again. */
async function withOps<T>(fn: () => Promise<T>): Promise<T> {
  native.setCudaFused(false);
  try {
    return await fn();
  } finally {
    native.setCudaFused(true);
  }
}

/** Relative L2 differences between the fused kernels and libtorch's ops on the same checkpoint. */
async function fusedParity(dir: string, ids: Tensor): Promise<Record<string, number>> {
  const logits = async (opts: { dtype: 'float32' | 'bfloat16'; quantization?: Quantization }) => {
    const m = await LlamaModel.load(dir, { device, ...opts });
    try {
      return await noGrad(() => tidy(async () => (await m.forward(ids.to('int64', device))).logits.to('float32', 'cpu').toArray()));
    } finally {
      m.dispose();
    }
  };
  const out: Record<string, number> = {};
  out.fused_vs_ops_fp32_logits = relL2(await withOps(() => logits({ dtype: 'float32' })), await logits({ dtype: 'float32' }));
  out.fused_vs_ops_bf16_logits = relL2(await withOps(() => logits({ dtype: 'bfloat16' })), await logits({ dtype: 'bfloat16' }));
  out.fused_vs_ops_nf4_bf16_logits = relL2(await withOps(() => logits({ dtype: 'bfloat16', quantization: 'nf4' })), await logits({ dtype: 'bfloat16', quantization: 'nf4' }));
  out.fused_vs_ops_fp32_grads = relL2(await withOps(() => loraGrads(dir, true)), await loraGrads(dir, true));
  out.fused_vs_ops_bf16_grads = relL2(await withOps(() => loraGrads(dir, true, 'bfloat16')), await loraGrads(dir, true, 'bfloat16'));
  log(`parity: fused kernels vs libtorch ops ${Object.entries(out).map(([k, v]) => `${k.replace('fused_vs_ops_', '')} ${v.toExponential(2)}`).join(', ')}`);
  return out;
}

async function parity(root: string): Promise<void> {
  const dir = join(root, 'tiny');
  await initCheckpoint(dir, { preset: 'tiny', dtype: 'float32', seed: 1, overrides: { num_hidden_layers: 4 } });
  const t = 160;
  const ids = Tensor.randint(0, 128_256, [2, t]);
  const mask = Tensor.fromData(Uint8Array.from([...Array(37).fill(0), ...Array(t - 37).fill(1), ...Array(t).fill(1)]), [2, t], 'bool');
  const cpu = await LlamaModel.load(dir);
  const [ref, refPadded] = await noGrad(() => Promise.all([cpu.forward(ids), cpu.forward(ids, { attentionMask: mask })]));
  const g32 = await LlamaModel.load(dir, { device, dtype: 'float32' });
  const g16 = await LlamaModel.load(dir, { device, dtype: 'bfloat16' });
  const errors = {
    rel_err_fp32: await relError(g32, ref.logits, ids),
    rel_err_fp32_padded: await relError(g32, refPadded.logits, ids, mask),
    rel_err_bf16: await relError(g16, ref.logits, ids),
    rel_err_bf16_padded: await relError(g16, refPadded.logits, ids, mask),
  };
  // Activation checkpointing: the same LoRA gradients as the plain backward, dropout masks replayed.
  const [plain, ckpt] = [await loraGrads(dir, false), await loraGrads(dir, true)];
  const gradErr = relL2(plain, ckpt);
  // The fused CUDA kernels against libtorch's ops: logits (bf16, NF4 base too) and LoRA gradients (fp32, bf16).
  const fusedRows = native.info().cudaKernels ? await fusedParity(dir, ids) : {};
  // Greedy generation on the GPU (bf16) against the CPU (fp32): tokens agree while the logits' top-2 gap
  // exceeds bf16 rounding, so agreement is reported, not required.
  const tokenizer = LlamaTokenizer.load(dir);
  const prompt = tokenizer.encode('<|begin_of_text|>The quick brown fox');
  const [gOut] = await generate(g16, tokenizer, [prompt], { maxNewTokens: 24, temperature: 0, stopTokenIds: [] });
  const [cOut] = await generate(cpu, tokenizer, [prompt], { maxNewTokens: 24, temperature: 0, stopTokenIds: [] });
  const agree = gOut!.tokens.findIndex((tok, i) => tok !== cOut!.tokens[i]);
  // Two steps of the real trainer on the GPU.
  const data = join(root, 'parity-ppo');
  mkdirSync(data, { recursive: true });
  writeStepExamples(data, 8, 128);
  const metrics: Array<Record<string, number>> = [];
  await runTraining(ppoSpec({ dir: data, modelDir: dir, batch: 8, seq: 128, maxSteps: 2 }), { device, onStep: (_, __, m) => metrics.push(m) });
  const last = metrics.at(-1)!;
  const finite = metrics.every((m) => Object.values(m).every(Number.isFinite));
  // modules_to_save on the GPU: an SFT run that trains the tied embedding too, saved under PEFT's key.
  const sftMetrics: Array<Record<string, number>> = [];
  const sft = await runTraining(parseTrainingSpec({
    mode: 'sft', data: join(data, 'steps.jsonl'), baseModelPath: dir, outDir: join(root, 'parity-sft'),
    lora: { rank: 4, alpha: 8, dropout: 0.05, modulesToSave: ['embed_tokens'] },
    hyper: { maxSteps: 2, batchSize: 4, gradAccum: 1, warmupSteps: 0, lr: 5e-3, maxSeqLen: 128, saveEvery: 1_000 },
  }), { device, onStep: (_, __, m) => sftMetrics.push(m) });
  const savedEmbed = (await readSafetensors(join(sft.finalDir, 'adapter_model.safetensors'))).get(savedModuleKey('embed_tokens'));
  const embedChange = savedEmbed ? noGrad(() => tidy(() => savedEmbed.to('float32', 'cpu').sub(cpu.weight('model.embed_tokens.weight')).abs().amax().item())) : NaN;
  savedEmbed?.dispose();
  const sftOk = sftMetrics.length === 2 && sftMetrics.every((m) => Object.values(m).every(Number.isFinite)) && embedChange > 0;
  const fusedOk = Object.entries(fusedRows).every(([k, v]) => v < (k.includes('bf16') ? 3e-2 : 1e-4));
  const ok = errors.rel_err_fp32 < 1e-4 && errors.rel_err_fp32_padded < 1e-4 && errors.rel_err_bf16 < 3e-2 && errors.rel_err_bf16_padded < 3e-2 && gradErr < 1e-3 && finite && metrics.length === 2 && fusedOk && sftOk;
  log(`parity: fp32 ${errors.rel_err_fp32.toExponential(2)}, bf16 ${errors.rel_err_bf16.toExponential(2)} (padded ${errors.rel_err_bf16_padded.toExponential(2)}); checkpointed grads ${gradErr.toExponential(2)}; greedy tokens agree ${agree < 0 ? 24 : agree}/24; PPO loss ${last['actor/loss']}; SFT + embed_tokens ${sftMetrics.length} steps, embedding moved by ${embedChange.toExponential(2)}`);
  emit({
    bench: 'gpu.parity', ok, ...Object.fromEntries(Object.entries(errors).map(([k, v]) => [k, round(v, 3)])),
    checkpoint_grad_rel_err: round(gradErr, 3), ...Object.fromEntries(Object.entries(fusedRows).map(([k, v]) => [k, round(v, 3)])),
    cuda_kernels: native.info().cudaKernels, greedy_tokens_agree: agree < 0 ? 24 : agree, greedy_tokens: 24,
    ppo_steps: metrics.length, ppo_loss: round(last['actor/loss'] ?? NaN), ppo_kl: round(last['actor/kl_loss'] ?? NaN), ppo_finite: finite,
    sft_modules_to_save_steps: sftMetrics.length, sft_embed_max_change: round(embedChange, 3), sft_ok: sftOk,
  });
  for (const x of [ids, mask, ref.logits, refPadded.logits]) x.dispose();
  for (const m of [cpu, g32, g16]) m.dispose();
}

// ---------------------------------------------------------------- fused kernels against libtorch's ops

/** Median seconds of `fn` (GPU work awaited), after warm-up calls. */
async function timeIt(fn: () => Promise<void>, iters = 10, warm = 3): Promise<number> {
  for (let i = 0; i < warm; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    native.cudaSynchronize();
    const t0 = performance.now();
    await fn();
    native.cudaSynchronize();
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

/** Forward + backward of `op` on a fresh leaf copy of `x`, with a fixed upstream gradient per output. */
function fwdBwd(x: Tensor, op: (x: Tensor) => Tensor[]): () => Promise<void> {
  const grads = noGrad(() => op(x).map((o) => Tensor.randn(o.shape, o.dtype, device)));
  return async () => {
    await tidy(async () => {
      const leaf = x.detach().setRequiresGrad(true);
      const outs = op(leaf);
      const loss = outs.map((o, i) => o.mul(grads[i]!).sum()).reduce((a, b) => a.add(b));
      await loss.backward();
    });
  };
}

async function kernels(): Promise<void> {
  if (!native.info().cudaKernels) throw new Error('this build has no fused CUDA kernels (nvcc was not found at build time)');
  const n = BATCH * SEQ, h = config.hiddenSize, inter = config.intermediateSize;
  const [nh, nkv, hd] = [config.numHeads, config.numKvHeads, config.headDim];
  manualSeed(0);
  const bf = (shape: number[]) => Tensor.randn(shape, 'bfloat16', device);
  const [cos, sin] = [bf([1, SEQ, hd]), bf([1, SEQ, hd])];  // any values: the work is the same
  const cases: Array<{ name: string; shape: number[]; run: () => Promise<void> }> = [
    { name: 'rms_norm', shape: [n, h], run: fwdBwd(bf([n, h]), (x) => [rmsNorm(x, Tensor.ones([h], 'bfloat16', device), config.rmsNormEps)]) },
    { name: 'swiglu', shape: [n, 2 * inter], run: fwdBwd(bf([n, 2 * inter]), (x) => [swiglu(x)]) },
    {
      name: 'qkv_rope', shape: [BATCH, SEQ, (nh + 2 * nkv) * hd],
      run: fwdBwd(bf([BATCH, SEQ, (nh + 2 * nkv) * hd]), (x) => qkvRope(x, cos, sin, { heads: nh, kvHeads: nkv, headDim: hd, qScale: hd ** -0.5 })),
    },
  ];
  const w = noGrad(() => native.ops.nf4Quantize(bf([inter, h]).native, 64, false));
  cases.push({ name: 'nf4_dequantize', shape: [inter, h], run: async () => { tidy(() => { new Tensor(native.ops.nf4Dequantize(w, [inter, h], 'bfloat16')); }); } });
  for (const c of cases) {
    const fused = await timeIt(c.run);
    const ops = await withOps(() => timeIt(c.run));
    log(`kernel ${c.name} ${JSON.stringify(c.shape)}: fused ${(fused * 1e3).toFixed(3)} ms, libtorch ops ${(ops * 1e3).toFixed(3)} ms (${(ops / fused).toFixed(2)}x)`);
    emit({ bench: `gpu.kernel.${c.name}`, ts_s: round(fused), baseline_s: round(ops), ratio: round(fused / ops, 3), baseline: 'libtorch ops', shape: c.shape, dtype: 'bfloat16', pass: c.name === 'nf4_dequantize' ? 'forward' : 'forward+backward' });
  }
}

// ---------------------------------------------------------------- the 8B-shaped model

const configJson = presetConfigJson(args.preset as ModelPreset, JSON.parse(args.overrides!) as Record<string, unknown>);
const config: LlamaConfig = parseLlamaConfig(configJson, 'preset');

/** The model with random weights N(0, 0.02) drawn on the device, one layer at a time (no checkpoint files). */
async function randomModel(quantization: Quantization): Promise<LlamaModel> {
  const shapes = new Map(checkpointTensors(config).map((t) => [t.name, t]));
  manualSeed(0);
  return LlamaModel.fromTensors(config, (name) => {
    const t = shapes.get(name)!;
    return t.norm ? Tensor.ones(t.shape, 'bfloat16', device) : Tensor.randn(t.shape, 'bfloat16', device).mul(0.02);
  }, { device, dtype: 'bfloat16', quantization });
}

interface TorchResult { step_s: number[]; peak_mem_gb: number; generate: Array<{ batch: number; seconds: number; tokens: number }>; torch: string }

function runTorch(request: Record<string, unknown>, bench: PpoBench, root: string): TorchResult | undefined {
  if (args['no-torch']) return undefined;
  const path = writeTorchBatch(bench, join(root, `torch-${Date.now()}.json`), { shape: configJson, device, ...request });
  const out = execFileSync(args.python!, [TORCH_SCRIPT, path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26, env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  return JSON.parse(out.trim().split('\n').at(-1)!) as TorchResult;
}

interface Variant { name: string; bench: string; quantization: Quantization; checkpoint: boolean }

const VARIANTS: Record<string, Variant> = {
  qlora: { name: 'qlora', bench: 'gpu.qlora_ppo_step', quantization: 'nf4', checkpoint: true },
  lora: { name: 'lora', bench: 'gpu.lora_ppo_step', quantization: 'none', checkpoint: true },
  'lora-full': { name: 'lora-full', bench: 'gpu.lora_ppo_step.no_checkpointing', quantization: 'none', checkpoint: false },
};

/**
 * The trainer's PPO step on the 8B shape, then (when asked) generation on the same model; then PyTorch's.
 * `opsPath`: the same with the fused CUDA kernels off, TS figures only (rows suffixed `.libtorch_ops`).
 */
async function ppoRow(v: Variant, root: string, withGeneration: boolean, opsPath = false): Promise<void> {
  if (opsPath) {
    native.setCudaFused(false);
    try {
      return await ppoRow({ ...v, name: `${v.name} (libtorch ops)`, bench: `${v.bench}.libtorch_ops` }, root, withGeneration);
    } finally {
      native.setCudaFused(true);
    }
  }
  const ops = !native.cudaFused() && native.info().cudaKernels;
  const bench: PpoBench = {
    dir: join(root, 'ppo'), modelDir: join(root, 'model-8b'), batch: BATCH, seq: SEQ, maxSteps: warmup + steps,
    quantization: v.quantization, activationCheckpointing: v.checkpoint,
  };
  const t0 = performance.now();
  const model = await randomModel(v.quantization);
  const metrics: Array<Record<string, number>> = [];
  let gen: GenTiming[] = [];
  let peakMem = 0;
  try {
    log(`${v.name}: ${config.numLayers} layers built on ${device} in ${((performance.now() - t0) / 1000).toFixed(1)} s, base weights ${gb(model.nbytes)} GB`);
    model.setActivationCheckpointing(false);  // the spec's hyper.activationCheckpointing turns it on
    native.cudaResetPeak();
    await runTraining(ppoSpec(bench, join(root, `run-${v.name}`)), {
      model, device,
      onStep: (step, _, m) => {
        metrics.push(m);
        log(`${v.name} step ${step}: ${m['perf/step_time_s']!.toFixed(3)} s, ${Math.round(m['perf/tokens_per_second']!)} tokens/s, MFU ${(100 * m['perf/mfu']!).toFixed(1)} %`);
        if (step === warmup) native.cudaResetPeak();  // the figures are the steps after the warm-up
      },
    });
    peakMem = native.cudaMemory().peakAllocated;
    if (withGeneration) gen = await generationRows(model);
  } finally {
    model.dispose();
    native.cudaEmptyCache();
  }
  const tsS = median(metrics.slice(warmup).map((m) => m['perf/step_time_s']!));
  const torch = ops ? undefined : runTorch({ quantization: v.quantization, checkpoint: v.checkpoint, steps, warmup, generate: gen.map((g) => ({ batch: g.batch, prompt: GEN.prompt, new: GEN.new })) }, bench, root);
  // As collate computes the rows: logits for the longest completion.
  const { rows } = ppoRows(bench);
  const flops = trainingStepFlops(config, rows.map(inputLength), Math.max(...rows.map((r) => r.completionIds.length)));
  const baseS = torch ? median(torch.step_s) : NaN;
  emit({
    bench: v.bench, ts_s: round(tsS), baseline_s: round(baseS), ratio: round(tsS / baseS, 3),
    peak_mem_gb: gb(peakMem), baseline_peak_mem_gb: torch ? round(torch.peak_mem_gb) : undefined,
    tokens_per_s: Math.round((BATCH * SEQ) / tsS), baseline_tokens_per_s: torch ? Math.round((BATCH * SEQ) / baseS) : undefined,
    mfu: round(flops / tsS / peak.flops, 3), baseline_mfu: torch ? round(flops / baseS / peak.flops, 3) : undefined,
    step_tflop: round(flops / 1e12), batch: BATCH, seq: SEQ, lora_rank: PPO_LORA.rank, lora_dropout: PPO_LORA.dropout,
    quantization: v.quantization, activation_checkpointing: v.checkpoint, steps_timed: metrics.length - warmup, torch: torch?.torch,
    fused_kernels: native.cudaFused(),
  });
  emitGeneration(gen, torch, ops ? '.libtorch_ops' : '');
}

interface GenTiming { batch: number; seconds: number; tokens: number }

function emitGeneration(gen: GenTiming[], torch: TorchResult | undefined, suffix = ''): void {
  for (const g of gen) {
    const base = torch?.generate.find((x) => x.batch === g.batch);
    emit({
      bench: `gpu.generate_b${g.batch}${suffix}`, ts_s: round(g.seconds), baseline_s: base ? round(base.seconds) : undefined,
      ratio: base ? round(g.seconds / base.seconds, 3) : undefined, tokens_per_s: round(g.tokens / g.seconds),
      baseline_tokens_per_s: base ? round(base.tokens / base.seconds) : undefined, batch: g.batch, prompt: GEN.prompt, new_tokens: GEN.new,
      dtype: 'bfloat16', kv_cache: true, fused_kernels: native.cudaFused(),
    });
  }
}

/** Greedy decoding of `batch` equal-length prompts with the KV cache; seconds for GEN.new tokens each. */
async function generationRows(model: LlamaModel): Promise<GenTiming[]> {
  const rows: GenTiming[] = [];
  for (const b of genBatches) {
    const prompts = Array.from({ length: b }, (_, r) => Array.from({ length: GEN.prompt }, (_, k) => (r * 7919 + k * 104_729) % 128_000));
    const opts = { temperature: 0, stopTokenIds: [], adapters: false };
    await generate(model, null, prompts, { ...opts, maxNewTokens: 4 });  // warm-up
    native.cudaSynchronize();
    const t0 = performance.now();
    await generate(model, null, prompts, { ...opts, maxNewTokens: GEN.new });
    const seconds = (performance.now() - t0) / 1000;
    log(`generate batch ${b}: ${GEN.new} tokens each in ${seconds.toFixed(2)} s → ${Math.round((b * GEN.new) / seconds)} tokens/s`);
    rows.push({ batch: b, seconds, tokens: b * GEN.new });
  }
  return rows;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const info = native.info();
  emit({ bench: 'gpu.info', device, build: info.build, cuda_kernels: info.cudaKernels, torch: info.torchVersion, devices: info.devices, peak_tflops: peak.flops / 1e12, node: process.version });
  log(`${info.build} build, libtorch ${info.torchVersion}, ${deviceDescription}, peak ${peak.source}`);
  if (cuda && info.build !== 'cuda') throw new Error('the addon is a CPU build: build it with LIBTORCH_DIR set to a CUDA PyTorch (scripts/gpu/device.sh)');
  const root = mkdtempSync(join(tmpdir(), 'spark-gpu-bench-'));
  try {
    await section('parity', () => parity(root));
    await section('kernels', kernels);
    // The 8B-shaped runs share a model folder (config.json + tokenizer, no weights) and the PPO data.
    const modelDir = join(root, 'model-8b');
    mkdirSync(modelDir, { recursive: true });
    writeFileSync(join(modelDir, 'config.json'), JSON.stringify(configJson, null, 2));
    writeLlama31TokenizerFiles(modelDir);
    mkdirSync(join(root, 'ppo'), { recursive: true });
    writeStepExamples(join(root, 'ppo'), BATCH, SEQ);
    const wanted = ['qlora', 'lora', 'lora-full'].filter((n) => sections.has(n));
    const genWith = sections.has('generate') ? (wanted.includes('lora') ? 'lora' : wanted.includes('lora-full') ? 'lora-full' : undefined) : undefined;
    for (const name of wanted) {
      await section(name, () => ppoRow(VARIANTS[name]!, root, genWith === name));
      // The same on libtorch's ops: what the fused kernels bring, measured in this run.
      if (info.cudaKernels && opsPath.has(name)) await section(name, () => ppoRow(VARIANTS[name]!, root, genWith === name, true));
    }
    if (sections.has('generate') && !genWith) {
      await section('generate', async () => {
        const model = await randomModel('none');
        let gen: GenTiming[];
        try {
          gen = await generationRows(model);
        } finally {
          model.dispose();
          native.cudaEmptyCache();
        }
        const bench: PpoBench = { dir: join(root, 'ppo'), modelDir, batch: BATCH, seq: SEQ, maxSteps: 0 };
        emitGeneration(gen, runTorch({ steps: 0, warmup: 0, generate: gen.map((g) => ({ batch: g.batch, prompt: GEN.prompt, new: GEN.new })) }, bench, root));
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
