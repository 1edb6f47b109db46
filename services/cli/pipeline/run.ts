/**
 * `spark pipeline`: the whole SPaRK method through the five real services, each stage resumable.
 *
 *   data → rollouts (trajectory + judge, rarity-first) → step examples (SWiRL) → base policy
 *   (a given model, or a tiny Llama pre-trained briefly on the step format from greedy rollouts) →
 *   SFT and SPaRK PPO adapters (trainer) → evaluation of base, SFT and SPaRK, 5-shot CoT and agentic
 *   (evaluator) → report + results table.
 *
 * Every stage is a job of a service, idempotent by a request id derived from the run folder and stage,
 * and its result is recorded in pipeline-state.json: rerunning the same command skips finished stages,
 * and a stage cut short resumes inside its service (trajectories and checkpoints are append-only).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ServiceName } from '../../common/config.js';
import { createClient, serverStream, unary } from '../../common/client.js';
import { ModelBackend, type Job, type ModelRef, type Question } from '../../common/gen/spark/v1/common.js';
import { DatasetServiceClient, Split } from '../../common/gen/spark/v1/dataset.js';
import { EvalMode, EvaluatorServiceClient, ExtractionMode, StartEvaluationRequest, type Report } from '../../common/gen/spark/v1/evaluator.js';
import { Executor, KlEstimator, Quantization, StartTrainingRequest, TrainerServiceClient, TrainingMode } from '../../common/gen/spark/v1/trainer.js';
import { SelectionPolicy, StartGenerationRequest, TrajectoryServiceClient } from '../../common/gen/spark/v1/trajectory.js';
import { writeFileAtomic } from '../../common/files.js';
import { REPO_ROOT } from '../../common/paths.js';
import { initCheckpoint } from '../../trainer/model/init.js';
import type { PipelineConfig } from './config.js';
import { followJob } from './jobs.js';
import { startRunServices } from './services.js';
import { PipelineState } from './state.js';
import { resultsTable } from './table.js';

const POLICY: Record<string, SelectionPolicy> = {
  rarity_first: SelectionPolicy.SELECTION_POLICY_RARITY_FIRST,
  lowest_viable_score: SelectionPolicy.SELECTION_POLICY_LOWEST_VIABLE_SCORE,
  highest_score: SelectionPolicy.SELECTION_POLICY_HIGHEST_SCORE,
  uniform_viable: SelectionPolicy.SELECTION_POLICY_UNIFORM_VIABLE,
};

/** The seed offset of the pre-training rollouts, so they differ from the training rollouts. */
const PRETRAIN_SEED_OFFSET = 1_000;

/** Time limit of one evaluation question (all its turns). */
const EVAL_QUESTION_TIMEOUT_MS = 10 * 60_000;

export interface PipelineOptions {
  config: PipelineConfig;
  /** The run folder (artifact root of the services started here). */
  runDir: string;
  /** Services already running (by address) instead of starting them. */
  given?: Partial<Record<ServiceName, string>>;
  env?: NodeJS.ProcessEnv;
  /** Human-readable stage lines (stderr). */
  say?: (line: string) => void;
  signal?: AbortSignal;
}

export interface PipelineResult {
  report: Report;
  table: string;
  reportPath: string;
  runDir: string;
}

interface Clients {
  dataset: DatasetServiceClient;
  trajectory: TrajectoryServiceClient;
  trainer: TrainerServiceClient;
  evaluator: EvaluatorServiceClient;
}

function versions(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return { spark_ts: pkg.version, node: process.version };
}

/** Request ids are stable per run folder and stage, so a rerun finds (and resumes) the same jobs. */
const requestId = (runDir: string, stage: string) => `pipeline:${resolve(runDir)}:${stage}`;

const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];

