import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../common/errors.js';
import { Executor, KlEstimator, Quantization, StartTrainingRequest, TrainingMode } from '../common/gen/spark/v1/trainer.js';
import { DEFAULT_LR, loadTrainingSpecFile, parseTrainingSpec, specFromRequest, trainingSpecSchema } from './spec.js';

let root: string;
let base: { mode: string; data: string; baseModelPath: string; outDir: string };

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'spec-'));
  mkdirSync(join(root, 'runs', 'a'), { recursive: true });
  writeFileSync(join(root, 'runs', 'a', 'steps.jsonl'), '{}\n');
  mkdirSync(join(root, 'models', 'tiny'), { recursive: true });
  writeFileSync(join(root, 'models', 'tiny', 'config.json'), '{}');
  mkdirSync(join(root, 'models', 'empty'), { recursive: true });
  mkdirSync(join(root, 'models', 'tied'), { recursive: true });
  writeFileSync(join(root, 'models', 'tied', 'config.json'), JSON.stringify({ tie_word_embeddings: true }));
  base = { mode: 'ppo', data: join(root, 'runs', 'a', 'steps.jsonl'), baseModelPath: join(root, 'models', 'tiny'), outDir: join(root, 'out') };
});

/** The InvalidArgumentError `fn` throws. */
function rejection(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error('expected a rejection');
}

