/**
 * One training run — SPaRK's offline step-wise PPO or the SFT baseline — from a validated spec
 * (../spec.ts) to PEFT checkpoints (DESIGN §6). The same loop serves both modes and writes the same
 * checkpoint format, so base vs SFT vs SPaRK compare fairly:
 *
 *   load data + tokenizer → load the frozen base (dense or NF4) → LoRA adapters, plus the base matrices
 *   `lora.modulesToSave` trains in full (SFT only; model/lora.ts) (fresh, or from the last checkpoint
 *   with the optimiser state) → PPO: behaviour log-probs once (cached) → for each
 *   optimiser step: rewards and advantages over the step's batch, G micro-batches of forward (policy;
 *   PPO also the reference, adapters off) + objective (objective.ts) + backward, clip, AdamW with
 *   warmup + cosine LR → metrics, checkpoints.
 *
 * Every long native call runs off the JS thread, so a gRPC server in the same process keeps answering.
 * Randomness is a function of (seed, step) (checkpoint.ts, TrainerState.rng), so a run killed at any
 * point and resumed from its last checkpoint ends with the same weights as one that never stopped.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError, FailedPreconditionError } from '../../common/errors.js';
import { appendJsonl, readJsonl, writeFileAtomic } from '../../common/files.js';
import { deriveSeed } from '../../common/random.js';
import { LlamaModel } from '../model/llama.js';
import { createLora, loadLora, type LoraAdapter, type LoraTarget } from '../model/lora.js';
import { readSafetensors } from '../model/safetensors.js';
import { LlamaTokenizer } from '../model/tokenizer.js';
import { loadNative, setNumThreads } from '../native/index.js';
import { AdamW, clipGradNorm } from '../native/optim.js';
import { Tensor, manualSeed, noGrad, tidy } from '../native/tensor.js';
import { computeAdvantages, lrAt, maskedMean, updateKlControl, type KlControl } from '../ppo/index.js';
import { broadcastRows } from '../ppo/matrix.js';
import { computeRewards } from '../reward.js';
import type { TrainingSpec } from '../spec.js';
import { removeStaleTemporaries } from './atomic-dir.js';
import { actionLogProbs, collate, completionEntropy, completionMatrix, completionValues, toMatrix } from './batch.js';
import { behaviourLogProbs, type BehaviourLogProbs } from './behaviour.js';
import {
  FINAL_DIR, VALUE_HEAD_FILE, latestCheckpoint, listCheckpoints, loadOptimizer, readTrainerState, saveCheckpoint,
  type TrainerState,
} from './checkpoint.js';
import { readStepExamples, tokenizeExamples, type StepExample, type TokenizedExample } from './data.js';
import { devicePeak, trainingStepFlops } from './mfu.js';
import { entropyWeights, ppoObjective, sftObjective, type ObjectiveResult } from './objective.js';
import { BatchSchedule } from './schedule.js';

export const METRICS_FILE = 'metrics.jsonl';

export interface TrainingOptions {
  /** Aborting saves a checkpoint at the last finished step, then rejects with CancelledError. */
  signal?: AbortSignal;
  /** 'cpu', 'cuda', 'cuda:N'. @default 'cpu' */
  device?: string;
  /** libtorch intra-op threads; 0/undefined = leave as loaded (all cores). */
  threads?: number;
  /** Device peak for MFU in TFLOP/s; 0 = estimate (mfu.ts). */
  peakTflops?: number;
  /**
   * A base model already loaded (e.g. random weights built on the GPU by scripts/bench/gpu.ts), used
   * instead of loading `spec.baseModelPath` (which still provides the tokenizer). The caller owns it:
   * the run attaches its adapters but does not dispose it.
   */
  model?: LlamaModel;
  /** Once the run is loaded: its total optimiser steps and those already done (a resumed run). */
  onStart?(totalSteps: number, stepsDone: number): void;
  /** After every optimiser step (metrics carry `train/step`). */
  onStep?(step: number, totalSteps: number, metrics: Record<string, number>): void;
  /** Phase messages (loading, behaviour pass, checkpoints). */
  onLog?(message: string): void;
}

export interface TrainingResult {
  finalDir: string;
  steps: number;
  metrics: Record<string, number>;
  /** Step of the checkpoint the run resumed from. */
  resumedFrom?: number;
}