export async function runPipeline(opts: PipelineOptions): Promise<PipelineResult> {
  const cfg = opts.config;
  const runDir = resolve(opts.runDir);
  const say = opts.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  mkdirSync(runDir, { recursive: true });
  writeFileAtomic(join(runDir, 'pipeline-config.json'), JSON.stringify({ config: cfg, versions: versions(), started_at: new Date().toISOString() }, null, 2));
  const state = new PipelineState(runDir);
  const skipped = (name: string) => () => say(`✓ ${name} (done in an earlier run)`);

  say(`starting the five services (artifacts in ${runDir})`);
  const services = await startRunServices({
    runDir, given: opts.given,
    env: {
      SPARK_EVAL_MAX_TOKENS: String(cfg.evalMaxTokens), SPARK_EVAL_STEP_MAX_TOKENS: String(cfg.evalStepMaxTokens),
      // A full batch for each of the 3 models × 2 modes in flight at once.
      SPARK_EVAL_TRAINER_BATCH_SIZE: String(cfg.evalBatchSize), SPARK_EVAL_TRAINER_CONCURRENCY: String(cfg.evalBatchSize * 3 * 2),
      ...opts.env,
    },
  });
  const signal = opts.signal ? AbortSignal.any([opts.signal, services.signal]) : services.signal;
  const clients: Clients = {
    dataset: createClient(DatasetServiceClient, services.address.dataset),
    trajectory: createClient(TrajectoryServiceClient, services.address.trajectory),
    trainer: createClient(TrainerServiceClient, services.address.trainer),
    evaluator: createClient(EvaluatorServiceClient, services.address.evaluator),
  };
  // A service dying mid-stage aborts `signal`; surface its message rather than the broken call's.
  const guard = async <T>(p: Promise<T>): Promise<T> => {
    try { return await p; } catch (err) { if (services.signal.aborted) throw services.signal.reason; throw err; }
  };
  try {
    for (const [name, addr] of Object.entries(services.address)) say(`  ${name.padEnd(10)} ${addr}`);

    // 1. Data: the evaluation questions, held apart from the training working set.
    const evalIds = await guard(state.stage('data', async () => {
      const ids: number[] = [];
      const req = { n: 14 * cfg.evalPerCategory, seed: cfg.seed, perCategory: true, categories: [], questionIds: [], split: Split.SPLIT_EVAL };
      for await (const q of serverStream(clients.dataset.sampleQuestions.bind(clients.dataset), req, { timeoutMs: 60_000, signal })) ids.push((q as Question).questionId);
      say(`✓ data: ${ids.length} evaluation questions (${cfg.evalPerCategory} per category, held apart from the working set)`);
      return ids;
    }, skipped('data')));

    // 2-3. Rollouts and step examples.
    const rollout = async (stage: string, n: number, selection: string, seed: number) => state.stage(stage, async () => {
      const job = await unary(clients.trajectory.startGeneration.bind(clients.trajectory), StartGenerationRequest.fromPartial({
        requestId: requestId(runDir, stage), n, maxSteps: cfg.maxSteps, selection: POLICY[selection], seed, outDir: stage, concurrency: cfg.concurrency,
      }), { timeoutMs: 60_000, signal });
      const done = await followJob(clients.trajectory, job, { label: stage, unit: 'questions', total: n, doneMetric: 'rollout/questions_done', show: { entropy: 'rollout/tool_entropy_bits' }, signal });
      say(`✓ ${stage}: ${done.message}`);
      const steps = await unary(clients.trajectory.buildStepExamples.bind(clients.trajectory), {
        trajectories: { uri: `${stage}/trajectories.jsonl`, mediaType: '', sha256: '', sizeBytes: 0 }, outUri: `${stage}/steps.jsonl`,
      }, { timeoutMs: 120_000, signal });
      say(`✓ ${stage}: ${steps.count} step examples`);
      return { trajectories: `${stage}/trajectories.jsonl`, steps: `${stage}/steps.jsonl`, count: steps.count };
    }, skipped(stage));

    // 4. The base policy: a given model, or a tiny random Llama pre-trained on the step format.
    const train = (stage: string, mode: TrainingMode, data: string, base: string, t: PipelineConfig['sft'],
      more: { hyper?: Partial<StartTrainingRequest['hyper']>; reward?: StartTrainingRequest['reward']; modulesToSave?: string[] } = {}) => state.stage(stage, async () => {
      const job: Job = await unary(clients.trainer.startTraining.bind(clients.trainer), StartTrainingRequest.fromPartial({
        requestId: requestId(runDir, stage), mode, data: { uri: data }, baseModelPath: base, outDir: `train/${stage}`, executor: Executor.EXECUTOR_LOCAL, resume: true,
        lora: { rank: cfg.lora.rank, alpha: cfg.lora.alpha, dropout: 0, targetModules: LORA_TARGETS, modulesToSave: more.modulesToSave ?? [], quantization: cfg.lora.quantization === 'nf4' ? Quantization.QUANTIZATION_NF4 : Quantization.QUANTIZATION_NONE },
        hyper: { lr: t.lr, maxSteps: t.steps, batchSize: t.batchSize, gradAccum: t.gradAccum, maxSeqLen: cfg.maxSeqLen, warmupSteps: Math.max(1, Math.round(t.steps / 20)), seed: cfg.seed, saveEvery: Math.max(10, Math.ceil(t.steps / 4)), ...more.hyper },
        reward: more.reward,
      }), { timeoutMs: 60_000, signal });
      const done = await followJob(clients.trainer, job, { label: stage, unit: 'steps', total: t.steps, doneMetric: 'train/step', show: { loss: 'actor/loss', reward: 'critic/score/mean', kl: 'actor/kl_ref' }, signal });
      say(`✓ ${stage}: ${done.message}`);
      const adapter = done.artifacts.find((a) => a.uri.endsWith('/final') || a.mediaType === 'application/x-peft-adapter')?.uri ?? `train/${stage}/final`;
      return { adapter, jobId: job.id };
    }, skipped(stage));

    // The pre-training rollouts come first; the training rollouts then run beside the pre-training: a
    // training step of the tiny model keeps about one core busy, the rollouts' tool calls the other.
    const pre = cfg.modelPath ? undefined : await guard(rollout('pretrain-rollouts', cfg.pretrain.questions, cfg.pretrain.selection, cfg.seed + PRETRAIN_SEED_OFFSET));
    const rolloutsDone = guard(rollout('rollouts', cfg.questions, cfg.selection, cfg.seed));
    const baseDone = !pre ? Promise.resolve(resolve(cfg.modelPath!)) : guard(state.stage('base', async () => {
      const random = join(runDir, 'models', `${cfg.tinyPreset}-random`);
      // A run cut short after this point resumes with the same random weights.
      if (!existsSync(join(random, 'config.json'))) await initCheckpoint(random, { preset: cfg.tinyPreset, dtype: 'float32', seed: cfg.seed, overrides: { initializer_range: cfg.tinyInitStd } });
      // The embeddings train too: a random, frozen 128k × 64 embedding cannot be steered to the step format
      // by adapters alone (measured: the policy never got past `{"name": "parameters"`).
      const { adapter } = await train('pretrain', TrainingMode.TRAINING_MODE_SFT, pre.steps, random, cfg.pretrain, { modulesToSave: ['embed_tokens'], hyper: { maxSeqLen: cfg.pretrain.maxSeqLen } });
      const merged = await unary(clients.trainer.mergeAdapter.bind(clients.trainer), { baseModelPath: random, adapter: { uri: adapter, mediaType: '', sha256: '', sizeBytes: 0 }, outDir: 'models/base' }, { timeoutMs: 600_000, signal });
      say(`✓ base: ${cfg.tinyPreset} Llama pre-trained on the step format → ${merged.model!.uri}`);
      return join(runDir, merged.model!.uri);
    }, skipped('base')));
    const [rollouts, basePath] = await Promise.all([rolloutsDone, baseDone]);

    // 5-6. SFT baseline and SPaRK PPO on the same step examples.
    // One after the other: the trainer seeds libtorch's one global generator per step (LoRA dropout), so
    // two jobs side by side would draw each other's numbers and the results would vary from run to run.
    const sft = await guard(train('sft', TrainingMode.TRAINING_MODE_SFT, rollouts.steps, basePath, cfg.sft));
    const spark = await guard(train('spark', TrainingMode.TRAINING_MODE_PPO, rollouts.steps, basePath, cfg.ppo, {
      hyper: { klCoef: cfg.ppo.klCoef, clipEps: cfg.ppo.clipEps, klEstimator: KlEstimator.KL_ESTIMATOR_K3, normalizeAdvantages: true },
      reward: { correctnessWeight: 1, judgeWeight: 0.5, diversityWeight: cfg.ppo.diversityWeight, diversityKind: 'inverse_frequency' },
    }));

    // 7. Evaluation of the three policies in both modes.
    const model = (name: string, adapter?: string): ModelRef => ({
      name, backend: ModelBackend.MODEL_BACKEND_TRAINER, baseModelPath: basePath,
      adapter: adapter ? { uri: adapter, mediaType: '', sha256: '', sizeBytes: 0 } : undefined, endpointBaseUrl: '', endpointModel: '',
    });
    const evaluation = await guard(state.stage('eval', async () => {
      const job = await unary(clients.evaluator.startEvaluation.bind(clients.evaluator), StartEvaluationRequest.fromPartial({
        requestId: requestId(runDir, 'eval'), models: [model('base'), model('sft', sft.adapter), model('spark', spark.adapter)],
        modes: [EvalMode.EVAL_MODE_COT_5SHOT, EvalMode.EVAL_MODE_AGENTIC], questionIds: evalIds, seed: cfg.seed,
        maxSteps: cfg.evalMaxSteps, concurrency: cfg.concurrency, extraction: ExtractionMode.EXTRACTION_MODE_STRICT, outDir: 'eval',
        // A question shares its batch with all others of its model and mode (evalBatchSize), so it lasts
        // about as long as the whole evaluation: the default 2 minutes is too close on a busy laptop.
        perQuestionTimeoutMs: EVAL_QUESTION_TIMEOUT_MS,
      }), { timeoutMs: 60_000, signal });
      await followJob(clients.evaluator, job, { label: 'eval', unit: 'answers', total: evalIds.length * 3 * 2, doneMetric: 'eval/answers_done', show: { 'spark acc': 'eval/spark/agentic/accuracy' }, signal });
      return { jobId: job.id };
    }, skipped('eval')));

    const report = await unary(clients.evaluator.getReport.bind(clients.evaluator), { jobId: evaluation.jobId }, { timeoutMs: 60_000, signal });
    const table = resultsTable(report);
    const reportPath = join(runDir, report.html?.uri ?? 'eval/report.html');
    writeFileAtomic(join(runDir, 'results.txt'), `${table}\n`);
    return { report, table, reportPath, runDir };
  } finally {
    for (const c of Object.values(clients)) c.close();
    await services.stop();
  }
}
