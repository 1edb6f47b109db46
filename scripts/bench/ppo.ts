/**
 * One offline-PPO optimiser step on a ~31M-parameter Llama-shaped model (hidden 224, 4 layers, GQA 4/2,
 * the real 128,256-token vocabulary, tied embeddings) — forward of the policy (LoRA r=16 on all seven
 * projections, dropout on), clipped surrogate + k3 KL against the cached behaviour = reference log-probs,
 * entropy for the metrics, backward, grad clipping, AdamW — in the TypeScript trainer vs the same step
 * in PyTorch eager (scripts/bench/ppo_torch.py on Debian's python3-torch, the same libtorch 1.13), on
 * the same CPU, threads and environment, side by side.
 *
 * The TS figure is the trainer's own step (services/trainer/training/trainer.ts, `perf/step_time_s`):
 * rewards, advantages, the RL math in TypeScript and the fused native forward/backward. Both sides get
 * the same batch: 8 step examples of `--seq` tokens (the context cut from the left, as the trainer
 * does), logits at the action positions only. The two sides run as child processes with the same
 * environment (bench-env.ts), alternating, `--rounds` times;
 * the figure is the median step time after `--warmup` steps.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/bench/ppo.js [--threads 2] [--steps 5] [--warmup 2] [--rounds 3] [--seq 256]
 *
 * Ends with one JSON line: {"bench":"ppo.step","ts_s","baseline_s","ratio"} with ratio = ts_s /
 * baseline_s (target ≤ 1.0).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from '../../services/common/paths.js';
import { initCheckpoint } from '../../services/trainer/model/init.js';
import { setNumThreads } from '../../services/trainer/native/index.js';
import { runTraining } from '../../services/trainer/training/trainer.js';
import { BENCH_ENV } from './bench-env.js';
import { PPO_LORA, ppoSpec, writeStepExamples, writeTorchBatch, type PpoBench } from './ppo-data.js';

const TORCH_PYTHON = process.env.SPARK_TORCH_PYTHON ?? '/usr/bin/python3';
const TORCH_SCRIPT = join(REPO_ROOT, 'scripts', 'bench', 'ppo_torch.py');
/** ≈ 31 M parameters: 28.7 M in the tied 128,256 × 224 embedding, 2.3 M in four decoder layers. */
const MODEL_SHAPE = { hidden_size: 224, intermediate_size: 640, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2 };
const BATCH = 8;

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    seq: { type: 'string', default: '256' },
    side: { type: 'string' },
    dir: { type: 'string' },
  },
});
const threads = Number(args.threads);
const steps = Number(args.steps);
const warmup = Number(args.warmup);
const seq = Number(args.seq);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bench = (dir: string): PpoBench => ({ dir, modelDir: join(dir, 'model'), batch: BATCH, seq, maxSteps: warmup + steps });

/** Child: the TypeScript trainer's step times. */
async function tsSide(dir: string): Promise<void> {
  setNumThreads(threads);
  const times: number[] = [];
  const spec = ppoSpec(bench(dir));
  await runTraining(spec, { threads, onStep: (_, __, m) => times.push(m['perf/step_time_s']!) });
  rmSync(spec.outDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ step_s: times.slice(warmup) })}\n`);
}

function child(cmd: string, argv: string[]): number[] {
  const out = execFileSync(cmd, argv, { env: { ...process.env, ...BENCH_ENV }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
  const last = out.trim().split('\n').at(-1)!;
  return (JSON.parse(last) as { step_s: number[] }).step_s;
}

async function main(): Promise<void> {
  if (args.side === 'ts') return tsSide(args.dir!);
  const dir = mkdtempSync(join(tmpdir(), 'spark-bench-ppo-'));
  try {
    const init = await initCheckpoint(join(dir, 'model'), { preset: 'small', dtype: 'float32', seed: 0, overrides: MODEL_SHAPE });
    writeStepExamples(dir, BATCH, seq);
    const batchFile = writeTorchBatch(bench(dir), join(dir, 'batch.json'), { threads, steps, warmup });
    process.stdout.write(`model: ${(init.parameters / 1e6).toFixed(1)} M parameters; batch ${BATCH} × ${seq} tokens; LoRA r=${PPO_LORA.rank}; ${threads} threads\n`);
    const ts: number[] = [];
    const torch: number[] = [];
    for (let r = 0; r < Number(args.rounds); r++) {
      ts.push(...child(process.execPath, [fileURLToPath(import.meta.url), '--side', 'ts', '--dir', dir, '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup), '--seq', String(seq)]));
      torch.push(...child(TORCH_PYTHON, [TORCH_SCRIPT, batchFile]));
      process.stdout.write(`round ${r + 1}: ts ${median(ts).toFixed(3)} s, torch ${median(torch).toFixed(3)} s (medians so far)\n`);
    }
    const tsS = median(ts);
    const baseS = median(torch);
    process.stdout.write(`ppo step: TypeScript ${tsS.toFixed(3)} s, PyTorch eager ${baseS.toFixed(3)} s → ratio ${(tsS / baseS).toFixed(3)} (target ≤ 1.0)\n`);
    process.stdout.write(`${JSON.stringify({ bench: 'ppo.step', ts_s: Number(tsS.toFixed(4)), baseline_s: Number(baseS.toFixed(4)), ratio: Number((tsS / baseS).toFixed(3)) })}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