const VALUE_HEAD_KEYS = { weight: 'v_head.summary.weight', bias: 'v_head.summary.bias' } as const;

/** Means of per-micro-batch metric maps. */
function meanMetrics(all: Array<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of all) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v / all.length;
  return out;
}

/** Runs (or resumes) a training run to its end; see the file comment. */
export async function runTraining(spec: TrainingSpec, opts: TrainingOptions = {}): Promise<TrainingResult> {
  const run = await TrainingRun.open(spec, opts);
  try {
    return await run.train();
  } finally {
    run.dispose();
  }
}

class TrainingRun {
  private readonly log: (m: string) => void;
  private klControl: KlControl;
  private stepsDone: number;
  private lastSaved: number;
  private lastMetrics: Record<string, number> = {};

  private constructor(
    private readonly spec: TrainingSpec,
    private readonly opts: TrainingOptions,
    private readonly examples: StepExample[],
    private readonly rows: TokenizedExample[],
    private readonly dataSha256: string,
    private readonly schedule: BatchSchedule,
    private readonly model: LlamaModel,
    private readonly lora: LoraAdapter,
    private readonly valueHead: Map<string, Tensor> | undefined,
    private readonly params: Array<{ name: string; tensor: Tensor }>,
    private readonly optimizer: AdamW,
    private readonly behaviour: BehaviourLogProbs | undefined,
    private readonly peakFlops: number,
    resumed: TrainerState | undefined,
  ) {
    this.log = opts.onLog ?? (() => undefined);
    const h = spec.hyper;
    this.klControl = resumed?.klControl ?? (h.adaptiveKl
      ? { kind: 'adaptive', coef: h.klCoef, targetKl: h.targetKl, horizon: h.klHorizon }
      : { kind: 'fixed', coef: h.klCoef });
    this.stepsDone = resumed?.step ?? 0;
    this.lastSaved = this.stepsDone;
    this.lastMetrics = resumed?.metrics ?? {};
  }

  static async open(spec: TrainingSpec, opts: TrainingOptions): Promise<TrainingRun> {
    const log = opts.onLog ?? (() => undefined);
    if (opts.threads) setNumThreads(opts.threads);
    mkdirSync(spec.outDir, { recursive: true });
    removeStaleTemporaries(spec.outDir);
    const h = spec.hyper;
    const data = readStepExamples(spec.data);
    const tokenizer = LlamaTokenizer.load(spec.baseModelPath);
    const { rows, truncated } = tokenizeExamples(tokenizer, data.examples, h.maxSeqLen);
    log(`${rows.length} step examples tokenised${truncated ? ` (${truncated} cut to max_seq_len ${h.maxSeqLen})` : ''}`);
    const schedule = new BatchSchedule({ examples: rows.length, batchSize: h.batchSize, gradAccum: h.gradAccum, epochs: h.epochs, maxSteps: h.maxSteps, seed: h.seed });

    const checkpoint = spec.resume ? latestCheckpoint(spec.outDir) : undefined;
    if (!spec.resume && listCheckpoints(spec.outDir).length > 0) {
      throw new FailedPreconditionError(`${spec.outDir} already holds checkpoints: resume it (spark train resume, resume: true) or choose another output folder`);
    }
    const resumed = checkpoint && readTrainerState(checkpoint.dir);
    if (resumed && resumed.dataSha256 !== data.sha256) {
      throw new FailedPreconditionError(`${checkpoint!.dir} was trained on other data (sha256 ${resumed.dataSha256.slice(0, 12)}…, now ${data.sha256.slice(0, 12)}…)`);
    }

    const device = opts.model?.device ?? opts.device ?? 'cpu';
    const model = opts.model ?? await LlamaModel.load(spec.baseModelPath, { device, quantization: spec.lora.quantization, doubleQuant: spec.lora.doubleQuant });
    let lora: LoraAdapter | undefined;
    try {
      // Off is the model's default; a caller's model (opts.model) keeps its owner's setting unless the spec turns it on.
      if (h.activationCheckpointing) model.setActivationCheckpointing(true);
      // Adapter init draws from libtorch's generator: seed it so a run is reproducible from its seed.
      manualSeed(deriveSeed(h.seed, 'lora-init'));
      lora = checkpoint
        ? await loadLora(checkpoint.dir, model)
        : createLora(model, {
          rank: spec.lora.rank, alpha: spec.lora.alpha, dropout: spec.lora.dropout, targets: spec.lora.targetModules as LoraTarget[],
          modulesToSave: spec.lora.modulesToSave,
        });
      if (lora.config.modulesToSave.length > 0) log(`training ${lora.config.modulesToSave.join(', ')} in full next to the LoRA adapters (${lora.parameterCount} trainable parameters)`);
      const valueHead = h.valueHead ? await openValueHead(model, checkpoint?.dir) : undefined;
      const params = [...lora.tensors, ...(valueHead ?? [])].map(([name, tensor]) => ({ name, tensor }));
      const optimizer = new AdamW(params.map((p) => p.tensor), { lr: h.lr, weightDecay: h.weightDecay });
      if (checkpoint) {
        await loadOptimizer(checkpoint.dir, optimizer, params);
        log(`resumed from ${checkpoint.name} (step ${resumed!.step} of ${schedule.totalSteps})`);
      }
      let behaviour: BehaviourLogProbs | undefined;
      if (spec.mode === 'ppo') {
        const r = await behaviourLogProbs(model, rows, {
          batchSize: h.batchSize, outDir: spec.outDir, signal: opts.signal,
          key: { dataSha256: data.sha256, baseModelPath: spec.baseModelPath, quantization: spec.lora.quantization, maxSeqLen: h.maxSeqLen },
        });
        behaviour = r.behaviour;
        log(`behaviour log-probs ${r.cached ? 'read from the cache' : 'computed'} for ${rows.length} examples`);
      }
      const description = loadNative().info().devices.find((d) => d.startsWith(device === 'cuda' ? 'cuda:0' : device));
      const peak = devicePeak(device, { threads: loadNative().getNumThreads(), description, overrideTflops: opts.peakTflops });
      return new TrainingRun(spec, opts, data.examples, rows, data.sha256, schedule, model, lora, valueHead, params, optimizer, behaviour, peak.flops, resumed);
    } catch (err) {
      lora?.dispose(); // a caller's model gets its base matrices back
      if (!opts.model) model.dispose();
      throw err;
    }
  }