describe('parseTrainingSpec', () => {
  it('fills every default, the learning rate by mode', () => {
    const spec = parseTrainingSpec(base);
    expect(spec.lora).toEqual({ rank: 16, alpha: 32, dropout: 0.05, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], quantization: 'none', doubleQuant: false, modulesToSave: [] });
    expect(spec.hyper).toMatchObject({ lr: DEFAULT_LR.ppo, clipEps: 0.2, klCoef: 0.05, klEstimator: 'k3', normalizeAdvantages: true, valueHead: false, policyLoss: 'vanilla', lossAggMode: 'token-mean', batchSize: 8, gradAccum: 4 });
    expect(spec.reward).toEqual({ correctnessWeight: 1, judgeWeight: 0.5, diversityWeight: 0.25, diversityKind: 'inverse_frequency' });
    expect(spec.executor).toBe('local');
    expect(parseTrainingSpec({ ...base, mode: 'sft' }).hyper.lr).toBe(DEFAULT_LR.sft);
    expect(parseTrainingSpec({ ...base, hyper: { lr: 1e-3 } }).hyper.lr).toBe(1e-3);
  });

  it('activation checkpointing: off by default, on when asked, kept through a spec file (the Kubernetes Job path)', () => {
    expect(parseTrainingSpec(base).hyper.activationCheckpointing).toBe(false);
    const spec = parseTrainingSpec({ ...base, hyper: { activationCheckpointing: true } });
    expect(spec.hyper.activationCheckpointing).toBe(true);
    const path = join(root, 'spec-ckpt.json');
    writeFileSync(path, JSON.stringify(spec)); // what the kubernetes executor writes next to the run
    expect(loadTrainingSpecFile(path).hyper.activationCheckpointing).toBe(true);
    const err = rejection(() => parseTrainingSpec({ ...base, hyper: { activationCheckpointing: 'yes' } }));
    expect(err.field).toBe('hyper.activationCheckpointing');
  });

  it('accepts short module names and QLoRA settings', () => {
    const spec = parseTrainingSpec({ ...base, lora: { rank: 8, targetModules: ['q', 'v_proj'], quantization: 'nf4', doubleQuant: true } });
    expect(spec.lora.targetModules).toEqual(['q_proj', 'v_proj']);
    expect(spec.lora.quantization).toBe('nf4');
  });

  it('rejects an unknown mode listing ppo and sft', () => {
    const err = rejection(() => parseTrainingSpec({ ...base, mode: 'dpo' }));
    expect(err.field).toBe('mode');
    expect(err.allowed).toBe('ppo, sft');
  });

  it('rejects a missing data file, naming data', () => {
    const err = rejection(() => parseTrainingSpec({ ...base, data: join(root, 'nope.jsonl') }));
    expect(err.message).toMatch(/^data: no such file: .*nope\.jsonl/);
    expect(rejection(() => parseTrainingSpec({ ...base, data: undefined })).field).toBe('data');
  });

  it('rejects rank <= 0 and lr <= 0', () => {
    expect(rejection(() => parseTrainingSpec({ ...base, lora: { rank: 0 } })).field).toBe('lora.rank');
    expect(rejection(() => parseTrainingSpec({ ...base, lora: { rank: -4 } })).field).toBe('lora.rank');
    expect(rejection(() => parseTrainingSpec({ ...base, hyper: { lr: 0 } })).field).toBe('hyper.lr');
    expect(rejection(() => parseTrainingSpec({ ...base, hyper: { lr: -1e-5 } })).field).toBe('hyper.lr');
  });

  it('rejects a model folder without config.json', () => {
    const err = rejection(() => parseTrainingSpec({ ...base, baseModelPath: join(root, 'models', 'empty') }));
    expect(err.message).toMatch(/^baseModelPath: .*empty has no config\.json/);
  });

  it('rejects unknown keys, bad enums with their values, and inconsistent settings', () => {
    expect(rejection(() => parseTrainingSpec({ ...base, hyper: { learningRate: 1 } })).message).toMatch(/hyper.*learningRate/);
    const quant = rejection(() => parseTrainingSpec({ ...base, lora: { quantization: 'int8' } }));
    expect(quant.field).toBe('lora.quantization');
    expect(quant.allowed).toBe('none, nf4');
    expect(rejection(() => parseTrainingSpec({ ...base, lora: { targetModules: ['lm_head'] } })).field).toBe('lora.targetModules[0]');
    expect(rejection(() => parseTrainingSpec({ ...base, lora: { targetModules: ['q', 'q_proj'] } })).message).toMatch(/must not repeat/);
    expect(rejection(() => parseTrainingSpec({ ...base, lora: { doubleQuant: true } })).field).toBe('lora.doubleQuant');
    expect(rejection(() => parseTrainingSpec({ ...base, hyper: { adaptiveKl: true, klCoef: 0 } })).field).toBe('hyper.klCoef');
    expect(rejection(() => parseTrainingSpec({ ...base, hyper: { maxSteps: 5, warmupSteps: 5 } })).field).toBe('hyper.warmupSteps');
    expect(rejection(() => parseTrainingSpec({ ...base, hyper: { policyLoss: 'trpo' } })).allowed).toBe('vanilla, dual_clip, gspo');
    expect(rejection(() => parseTrainingSpec({ ...base, hyper: { lossAggMode: 'sum' } })).allowed).toBe('token-mean, seq-mean-token-sum, seq-mean-token-mean');
  });

  it('trains embed_tokens / lm_head in full for sft only, lm_head only on an untied model', () => {
    const sft = { ...base, mode: 'sft' };
    expect(parseTrainingSpec({ ...sft, lora: { modulesToSave: ['embed_tokens'] } }).lora.modulesToSave).toEqual(['embed_tokens']);
    const tied = join(root, 'models', 'tied');
    expect(parseTrainingSpec({ ...sft, baseModelPath: tied, lora: { modulesToSave: ['embed_tokens'] } }).lora.modulesToSave).toEqual(['embed_tokens']);
    expect(parseTrainingSpec({ ...sft, lora: { modulesToSave: ['embed_tokens', 'lm_head'] } }).lora.modulesToSave).toEqual(['embed_tokens', 'lm_head']); // {} config: untied
    const unknown = rejection(() => parseTrainingSpec({ ...sft, lora: { modulesToSave: ['wte'] } }));
    expect(unknown.field).toBe('lora.modulesToSave[0]');
    expect(unknown.allowed).toBe('embed_tokens, lm_head');
    expect(rejection(() => parseTrainingSpec({ ...sft, lora: { modulesToSave: ['lm_head', 'lm_head'] } })).message).toMatch(/must not repeat/);
    const ppo = rejection(() => parseTrainingSpec({ ...base, lora: { modulesToSave: ['embed_tokens'] } }));
    expect(ppo.field).toBe('lora.modulesToSave');
    expect(ppo.message).toMatch(/only sft supports it: PPO's KL reference is the same model with the adapters off/);
    const head = rejection(() => parseTrainingSpec({ ...sft, baseModelPath: tied, lora: { modulesToSave: ['lm_head'] } }));
    expect(head.field).toBe('lora.modulesToSave');
    expect(head.message).toMatch(/lm_head is tied to embed_tokens/);
    expect(head.allowed).toBe('embed_tokens');
  });

  it('reports every issue, the first as the field', () => {
    const err = rejection(() => parseTrainingSpec({ ...base, lora: { rank: 0 }, hyper: { lr: -1 } }));
    expect(err.field).toBe('lora.rank');
    expect(err.message).toMatch(/hyper\.lr/);
  });

  it('the shape check alone needs no files (zod schema)', () => {
    expect(trainingSpecSchema.safeParse({ ...base, data: '/nowhere.jsonl' }).success).toBe(true);
  });

  it('loads a spec file and names --spec when it is not JSON', () => {
    const path = join(root, 'spec.json');
    writeFileSync(path, JSON.stringify({ ...base, mode: 'sft', executor: 'kubernetes' }));
    expect(loadTrainingSpecFile(path)).toMatchObject({ mode: 'sft', executor: 'kubernetes' });
    writeFileSync(path, '{');
    expect(rejection(() => loadTrainingSpecFile(path)).field).toBe('--spec');
  });
});

