/**
 * `spark train`: SPaRK's offline step-wise PPO and the SFT baseline on step examples, in this process.
 *
 *   spark train ppo|sft --data FILE --model PATH --out DIR [--steps N] [--lr X] [--rank R] [...]
 *   spark train resume DIR                 continue a run from its last checkpoint
 *   spark train run --spec FILE            a JSON training spec (what a Kubernetes training pod runs)
 *   spark train merge --model PATH --adapter DIR --out DIR
 *
 * A bad spec is rejected before any work, naming the flag. ppo/sft/resume show a progress bar (step,
 * loss, reward, KL, tokens/s, ETA); `run` prints one JSON line per step on stdout for the trainer service
 * to read from the pod log. Ctrl-C / SIGTERM saves a checkpoint and stops; `resume` continues it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.js';
import { createProgress, type Progress } from '../common/progress.js';
import { loadNative } from '../trainer/native/index.js';
import { SPEC_FILE } from '../trainer/training/executors.js';
import { latestCheckpoint, readTrainingConfig } from '../trainer/training/checkpoint.js';
import { mergeAdapter } from '../trainer/training/merge.js';
import { formatStepLine } from '../trainer/training/step-log.js';
import { runTraining, type TrainingOptions } from '../trainer/training/trainer.js';
import { loadTrainingSpecFile, parseTrainingSpec, type TrainingModeName, type TrainingSpec } from '../trainer/spec.js';
import { wholeNumber } from './options.js';

/** Spec field → the flag that sets it, so errors name what the user typed. */
const FLAG_OF: Record<string, string> = {
  data: '--data', baseModelPath: '--model', outDir: '--out',
  'lora.rank': '--rank', 'lora.alpha': '--alpha', 'lora.dropout': '--dropout', 'lora.targetModules': '--targets',
  'lora.quantization': '--quant', 'lora.doubleQuant': '--double-quant', 'lora.modulesToSave': '--modules-to-save',
  'hyper.lr': '--lr', 'hyper.maxSteps': '--steps', 'hyper.epochs': '--epochs', 'hyper.batchSize': '--batch-size',
  'hyper.gradAccum': '--grad-accum', 'hyper.warmupSteps': '--warmup-steps', 'hyper.minLrRatio': '--min-lr-ratio',
  'hyper.weightDecay': '--weight-decay', 'hyper.maxGradNorm': '--max-grad-norm', 'hyper.clipEps': '--clip-eps',
  'hyper.policyLoss': '--policy-loss', 'hyper.lossAggMode': '--loss-agg-mode', 'hyper.klCoef': '--kl-coef',
  'hyper.klEstimator': '--kl-estimator', 'hyper.adaptiveKl': '--adaptive-kl', 'hyper.targetKl': '--target-kl',
  'hyper.entropyCoef': '--entropy-coef', 'hyper.normalizeAdvantages': '--no-normalize-advantages', 'hyper.valueHead': '--value-head',
  'hyper.seed': '--seed', 'hyper.maxSeqLen': '--max-seq-len', 'hyper.saveEvery': '--save-every',
  'hyper.activationCheckpointing': '--activation-checkpointing',
  'reward.correctnessWeight': '--correctness-weight', 'reward.judgeWeight': '--judge-weight',
  'reward.diversityWeight': '--diversity-weight', 'reward.diversityKind': '--diversity-kind',
};

/** Flags of `ppo` / `sft`, as commander hands them over (numbers still strings: the spec checks them). */
interface TrainFlags {
  data: string; model: string; out: string; resume?: boolean; device: string; threads?: number;
  steps?: string; lr?: string; rank?: string; alpha?: string; dropout?: string; targets?: string; quant?: string; doubleQuant?: boolean; modulesToSave?: string;
  epochs?: string; batchSize?: string; gradAccum?: string; warmupSteps?: string; minLrRatio?: string; weightDecay?: string;
  maxGradNorm?: string; clipEps?: string; policyLoss?: string; lossAggMode?: string; klCoef?: string; klEstimator?: string;
  adaptiveKl?: boolean; targetKl?: string; entropyCoef?: string; normalizeAdvantages: boolean; valueHead?: boolean;
  seed?: string; maxSeqLen?: string; saveEvery?: string; activationCheckpointing?: boolean;
  correctnessWeight?: string; judgeWeight?: string; diversityWeight?: string; diversityKind?: string;
}