  dispose(): void {
    this.lora.dispose();
    for (const t of this.valueHead?.values() ?? []) t.dispose();
    if (!this.opts.model) this.model.dispose();
  }

  async train(): Promise<TrainingResult> {
    const total = this.schedule.totalSteps;
    const resumedFrom = this.stepsDone > 0 ? this.stepsDone : undefined;
    this.truncateMetricsLog();
    this.opts.onStart?.(total, this.stepsDone);
    while (this.stepsDone < total) {
      if (this.opts.signal?.aborted) await this.stop();
      const metrics = await this.step(this.stepsDone);
      this.stepsDone += 1;
      this.lastMetrics = metrics;
      appendJsonl(join(this.spec.outDir, METRICS_FILE), { step: this.stepsDone, time: new Date().toISOString(), ...metrics });
      this.opts.onStep?.(this.stepsDone, total, metrics);
      if (this.stepsDone % this.spec.hyper.saveEvery === 0 && this.stepsDone < total) await this.save(`checkpoint-${this.stepsDone}`);
    }
    const finalDir = join(this.spec.outDir, FINAL_DIR);
    const finished = listCheckpoints(this.spec.outDir).some((c) => c.final && c.step === total);
    if (!finished) await this.save(FINAL_DIR);
    return { finalDir, steps: total, metrics: this.lastMetrics, resumedFrom };
  }

  /** Saves the last finished step (unless just saved) and rejects with CancelledError. */
  private async stop(): Promise<never> {
    if (this.stepsDone > this.lastSaved) await this.save(`checkpoint-${this.stepsDone}`);
    const reason = this.opts.signal?.reason;
    throw reason instanceof Error ? reason : new CancelledError('training cancelled');
  }

  private async save(name: string): Promise<void> {
    const dir = join(this.spec.outDir, name);
    await saveCheckpoint(dir, {
      adapter: this.lora,
      params: this.params,
      optimizer: this.optimizer,
      valueHead: this.valueHead,
      spec: this.spec,
      state: {
        step: this.stepsDone,
        totalSteps: this.schedule.totalSteps,
        epoch: this.schedule.epochAt(this.stepsDone),
        mode: this.spec.mode,
        klControl: this.klControl,
        rng: { seed: this.spec.hyper.seed, scheme: 'derive-per-step' },
        dataSha256: this.dataSha256,
        metrics: this.lastMetrics,
        createdAt: new Date().toISOString(),
      },
    });
    this.lastSaved = this.stepsDone;
    this.log(`saved ${dir}`);
  }

