/**
 * Benchmark of the libtorch policy model against the same model in PyTorch eager (issue 7): a ~34 M
 * parameter Llama-shaped checkpoint (hidden 512, 6 layers, 8 heads / 4 kv heads, MLP 1408, vocab 32,000,
 * tied embeddings, fp32), written once, read by both sides. Figures, in one run on the same CPU with the
 * same thread count and environment (bench-env.ts), the two
 * sides taking turns round by round:
 *   model.train_step     LoRA r=16 on all 7 projections, batch 8 × seq 256: forward + token
 *                        cross-entropy + backward + grad clip + AdamW (seconds per step, median)
 *   model.generate_b1    greedy decoding with the KV cache, 32-token prompt + 128 new tokens, batch 1
 *   model.generate_b8    the same at batch 8
 *   model.train_step.glibc_malloc   the training step again against PyTorch run WITHOUT
 *                        MALLOC_MMAP_THRESHOLD_ (glibc's default malloc reuses freed heap memory, so
 *                        PyTorch skips the page faults that the RSS-flat setting costs it; the addon's
 *                        caching CPU allocator gets the same saving under either setting) — shown so the
 *                        first row's margin is not mistaken for compute alone
 * ts_s and baseline_s are each side's median over the rounds; ratio is the median of the per-round ratios
 * ts/torch (each round's pair ran back to back, so load from other processes cancels better), lower is
 * better, target ≤ 1.0.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/bench/model.js [--threads 2] [--rounds 3] [--steps 3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../services/common/paths.js';
import { generate } from '../../services/trainer/model/generate.js';
import { initCheckpoint } from '../../services/trainer/model/init.js';
import { LlamaModel } from '../../services/trainer/model/llama.js';
import { createLora } from '../../services/trainer/model/lora.js';
import { setNumThreads } from '../../services/trainer/native/index.js';
import { AdamW, clipGradNorm } from '../../services/trainer/native/optim.js';
import { Tensor, keep, manualSeed, tidy, tokenLogprobs } from '../../services/trainer/native/tensor.js';
import { BENCH_ENV } from './bench-env.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '3' },
    python: { type: 'string', default: process.env.SPARK_TORCH_PYTHON ?? '/usr/bin/python3' },
  },
});
const threads = Number(args.threads), rounds = Number(args.rounds), steps = Number(args.steps);
const SHAPE = {
  hidden_size: 512, num_hidden_layers: 6, num_attention_heads: 8, num_key_value_heads: 4, intermediate_size: 1408,
  vocab_size: 32_000, tie_word_embeddings: true,
};
const TRAIN = { batch: 8, seq: 256, rank: 16 };
const GEN = { prompt: 32, new: 128 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The PyTorch side, a child process answering one JSON line per command. */
function startTorch(modelDir: string, mmapThreshold = true) {
  const env: NodeJS.ProcessEnv = { ...process.env, ...BENCH_ENV };
  if (!mmapThreshold) delete env.MALLOC_MMAP_THRESHOLD_;
  const child = spawn(args.python!, [join(REPO_ROOT, 'scripts', 'bench', 'model_torch.py'), modelDir, String(threads)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const r = await lines.next();
    if (r.done) throw new Error('model_torch.py exited early');
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  return {
    ready: next(),
    async ask(cmd: Record<string, unknown>) {
      child.stdin.write(JSON.stringify(cmd) + '\n');
      return next();
    },
    close() { child.stdin.end(); },
  };
}

async function tsTrain(model: LlamaModel, seed: number): Promise<number[]> {
  manualSeed(seed);
  const lora = createLora(model, { rank: TRAIN.rank, alpha: 2 * TRAIN.rank, dropout: 0.05 });
  const params = lora.parameters();
  const opt = new AdamW(params, { lr: 1e-4 });
  const ids = keep(Tensor.randint(0, SHAPE.vocab_size, [TRAIN.batch, TRAIN.seq + 1]));
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    const loss = await tidy(async () => {
      const { logits } = await model.forward(ids.narrow(1, 0, TRAIN.seq), { training: true });
      return tokenLogprobs(logits, ids.narrow(1, 1, TRAIN.seq)).mean().neg();
    });
    await loss.backward();
    loss.dispose();
    clipGradNorm(params, 1.0);
    await opt.step();
    opt.zeroGrad();
    times.push((performance.now() - t0) / 1000);
  }
  ids.dispose();
  lora.dispose();
  model.native.clearLora();
  return times;
}

async function tsGenerate(model: LlamaModel, batch: number, seed: number): Promise<number> {
  manualSeed(seed);
  const prompts = tidy(() => {
    const ids = Tensor.randint(0, SHAPE.vocab_size, [batch, GEN.prompt]).toArray();
    return Array.from({ length: batch }, (_, b) => ids.slice(b * GEN.prompt, (b + 1) * GEN.prompt));
  });
  const t0 = performance.now();
  const out = await generate(model, null, prompts, { maxNewTokens: GEN.new, temperature: 0, stopTokenIds: [], adapters: false });
  const seconds = (performance.now() - t0) / 1000;
  if (out[0]!.tokens.length !== GEN.new) throw new Error('generation stopped early');
  return seconds;
}

async function main() {
  setNumThreads(threads);
  const root = mkdtempSync(join(tmpdir(), 'spark-bench-model-'));
  const dir = join(root, 'llama-34m');
  try {
    const { parameters } = await initCheckpoint(dir, { preset: 'small', dtype: 'float32', seed: 0, overrides: SHAPE });
    process.stdout.write(`model: ${(parameters / 1e6).toFixed(1)} M parameters (${JSON.stringify(SHAPE)}), ${threads} threads, ${rounds} rounds\n`);
    const torch = startTorch(dir);
    const torchGlibc = startTorch(dir, false);
    const info = await torch.ready;
    await torchGlibc.ready;
    const model = await LlamaModel.load(dir);
    const figures = { train: { ts: [] as number[], pt: [] as number[] }, glibc: { ts: [] as number[], pt: [] as number[] }, b1: { ts: [] as number[], pt: [] as number[] }, b8: { ts: [] as number[], pt: [] as number[] } };
    // Warm-up: one short pass each side (allocator, OpenMP pools, BLAS buffers).
    await tsGenerate(model, 1, 99);
    await torch.ask({ cmd: 'generate', batch: 1, prompt: GEN.prompt, new: 8, seed: 99 });
    for (let r = 0; r < rounds; r++) {
      const tsT = await tsTrain(model, r);
      const ptT = (await torch.ask({ cmd: 'train', steps, ...TRAIN, seed: r })).times as number[];
      // The first step of each side builds its LoRA and optimiser state: drop it when there are more.
      figures.train.ts.push(median(tsT.length > 1 ? tsT.slice(1) : tsT));
      figures.train.pt.push(median(ptT.length > 1 ? ptT.slice(1) : ptT));
      const glT = (await torchGlibc.ask({ cmd: 'train', steps, ...TRAIN, seed: r })).times as number[];
      figures.glibc.ts.push(figures.train.ts.at(-1)!);
      figures.glibc.pt.push(median(glT.length > 1 ? glT.slice(1) : glT));
      for (const [key, batch] of [['b1', 1], ['b8', 8]] as const) {
        figures[key].ts.push(await tsGenerate(model, batch, 100 + r));
        figures[key].pt.push((await torch.ask({ cmd: 'generate', batch, ...GEN, seed: 100 + r })).seconds as number);
      }
      process.stdout.write(`round ${r + 1}: train ${figures.train.ts.at(-1)!.toFixed(3)} s vs ${figures.train.pt.at(-1)!.toFixed(3)} s (glibc malloc ${figures.glibc.pt.at(-1)!.toFixed(3)} s); `
        + `gen b1 ${figures.b1.ts.at(-1)!.toFixed(3)} s vs ${figures.b1.pt.at(-1)!.toFixed(3)} s; gen b8 ${figures.b8.ts.at(-1)!.toFixed(3)} s vs ${figures.b8.pt.at(-1)!.toFixed(3)} s\n`);
    }
    torch.close();
    torchGlibc.close();
    model.dispose();
    const row = (bench: string, f: { ts: number[]; pt: number[] }, tokens: number) => ({
      bench, ts: median(f.ts), pt: median(f.pt), ratio: median(f.ts.map((t, i) => t / f.pt[i]!)), tokens,
    });
    const rows = [
      row('model.train_step', figures.train, TRAIN.batch * TRAIN.seq),
      row('model.generate_b1', figures.b1, GEN.new),
      row('model.generate_b8', figures.b8, 8 * GEN.new),
      row('model.train_step.glibc_malloc', figures.glibc, TRAIN.batch * TRAIN.seq),
    ];
    process.stdout.write(`\nPyTorch ${String(info.torch)} eager vs spark-ts (libtorch addon), ${threads} threads\n`);
    process.stdout.write('figure                          spark-ts          PyTorch eager     ts/torch\n');
    for (const r of rows) {
      const unit = r.bench.startsWith('model.train_step') ? (s: number) => `${s.toFixed(3)} s/step` : (s: number) => `${(r.tokens / s).toFixed(1)} tok/s`;
      process.stdout.write(`${r.bench.padEnd(31)} ${unit(r.ts).padEnd(17)} ${unit(r.pt).padEnd(17)} ${r.ratio.toFixed(3)}\n`);
    }
    for (const r of rows) {
      process.stdout.write(JSON.stringify({ bench: r.bench, ts_s: Number(r.ts.toFixed(4)), baseline_s: Number(r.pt.toFixed(4)), ratio: Number(r.ratio.toFixed(3)), tokens: r.tokens, threads }) + '\n');
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench model: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
