/**
 * The PPO benchmark batch shared by scripts/bench/ppo.ts (CPU) and scripts/bench/gpu.ts (CUDA): step
 * examples longer than the sequence length (the trainer cuts their contexts from the left, so every row
 * is exactly `seq` tokens), the training spec around them, and the same batch laid out as the trainer
 * collates it, as JSON for the PyTorch side (ppo_torch.py, gpu_torch.py).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LlamaTokenizer } from '../../services/trainer/model/tokenizer.js';
import { noGrad, tidy } from '../../services/trainer/native/tensor.js';
import { parseTrainingSpec, type TrainingSpec } from '../../services/trainer/spec.js';
import { collate } from '../../services/trainer/training/batch.js';
import { readStepExamples, tokenizeExamples } from '../../services/trainer/training/data.js';

export const PPO_LORA = { rank: 16, alpha: 32, dropout: 0.05 };
export const PPO_HYPER = { lr: 1e-4, clipEps: 0.2, klCoef: 0.05 };

export interface PpoBench {
  /** Folder holding steps.jsonl. */
  dir: string;
  /** Model folder (config.json + tokenizer files at least). */
  modelDir: string;
  batch: number;
  seq: number;
  /** Optimiser steps in all (warm-up included). */
  maxSteps: number;
  /** The spec's hyper.activationCheckpointing. @default false */
  activationCheckpointing?: boolean;
  quantization?: 'none' | 'nf4';
}

/** Writes `batch` step examples longer than `seq` tokens to `<dir>/steps.jsonl`. */
export function writeStepExamples(dir: string, batch: number, seq: number): string {
  const filler = (i: number) => Array.from({ length: seq }, (_, k) => `fact ${i}.${k} holds`).join('; ');
  const lines = Array.from({ length: batch }, (_, i) => JSON.stringify({
    question_id: i, category: 'math', step_index: 0, num_steps: 2, is_final: false, action: i % 2 ? 'calculator' : 'cot',
    messages: [{ role: 'system', content: 'Solve with tools.' }, { role: 'user', content: filler(i) }],
    completion: `{"name": "calculator", "parameters": {"expression": "${Array.from({ length: 12 }, (_, k) => `${i + k} * ${k + 3}`).join(' + ')}"}}<|eom_id|>`,
    reward: { judge_score: 0.5 + 0.05 * i, correctness: i % 2, diversity: 0.5 },
  }));
  const path = join(dir, 'steps.jsonl');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The training spec of the benchmark: one optimiser step per batch, no checkpoints but the final one. */
export function ppoSpec(b: PpoBench, outDir = join(b.dir, `run-${process.pid}`)): TrainingSpec {
  return parseTrainingSpec({
    mode: 'ppo', data: join(b.dir, 'steps.jsonl'), baseModelPath: b.modelDir, outDir,
    lora: { ...PPO_LORA, quantization: b.quantization ?? 'none' },
    hyper: {
      ...PPO_HYPER, maxSteps: b.maxSteps, batchSize: b.batch, gradAccum: 1, warmupSteps: 0, maxSeqLen: b.seq, saveEvery: 1_000_000,
      activationCheckpointing: b.activationCheckpointing ?? false,
    },
  });
}

/** The step examples and their token rows, as the trainer reads and cuts them. */
export function ppoRows(b: PpoBench) {
  const s = ppoSpec(b);
  const { examples } = readStepExamples(s.data);
  const { rows } = tokenizeExamples(LlamaTokenizer.load(s.baseModelPath), examples, b.seq);
  return { examples, rows };
}

/** The batch as the trainer lays it out, plus the step's settings, as JSON for the PyTorch side. */
export function writeTorchBatch(b: PpoBench, path: string, extra: Record<string, unknown> = {}): string {
  const s = ppoSpec(b);
  const { examples, rows } = ppoRows(b);
  const batch = noGrad(() => tidy(() => {
    const c = collate(rows);
    const [n, width] = c.ids.shape as [number, number];
    const a = c.responseMask.respLen;
    const toRows = (flat: number[], w: number) => Array.from({ length: n }, (_, r) => flat.slice(r * w, (r + 1) * w));
    return {
      ids: toRows(c.ids.toArray(), width),
      attention_mask: c.attentionMask ? toRows(c.attentionMask.toArray(), width) : null,
      targets: toRows(c.targets.toArray(), a),
      response_mask: toRows(Array.from(c.responseMask.data), a),
    };
  }));
  // The trainer's reward with its default weights (services/trainer/reward.ts).
  const rewards = examples.map((e) => 1 * e.reward.correctness + 0.5 * e.reward.judge_score + 0.25 * e.reward.diversity);
  writeFileSync(path, JSON.stringify({
    model: s.baseModelPath, rewards, ...batch,
    rank: PPO_LORA.rank, alpha: PPO_LORA.alpha, dropout: PPO_LORA.dropout, lr: PPO_HYPER.lr, clip_eps: PPO_HYPER.clipEps, kl_coef: PPO_HYPER.klCoef,
    ...extra,
  }));
  return path;
}