  /** metrics.jsonl keeps the steps up to the resumed one, so the curve continues without duplicates. */
  private truncateMetricsLog(): void {
    const path = join(this.spec.outDir, METRICS_FILE);
    const kept = readJsonl<{ step: number }>(path).filter((r) => r.step <= this.stepsDone);
    writeFileAtomic(path, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }

  /** One optimiser step over G micro-batches; returns the step's metrics. */
  private async step(step: number): Promise<Record<string, number>> {
    const { spec, schedule } = this;
    const h = spec.hyper;
    const started = performance.now();
    // LoRA dropout draws from libtorch's generator: re-seeded per step, so the step number is its state.
    manualSeed(deriveSeed(h.seed, `step-${step}`));
    const lr = lrAt(step, { peakLr: h.lr, warmupSteps: h.warmupSteps, totalSteps: schedule.totalSteps, minLrRatio: h.minLrRatio });
    this.optimizer.setLr(lr);
    const micro = schedule.step(step).filter((m) => m.length > 0);
    const all = micro.flat();
    // Rewards and (without a value head) advantages are normalised over the whole step batch.
    const { rewards, metrics: rewardMetrics } = computeRewards(all.map((i) => this.examples[i]!), spec.reward);
    const oneTokenEach = { batch: all.length, respLen: 1, data: new Float32Array(all.length).fill(1) };
    const stepAdv = computeAdvantages({ rewards, responseMask: oneTokenEach, normalize: h.normalizeAdvantages });
    const results: Array<Record<string, number>> = [];
    let tokens = 0, flops = 0, offset = 0;
    for (const indices of micro) {
      if (this.opts.signal?.aborted) {
        this.optimizer.zeroGrad(); // the unfinished step is dropped; the checkpoint holds the last whole one
        await this.stop();
      }
      const slice = (a: Float32Array) => a.slice(offset, offset + indices.length);
      const r = await this.microStep(indices, slice(rewards), slice(stepAdv.advantages.data), micro.length);
      results.push(r.metrics);
      tokens += r.tokens;
      flops += r.flops;
      offset += indices.length;
    }
    const params = this.params.map((p) => p.tensor);
    const gradNorm = clipGradNorm(params, h.maxGradNorm);
    await this.optimizer.step();
    this.optimizer.zeroGrad();
    const metrics = meanMetrics(results);
    if (spec.mode === 'ppo') this.klControl = updateKlControl(this.klControl, metrics['actor/kl_loss'] ?? 0);
    const seconds = (performance.now() - started) / 1000;
    return {
      ...metrics,
      ...rewardMetrics,
      ...Object.fromEntries(Object.entries(stepAdv.metrics).filter(([k]) => k.startsWith('critic/score'))),
      'actor/grad_norm': gradNorm,
      'actor/lr': lr,
      'perf/tokens_per_second': tokens / seconds,
      'perf/mfu': this.peakFlops > 0 ? flops / seconds / this.peakFlops : 0,
      'perf/step_time_s': seconds,
      'train/step': step + 1,
      'train/epoch': schedule.epochAt(step + 1),
    };
  }

  /** Forward, objective and backward of one micro-batch; gradients accumulate (scaled by 1/G). */
  private microStep(indices: number[], rewards: Float32Array, advantages: Float32Array, accum: number) {
    const { spec, model } = this;
    const h = spec.hyper;
    return tidy(async () => {
      const batch = collate(indices.map((i) => this.rows[i]!), model.device);
      const mask = batch.responseMask;
      const fwd = await actionLogProbs(model, batch, { training: true, wantHidden: !!this.valueHead });
      const logProb = toMatrix(fwd.logProb.to('float32', 'cpu'));
      let objective: ObjectiveResult;
      let preds: Tensor | undefined;
      if (spec.mode === 'sft') {
        objective = sftObjective(logProb, mask, h.lossAggMode);
      } else {
        // The reference policy is the base with the adapters off, and so is the behaviour policy
        // (behaviour.ts): its log-probs serve as both, computed once instead of a forward per step.
        const behaviour = this.behaviour!.matrix(indices, mask.respLen);
        let values: { preds: ReturnType<typeof toMatrix>; returns: ReturnType<typeof toMatrix> } | undefined;
        let adv = broadcastRows(advantages, mask);
        if (this.valueHead) {
          const w = this.valueHead.get(VALUE_HEAD_KEYS.weight)!, b = this.valueHead.get(VALUE_HEAD_KEYS.bias)!;
          preds = fwd.hidden!.to('float32').matmul(w.transpose(0, 1)).squeeze(2).add(b);
          const predM = toMatrix(preds.detach().to('float32', 'cpu'));
          const a = computeAdvantages({ rewards, responseMask: mask, values: predM, normalize: h.normalizeAdvantages });
          adv = a.advantages;
          values = { preds: predM, returns: a.returns };
        }
        objective = ppoObjective(
          { oldLogProb: behaviour, logProb, refLogProb: behaviour, advantages: adv, responseMask: mask, klCoef: this.klControl.coef, values },
          { policyLoss: h.policyLoss, clipEps: h.clipEps, clipEpsHigh: h.clipEpsHigh, lossAggMode: h.lossAggMode, klEstimator: h.klEstimator, valueLossCoef: h.valueLossCoef },
        );
      }
      // Σ logProb ⊙ (∂loss/∂logProb) / G has the objective's gradient; the model's backward does the rest.
      const scale = (m: { data: Float32Array }, s: number) => Tensor.fromData(m.data.map((x) => x * s), [mask.batch, mask.respLen], 'float32', model.device);
      let surrogate = fwd.logProb.mul(scale(objective.gradLogProb, 1 / accum)).sum();
      const weights = entropyWeights(mask, h.lossAggMode);
      const lengths = batch.completionLengths;
      const entropy = h.entropyCoef > 0 ? completionEntropy(fwd.logits, lengths) : noGrad(() => completionEntropy(fwd.logits.detach(), lengths));
      const entropyM = completionMatrix(entropy.detach().to('float32', 'cpu').data() as Float32Array, lengths, mask.respLen);
      const entropyAgg = weights.data.reduce((acc, w, i) => acc + w * entropyM.data[i]!, 0);
      if (h.entropyCoef > 0) {
        const w = completionValues(weights, lengths).map((x) => x * h.entropyCoef / accum);
        surrogate = surrogate.sub(entropy.mul(Tensor.fromData(w, [w.length], 'float32', model.device)).sum());
      }
      if (preds && objective.gradValues) surrogate = surrogate.add(preds.mul(scale(objective.gradValues, 1 / accum)).sum());
      await surrogate.backward();
      const metrics: Record<string, number> = {
        ...objective.metrics,
        'actor/loss': objective.loss - h.entropyCoef * entropyAgg,
        'actor/entropy': maskedMean(entropyM, mask),
        'response_length/mean': batch.completionLengths.reduce((x, y) => x + y, 0) / batch.completionLengths.length,
      };
      return { metrics, tokens: batch.tokens, flops: trainingStepFlops(model.config, batch.rowLengths, mask.respLen) };
    });
  }
}

/** A value head (hidden → 1, as TRL's `v_head.summary`), zero-initialised or read from a checkpoint. */
async function openValueHead(model: LlamaModel, checkpointDir?: string): Promise<Map<string, Tensor>> {
  const saved = checkpointDir ? await readSafetensors(join(checkpointDir, VALUE_HEAD_FILE), model.device) : undefined;
  try {
    return tidy(() => noGrad(() => {
      const w = saved?.get(VALUE_HEAD_KEYS.weight)?.to('float32').clone() ?? Tensor.zeros([1, model.config.hiddenSize], 'float32', model.device);
      const b = saved?.get(VALUE_HEAD_KEYS.bias)?.to('float32').clone() ?? Tensor.zeros([1], 'float32', model.device);
      return new Map([[VALUE_HEAD_KEYS.weight, w.setRequiresGrad(true)], [VALUE_HEAD_KEYS.bias, b.setRequiresGrad(true)]]);
    }));
  } finally {
    for (const t of saved?.values() ?? []) t.dispose();
  }
}
