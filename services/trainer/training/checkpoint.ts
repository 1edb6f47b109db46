/**
 * Training checkpoints: `<out>/checkpoint-<step>/` every `saveEvery` steps and `<out>/final/` at the end,
 * each a folder that HF PEFT and vLLM load as a LoRA adapter as it is, plus what a resumed run needs:
 *
 *   adapter_config.json          PEFT LoraConfig (../peft.ts)
 *   adapter_model.safetensors    LoRA A/B with PEFT key names (and modules trained in full, e.g. embed_tokens)
 *   optimizer.safetensors        AdamW moments per parameter (`<key>.exp_avg`, `<key>.exp_avg_sq`), step counts in metadata
 *   value_head.safetensors       the value head (only with hyper.valueHead)
 *   trainer_state.json           step, KL controller, RNG scheme, data hash, last metrics
 *   spark_training.json          the whole training spec (reward weights included)
 *
 * Folders are written atomically (atomic-dir.ts): a crash leaves the previous checkpoints, never half a new one.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/files.js';
import { adapterConfigOf, type LoraAdapter } from '../model/lora.js';
import { readSafetensors, readSafetensorsHeader, tensorSource, writeSafetensors } from '../model/safetensors.js';
import type { AdamW, AdamWState } from '../native/optim.js';
import type { Tensor } from '../native/tensor.js';
import { ADAPTER_WEIGHTS_FILE, writeAdapterConfig } from '../peft.js';
import type { KlControl } from '../ppo/kl-controller.js';
import type { TrainingSpec } from '../spec.js';
import { writeDirAtomic } from './atomic-dir.js';

export const CHECKPOINT_PREFIX = 'checkpoint-';
export const FINAL_DIR = 'final';
export const TRAINER_STATE_FILE = 'trainer_state.json';
export const TRAINING_CONFIG_FILE = 'spark_training.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const VALUE_HEAD_FILE = 'value_head.safetensors';
/** Media type of an adapter folder in ArtifactRefs. */
export const PEFT_ADAPTER_MEDIA_TYPE = 'application/x-peft-adapter';

/** What a resumed run reads back besides the tensors. */
export interface TrainerState {
  /** Optimiser steps done. */
  step: number;
  totalSteps: number;
  /** Fractional epoch reached. */
  epoch: number;
  mode: TrainingSpec['mode'];
  klControl: KlControl;
  /**
   * Randomness is a function of (seed, step): libtorch's generator (LoRA dropout) is re-seeded with
   * deriveSeed(seed, "step-<n>") before step n, and each epoch's shuffle with deriveSeed(seed,
   * "epoch-<e>"); so the step is the whole RNG state.
   */
  rng: { seed: number; scheme: 'derive-per-step' };
  dataSha256: string;
  /** Metrics of the last step. */
  metrics: Record<string, number>;
  createdAt: string;
}

export interface CheckpointContents {
  adapter: LoraAdapter;
  /** Trainable tensors in optimiser order, with their names (the adapter's PEFT keys, saved modules included, then the value head's). */
  params: ReadonlyArray<{ name: string; tensor: Tensor }>;
  optimizer: AdamW;
  valueHead?: ReadonlyMap<string, Tensor>;
  state: TrainerState;
  spec: TrainingSpec;
}

/** Writes a checkpoint folder atomically (replacing one of the same name). */
export async function saveCheckpoint(dir: string, c: CheckpointContents): Promise<void> {
  const config = adapterConfigOf(c.adapter, c.spec.baseModelPath);
  await writeDirAtomic(dir, async (tmp) => {
    writeAdapterConfig(tmp, config);
    await writeSafetensors(join(tmp, ADAPTER_WEIGHTS_FILE), [...c.adapter.tensors].map(([name, t]) => tensorSource(name, t)), { format: 'pt' });
    await writeOptimizer(join(tmp, OPTIMIZER_FILE), c.optimizer, c.params);
    if (c.valueHead) await writeSafetensors(join(tmp, VALUE_HEAD_FILE), [...c.valueHead].map(([name, t]) => tensorSource(name, t)), { format: 'pt' });
    writeFileAtomic(join(tmp, TRAINER_STATE_FILE), `${JSON.stringify(c.state, null, 2)}\n`);
    writeFileAtomic(join(tmp, TRAINING_CONFIG_FILE), `${JSON.stringify({ format: 'spark-training/v1', spec: c.spec }, null, 2)}\n`);
  });
}