const num = (x?: string) => (x === undefined ? undefined : Number(x));

/** The raw spec of `spark train <mode>` flags (validated by parseTrainingSpec). */
export function specFromFlags(mode: TrainingModeName, f: TrainFlags): unknown {
  return {
    mode,
    data: resolve(f.data),
    baseModelPath: resolve(f.model),
    outDir: resolve(f.out),
    resume: !!f.resume,
    lora: {
      rank: num(f.rank), alpha: num(f.alpha), dropout: num(f.dropout),
      targetModules: f.targets?.split(',').map((s) => s.trim()).filter(Boolean),
      quantization: f.quant, doubleQuant: f.doubleQuant,
      modulesToSave: f.modulesToSave?.split(',').map((s) => s.trim()).filter(Boolean),
    },
    hyper: {
      lr: num(f.lr), maxSteps: num(f.steps), epochs: num(f.epochs), batchSize: num(f.batchSize), gradAccum: num(f.gradAccum),
      warmupSteps: num(f.warmupSteps), minLrRatio: num(f.minLrRatio), weightDecay: num(f.weightDecay), maxGradNorm: num(f.maxGradNorm),
      clipEps: num(f.clipEps), policyLoss: f.policyLoss, lossAggMode: f.lossAggMode, klCoef: num(f.klCoef), klEstimator: f.klEstimator,
      adaptiveKl: f.adaptiveKl, targetKl: num(f.targetKl), entropyCoef: num(f.entropyCoef), normalizeAdvantages: f.normalizeAdvantages,
      valueHead: f.valueHead, seed: num(f.seed), maxSeqLen: num(f.maxSeqLen), saveEvery: num(f.saveEvery),
      activationCheckpointing: f.activationCheckpointing,
    },
    reward: { correctnessWeight: num(f.correctnessWeight), judgeWeight: num(f.judgeWeight), diversityWeight: num(f.diversityWeight), diversityKind: f.diversityKind },
  };
}

/** parseTrainingSpec, with spec field names in errors replaced by the flags that set them (a list flag for any of its items). */
export function parseFlagSpec(raw: unknown): TrainingSpec {
  try {
    return parseTrainingSpec(raw);
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    const flag = FLAG_OF[err.field.replace(/\[\d+\]$/, '')];
    throw flag ? new InvalidArgumentError(flag, err.problem, err.allowed, { cause: err }) : err;
  }
}

/** 'auto' = the first CUDA device when the addon sees one, else the CPU. */
function pickDevice(device: string): string {
  if (device !== 'auto') return device;
  return loadNative().info().cudaAvailable ? 'cuda' : 'cpu';
}

const fmt = (x: number | undefined, digits = 4) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** Stops the run cleanly (checkpoint, then CancelledError) on Ctrl-C or SIGTERM (a Kubernetes pod stop). */
function stopOnSignals(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = (name: string) => () => controller.abort(new Error(`stopped by ${name}; a checkpoint was saved`));
  const onInt = stop('SIGINT');
  const onTerm = stop('SIGTERM');
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  return { signal: controller.signal, dispose: () => { process.off('SIGINT', onInt); process.off('SIGTERM', onTerm); } };
}

