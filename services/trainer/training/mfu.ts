/**
 * Model FLOPs utilisation (MFU): the FLOPs a training step needs by the model's shape, divided by what
 * the device could do in the step's time at its peak (PaLM, arXiv 2204.02311, appendix B; nanoGPT's
 * `estimate_mfu`). Counted from first principles for LoRA on a frozen base:
 *
 * - forward, per row of T tokens: 2 · P_linear · T for the projections, 4 · L · (heads · head_dim) · T²
 *   for attention scores and the weighted sum (the full T × T matrix is computed), and
 *   2 · vocab · hidden · K for the LM head on the K kept positions only (batch.ts);
 * - backward: one more forward's worth: gradients flow to the activations through every frozen weight,
 *   but no weight gradient is formed except the adapters' (rank r ≪ hidden, not counted);
 * - nothing more for PPO: its KL reference is the base with the adapters off, which is also the
 *   behaviour policy whose log-probs are computed once before training (behaviour.ts), not per step.
 *
 * The peak: CUDA devices from a table of dense bf16 tensor-core peaks (vendor datasheets); CPUs as
 * cores × clock × FLOPs per cycle of their widest FMA unit (AVX-512: 2 units × 16 fp32 lanes × 2 = 64;
 * AVX2: 32). `SPARK_TRAINER_PEAK_TFLOPS` overrides both (the trainer config's `peakTflops`).
 */
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import type { LlamaConfig } from '../model/config.js';

/** Dense bf16 peaks (FLOP/s) by a substring of the CUDA device name, most specific first. */
const GPU_PEAKS: ReadonlyArray<[RegExp, number]> = [
  [/H200/i, 989e12],
  [/H100.*PCIe/i, 756e12],
  [/H100/i, 989e12],
  [/GH200/i, 989e12],
  [/B200/i, 2250e12],
  [/A100/i, 312e12],
  [/L40S/i, 362e12],
  [/L40/i, 181e12],
  [/L4\b/i, 121e12],
  [/A10G/i, 70e12],
  [/A10\b/i, 125e12],
  [/RTX 4090/i, 165e12],
  [/RTX 3090/i, 71e12],
  [/V100/i, 125e12],
  [/T4\b/i, 65e12],
];

export interface PeakEstimate {
  /** FLOP/s, or 0 when unknown (MFU is then reported as 0). */
  flops: number;
  /** How it was obtained, for `spark doctor`. */
  source: string;
}

/** The CPU's fp32 peak from /proc/cpuinfo (clock and vector width) and the thread count used. */
export function cpuPeak(threads = availableParallelism(), cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : ''): PeakEstimate {
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1] ?? NaN);
  const ghz = Number.isFinite(mhz) && mhz > 0 ? mhz / 1000 : 2.5;
  const perCycle = /\bavx512f\b/.test(flags) ? 64 : /\bfma\b/.test(flags) && /\bavx2\b/.test(flags) ? 32 : /\bavx\b/.test(flags) ? 16 : 8;
  return { flops: threads * ghz * 1e9 * perCycle, source: `cpu: ${threads} threads × ${ghz.toFixed(2)} GHz × ${perCycle} fp32 FLOP/cycle` };
}

/** Peak of a device: 'cpu', or a CUDA device described as the addon's `info().devices` entry. */
export function devicePeak(device: string, opts: { threads?: number; description?: string; overrideTflops?: number } = {}): PeakEstimate {
  if (opts.overrideTflops && opts.overrideTflops > 0) return { flops: opts.overrideTflops * 1e12, source: `configured: ${opts.overrideTflops} TFLOP/s` };
  if (!device.startsWith('cuda')) return cpuPeak(opts.threads);
  const name = opts.description ?? device;
  const hit = GPU_PEAKS.find(([re]) => re.test(name));
  return hit
    ? { flops: hit[1], source: `${name}: ${hit[1] / 1e12} TFLOP/s dense bf16 (datasheet)` }
    : { flops: 0, source: `${name}: unknown peak (set SPARK_TRAINER_PEAK_TFLOPS)` };
}

/** Parameters of the decoder layers' linear projections (what every token multiplies through). */
export function linearParameters(c: LlamaConfig): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  return c.numLayers * (c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize);
}

/** Forward FLOPs of one batch: rows of `rowLengths` tokens, LM head on `keptPositions` per row. */
export function forwardFlops(c: LlamaConfig, rowLengths: readonly number[], keptPositions: number): number {
  const attnWidth = c.numHeads * c.headDim;
  // Padded batches compute every row at the batch's length.
  const seq = Math.max(0, ...rowLengths);
  const rows = rowLengths.length;
  return rows * (2 * linearParameters(c) * seq + 4 * c.numLayers * attnWidth * seq * seq + 2 * c.vocabSize * c.hiddenSize * keptPositions);
}

/** FLOPs of one micro-batch of a training step (see the file comment for the passes counted). */
export function trainingStepFlops(c: LlamaConfig, rowLengths: readonly number[], keptPositions: number): number {
  return 2 * forwardFlops(c, rowLengths, keptPositions);
}