async function writeOptimizer(path: string, optimizer: AdamW, params: CheckpointContents['params']): Promise<void> {
  const state = optimizer.state();
  try {
    if (state.length !== params.length) throw new RangeError(`optimizer has ${state.length} parameters, the checkpoint names ${params.length}`);
    const steps: Record<string, number> = {};
    const sources = state.flatMap((s, i) => {
      if (!s) return [];
      const name = params[i]!.name;
      steps[name] = s.step;
      return [tensorSource(`${name}.exp_avg`, s.expAvg), tensorSource(`${name}.exp_avg_sq`, s.expAvgSq)];
    });
    await writeSafetensors(path, sources, { format: 'pt', steps: JSON.stringify(steps) });
  } finally {
    for (const s of state) { s?.expAvg.dispose(); s?.expAvgSq.dispose(); }
  }
}

/** Loads the AdamW moments of a checkpoint into `optimizer` (parameters matched by name). */
export async function loadOptimizer(dir: string, optimizer: AdamW, params: CheckpointContents['params']): Promise<void> {
  const path = join(dir, OPTIMIZER_FILE);
  if (!existsSync(path)) throw new NotFoundError('optimizer state', path);
  const { metadata } = readSafetensorsHeader(path);
  const steps = JSON.parse(metadata.steps ?? '{}') as Record<string, number>;
  const tensors = await readSafetensors(path);
  try {
    const state: AdamWState = params.map(({ name }) => {
      const step = steps[name];
      if (step === undefined) return null;
      const expAvg = tensors.get(`${name}.exp_avg`);
      const expAvgSq = tensors.get(`${name}.exp_avg_sq`);
      if (!expAvg || !expAvgSq) throw new NotFoundError('optimizer moments of', `${name} (in ${path})`);
      return { step, expAvg, expAvgSq };
    });
    optimizer.loadState(state);
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

export function readTrainerState(dir: string): TrainerState {
  const path = join(dir, TRAINER_STATE_FILE);
  if (!existsSync(path)) throw new NotFoundError('trainer state', path);
  return JSON.parse(readFileSync(path, 'utf8')) as TrainerState;
}

/** The training spec a checkpoint (or final folder) was written with. */
export function readTrainingConfig(dir: string): TrainingSpec {
  const path = join(dir, TRAINING_CONFIG_FILE);
  if (!existsSync(path)) throw new NotFoundError('training config', path);
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { format?: string; spec?: TrainingSpec };
  if (raw.format !== 'spark-training/v1' || !raw.spec) throw new InvalidArgumentError(path, 'is not a spark training config', 'format spark-training/v1');
  return raw.spec;
}

export interface CheckpointInfo {
  dir: string;
  name: string;
  step: number;
  createdAt: string;
  metrics: Record<string, number>;
  final: boolean;
}

/** Complete checkpoints of an output folder, oldest first, `final/` last. */
export function listCheckpoints(outDir: string): CheckpointInfo[] {
  if (!existsSync(outDir) || !statSync(outDir).isDirectory()) return [];
  const out: CheckpointInfo[] = [];
  for (const name of readdirSync(outDir)) {
    const isFinal = name === FINAL_DIR;
    if (!isFinal && !/^checkpoint-\d+$/.test(name)) continue;
    const dir = join(outDir, name);
    if (!existsSync(join(dir, TRAINER_STATE_FILE))) continue; // never a half-written one: those carry a .tmp name
    const state = readTrainerState(dir);
    out.push({ dir, name, step: state.step, createdAt: state.createdAt, metrics: state.metrics, final: isFinal });
  }
  return out.sort((a, b) => Number(a.final) - Number(b.final) || a.step - b.step);
}

/** The checkpoint a resumed run starts from: the one with the most steps (`final/` wins a tie). */
export function latestCheckpoint(outDir: string): CheckpointInfo | undefined {
  return listCheckpoints(outDir).reduce<CheckpointInfo | undefined>((best, c) => (!best || c.step >= best.step ? c : best), undefined);
}