/** Runs a spec with a progress bar (ppo, sft, resume) or with JSON step lines (run). */
async function train(spec: TrainingSpec, opts: { device: string; threads?: number; output: 'progress' | 'lines' }): Promise<void> {
  const { signal, dispose } = stopOnSignals();
  let progress: Progress | undefined;
  const hooks: TrainingOptions = opts.output === 'progress'
    ? {
      onStart: (total, done) => {
        progress = createProgress(`train ${spec.mode}`, { unit: 'steps', total, fields: { loss: '-', reward: '-', kl: '-', 'tok/s': '-' } });
        progress.update(done);
      },
      onStep: (step, _total, m) => progress?.update(step, {
        loss: fmt(m['actor/loss']), reward: fmt(m['critic/score/mean'], 3), kl: fmt(m['actor/kl_ref']), 'tok/s': fmt(m['perf/tokens_per_second'], 0),
      }),
      onLog: (message) => { if (!progress) process.stderr.write(`${message}\n`); },
    }
    : {
      onStep: (step, totalSteps, metrics) => process.stdout.write(`${formatStepLine({ step, totalSteps, metrics })}\n`),
      onLog: (message) => process.stderr.write(`${message}\n`),
    };
  try {
    const result = await runTraining(spec, { ...hooks, signal, device: pickDevice(opts.device), threads: opts.threads });
    progress?.stop();
    const m = result.metrics;
    process.stderr.write(`${spec.mode}: ${result.steps} steps${result.resumedFrom ? ` (resumed at ${result.resumedFrom})` : ''}; loss ${fmt(m['actor/loss'])}, reward ${fmt(m['critic/score/mean'], 3)}\n`);
    process.stdout.write(`adapter: ${result.finalDir}\n`);
  } catch (err) {
    progress?.stop();
    if (signal.aborted) throw new Error(`${(signal.reason as Error).message}; continue with: spark train resume ${spec.outDir}`);
    throw err;
  } finally {
    dispose();
  }
}

function modeCommand(mode: TrainingModeName, summary: string): Command {
  return new Command(mode)
    .description(summary)
    .requiredOption('--data <file>', 'step examples JSONL (from `spark trajectory steps`)')
    .requiredOption('--model <path>', 'base model folder: config.json, *.safetensors, tokenizer.json')
    .requiredOption('--out <dir>', 'output folder: checkpoint-<step>/, final/, metrics.jsonl')
    .option('--steps <n>', 'optimiser steps (default: epochs × steps per epoch)')
    .option('--epochs <n>', 'passes over the data (default 1)')
    .option('--lr <x>', 'peak learning rate (default 2e-5 for ppo, 2e-4 for sft)')
    .option('--batch-size <n>', 'examples per micro-batch (default 8)')
    .option('--grad-accum <n>', 'micro-batches per optimiser step (default 4)')
    .option('--warmup-steps <n>', 'linear warmup steps (default 10)')
    .option('--min-lr-ratio <x>', 'floor of the cosine decay as a fraction of --lr (default 0.1)')
    .option('--weight-decay <x>', 'AdamW weight decay (default 0)')
    .option('--max-grad-norm <x>', 'gradient clipping by global norm (default 1)')
    .option('--rank <r>', 'LoRA rank (default 16)')
    .option('--alpha <x>', 'LoRA alpha (default 32)')
    .option('--dropout <x>', 'LoRA dropout (default 0.05)')
    .option('--targets <list>', 'adapted projections, comma-separated (default q,k,v,o,gate,up,down)')
    .option('--quant <kind>', 'frozen base: none (LoRA) or nf4 (QLoRA)')
    .option('--double-quant', 'nf4: quantise the absmax constants too')
    .option('--modules-to-save <list>', 'sft: base modules trained in full and saved in the adapter, comma-separated: embed_tokens (a tied model\'s head too), lm_head (untied models)')
    .option('--clip-eps <x>', 'ppo: clip range (default 0.2)')
    .option('--policy-loss <name>', 'ppo: vanilla, dual_clip or gspo (default vanilla)')
    .option('--loss-agg-mode <mode>', 'token-mean, seq-mean-token-sum or seq-mean-token-mean (default token-mean)')
    .option('--kl-coef <x>', 'ppo: KL-to-reference coefficient (default 0.05)')
    .option('--kl-estimator <k>', 'ppo: k1, k2 or k3 (default k3)')
    .option('--adaptive-kl', 'ppo: adapt the KL coefficient towards --target-kl')
    .option('--target-kl <x>', 'ppo: target KL per action token (default 0.05)')
    .option('--entropy-coef <x>', 'ppo: entropy bonus (default 0)')
    .option('--no-normalize-advantages', 'ppo: use raw rewards as advantages')
    .option('--value-head', 'ppo: learn a value head (advantage = reward − value)')
    .option('--correctness-weight <x>', 'reward weight of final-answer correctness (default 1)')
    .option('--judge-weight <x>', 'reward weight of the judge score / 10 (default 0.5)')
    .option('--diversity-weight <x>', 'reward weight of tool diversity (default 0.25)')
    .option('--diversity-kind <kind>', 'inverse_frequency or entropy_gain (default inverse_frequency)')
    .option('--seed <n>', 'seed for shuffling, dropout and adapter init (default 0)')
    .option('--max-seq-len <n>', 'tokens per example; longer contexts are cut from the left (default 2048)')
    .option('--save-every <n>', 'optimiser steps between checkpoints (default 50)')
    .option('--activation-checkpointing', 'keep only each decoder block\'s input and rerun the block in the backward: one more forward per block, far less activation memory (8B QLoRA at 8 × 1024 tokens in 16 GB); same gradients (default off)')
    .option('--resume', 'continue from the last checkpoint in --out when there is one')
    .option('--device <device>', 'auto, cpu, cuda or cuda:N', 'auto')
    .option('--threads <n>', 'libtorch threads (default: all cores)', wholeNumber('--threads', 1))
    .action(async (flags: TrainFlags) => {
      const spec = parseFlagSpec(specFromFlags(mode, flags));
      await train(spec, { device: flags.device, threads: flags.threads, output: 'progress' });
    });
}