describe('specFromRequest', () => {
  const request = (over: Partial<StartTrainingRequest> = {}) => StartTrainingRequest.fromPartial({
    requestId: 'r1',
    mode: TrainingMode.TRAINING_MODE_PPO,
    data: { uri: 'runs/a/steps.jsonl' },
    baseModelPath: 'models/tiny',
    outDir: 'runs/a/ppo',
    ...over,
  });

  it('maps enums, resolves paths under the artifact root and treats 0 as the default', () => {
    const spec = specFromRequest(request({
      lora: { rank: 4, alpha: 8, dropout: 0, targetModules: [], quantization: Quantization.QUANTIZATION_NF4, doubleQuant: true },
      hyper: { ...hyperZero(), lr: 5e-5, klEstimator: KlEstimator.KL_ESTIMATOR_K1, maxSteps: 100, adaptiveKl: true },
      reward: { correctnessWeight: 2, judgeWeight: 0, diversityWeight: 0, diversityKind: 'entropy_gain' },
      executor: Executor.EXECUTOR_KUBERNETES,
    }), { artifactRoot: root });
    expect(spec.data).toBe(join(root, 'runs', 'a', 'steps.jsonl'));
    expect(spec.baseModelPath).toBe(join(root, 'models', 'tiny'));
    expect(spec.outDir).toBe(join(root, 'runs', 'a', 'ppo'));
    expect(spec.lora).toMatchObject({ rank: 4, alpha: 8, dropout: 0.05, quantization: 'nf4', doubleQuant: true });
    expect(spec.lora.targetModules).toHaveLength(7);
    expect(spec.hyper).toMatchObject({ lr: 5e-5, klEstimator: 'k1', maxSteps: 100, adaptiveKl: true, clipEps: 0.2, normalizeAdvantages: true });
    expect(spec.reward).toEqual({ correctnessWeight: 2, judgeWeight: 0.5, diversityWeight: 0.25, diversityKind: 'entropy_gain' });
    expect(spec.executor).toBe('kubernetes');
  });

  it('maps activation_checkpointing through the wire encoding the server decodes; unset is off', () => {
    const opts = { artifactRoot: root };
    const wire = (hyper: StartTrainingRequest['hyper']) => StartTrainingRequest.decode(StartTrainingRequest.encode(request({ hyper })).finish());
    const on = wire({ ...hyperZero(), activationCheckpointing: true });
    expect(on.hyper!.activationCheckpointing).toBe(true);
    expect(specFromRequest(on, opts).hyper.activationCheckpointing).toBe(true);
    expect(specFromRequest(wire({ ...hyperZero(), batchSize: 2 }), opts).hyper.activationCheckpointing).toBe(false);
    expect(specFromRequest(request(), opts).hyper.activationCheckpointing).toBe(false); // no hyper at all
  });

  it('EXECUTOR_UNSPECIFIED takes the server default', () => {
    expect(specFromRequest(request(), { artifactRoot: root }).executor).toBe('local');
    expect(specFromRequest(request(), { artifactRoot: root, defaultExecutor: 'kubernetes' }).executor).toBe('kubernetes');
  });

  it('INVALID_ARGUMENT naming the proto field and the allowed values', () => {
    const opts = { artifactRoot: root };
    const mode = rejection(() => specFromRequest(request({ mode: TrainingMode.TRAINING_MODE_UNSPECIFIED }), opts));
    expect(mode.message).toBe('mode: must be set (allowed: ppo, sft)');
    expect(rejection(() => specFromRequest(request({ mode: 7 as TrainingMode }), opts)).message).toBe('mode: unknown value 7 (allowed: ppo, sft)');
    expect(rejection(() => specFromRequest(request({ data: undefined }), opts)).field).toBe('data.uri');
    expect(rejection(() => specFromRequest(request({ data: { uri: 'runs/missing.jsonl', mediaType: '', sha256: '', sizeBytes: 0 } }), opts)).field).toBe('data.uri');
    expect(rejection(() => specFromRequest(request({ outDir: '../../etc' }), opts)).message).toMatch(/^out_dir: .* leaves the artifact root/);
    expect(rejection(() => specFromRequest(request({ baseModelPath: 'models/empty' }), opts)).message).toMatch(/^base_model_path: .* has no config\.json/);
    const rank = rejection(() => specFromRequest(request({ lora: { rank: 0, alpha: 0, dropout: 0, targetModules: [], quantization: 0, doubleQuant: false } }), opts));
    expect(rank.field).toBe('lora.rank');
    const lr = rejection(() => specFromRequest(request({ hyper: { ...hyperZero(), lr: -1 } }), opts));
    expect(lr.field).toBe('hyper.lr');
    const steps = rejection(() => specFromRequest(request({ hyper: { ...hyperZero(), maxSteps: 10, warmupSteps: 20 } }), opts));
    expect(steps.field).toBe('hyper.warmup_steps');
    const kind = rejection(() => specFromRequest(request({ reward: { correctnessWeight: 0, judgeWeight: 0, diversityWeight: 0, diversityKind: 'novelty' } }), opts));
    expect(kind.field).toBe('reward.diversity_kind');
    expect(kind.allowed).toBe('inverse_frequency, entropy_gain');
    const modules = rejection(() => specFromRequest(request({ lora: { rank: 8, alpha: 0, dropout: 0, targetModules: ['attn'], quantization: 0, doubleQuant: false } }), opts));
    expect(modules.field).toBe('lora.target_modules[0]');
  });

  it('maps modules_to_save, naming lora.modules_to_save when it is wrong', () => {
    const opts = { artifactRoot: root };
    const lora = (modulesToSave: string[]) => ({ rank: 8, alpha: 0, dropout: 0, targetModules: [], quantization: 0, doubleQuant: false, modulesToSave });
    const sft = { mode: TrainingMode.TRAINING_MODE_SFT };
    expect(specFromRequest(request({ ...sft, lora: lora(['embed_tokens']) }), opts).lora.modulesToSave).toEqual(['embed_tokens']);
    expect(specFromRequest(request({ ...sft, lora: lora([]) }), opts).lora.modulesToSave).toEqual([]);
    const unknown = rejection(() => specFromRequest(request({ ...sft, lora: lora(['embeddings']) }), opts));
    expect(unknown.field).toBe('lora.modules_to_save[0]');
    expect(unknown.allowed).toBe('embed_tokens, lm_head');
    const ppo = rejection(() => specFromRequest(request({ lora: lora(['embed_tokens']) }), opts));
    expect(ppo.field).toBe('lora.modules_to_save');
    expect(ppo.message).toMatch(/^lora\.modules_to_save: only sft supports it/);
    const tied = rejection(() => specFromRequest(request({ ...sft, baseModelPath: 'models/tied', lora: lora(['lm_head']) }), opts));
    expect(tied.field).toBe('lora.modules_to_save');
    expect(tied.message).toMatch(/lm_head is tied to embed_tokens/);
  });
});

function hyperZero() {
  return StartTrainingRequest.fromPartial({ hyper: {} }).hyper!;
}