/** The spec of an output folder: from its latest checkpoint, else the spec a Kubernetes run left. */
function specOfRun(dir: string): TrainingSpec {
  const out = resolve(dir);
  const checkpoint = latestCheckpoint(out);
  if (checkpoint) return { ...readTrainingConfig(checkpoint.dir), resume: true };
  if (existsSync(join(out, SPEC_FILE))) return { ...loadTrainingSpecFile(join(out, SPEC_FILE)), resume: true };
  throw new InvalidArgumentError('DIR', `${out} has no checkpoint to resume from`, 'an output folder of spark train ppo|sft');
}

export function trainCommand(): Command {
  const cmd = new Command('train').description('PPO / SFT training on step examples (LoRA/QLoRA, PEFT checkpoints)');
  cmd.addCommand(modeCommand('ppo', "SPaRK's offline step-wise PPO with the composite reward (correctness + judge + tool diversity)"));
  cmd.addCommand(modeCommand('sft', 'the SFT baseline: cross-entropy on the selected actions of the same steps'));
  cmd.command('resume')
    .description('continue a run from the last checkpoint in its output folder (same loss curve, same final weights)')
    .argument('<dir>', 'output folder of a run')
    .option('--device <device>', 'auto, cpu, cuda or cuda:N', 'auto')
    .option('--threads <n>', 'libtorch threads (default: all cores)', wholeNumber('--threads', 1))
    .action(async (dir: string, flags: { device: string; threads?: number }) => {
      const spec = parseTrainingSpec(specOfRun(dir));
      await train(spec, { device: flags.device, threads: flags.threads, output: 'progress' });
    });
  cmd.command('run')
    .description('train from a JSON spec file (the Kubernetes training Job entry): one JSON line per step on stdout')
    .requiredOption('--spec <file>', 'training spec JSON (see services/trainer/spec.ts)')
    .option('--device <device>', 'auto, cpu, cuda or cuda:N', 'auto')
    .option('--threads <n>', 'libtorch threads (default: all cores)', wholeNumber('--threads', 1))
    .action(async (flags: { spec: string; device: string; threads?: number }) => {
      await train(loadTrainingSpecFile(resolve(flags.spec)), { device: flags.device, threads: flags.threads, output: 'lines' });
    });
  cmd.command('merge')
    .description('merge a LoRA adapter into its base: full weights (config.json, model.safetensors, tokenizer)')
    .requiredOption('--model <path>', 'base model folder')
    .requiredOption('--adapter <dir>', 'PEFT adapter folder (e.g. <out>/final)')
    .requiredOption('--out <dir>', 'folder to write (replaced atomically)')
    .action(async (flags: { model: string; adapter: string; out: string }) => {
      const r = await mergeAdapter(resolve(flags.model), resolve(flags.adapter), resolve(flags.out));
      const replaced = r.replacedTensors.length > 0 ? `, replaced ${r.replacedTensors.join(', ')}` : '';
      process.stdout.write(`merged ${r.mergedTensors} projections${replaced} → ${r.outDir}: ${r.files.join(', ')}\n`);
    });
  return cmd;
}
