/**
 * TrainerService handlers: thin decode → one module call → encode. Training is a job (the shared
 * JobRunner: StartTraining → WatchJob / GetJob / CancelJob), run in this process or as a Kubernetes Job
 * (training/executors.ts); Generate and ScoreSequences use a small LRU of loaded policies
 * (training/model-cache.ts); MergeAdapter writes full weights (training/merge.ts). Paths in requests are
 * relative to the artifact root (base models may also be absolute). Errors are mapped once, in
 * services/common/errors.ts.
 */
import { relative, resolve } from 'node:path';
import { resolveInArtifactRoot } from '../common/artifact-path.js';
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import type {
  GenerateRequest, GenerateResponse, ListCheckpointsRequest, ListCheckpointsResponse, MergeAdapterRequest, MergeAdapterResponse,
  ScoreSequencesRequest, ScoreSequencesResponse, StartTrainingRequest,
} from '../common/gen/spark/v1/trainer.js';
import type { CallContext } from '../common/handlers.js';
import { jobHandlers } from '../common/jobs.js';
import type { ServiceDeps } from '../common/service.js';
import type { TrainerServiceConfig } from './config.js';
import { KubernetesExecutor } from './k8s/executor.js';
import { specFromRequest, type TrainingSpec } from './spec.js';
import { PEFT_ADAPTER_MEDIA_TYPE, listCheckpoints } from './training/checkpoint.js';
import { trainingWork } from './training/executors.js';
import { streamGeneration, type Sampling } from './training/generation.js';
import { mergeAdapter } from './training/merge.js';
import { TrainMetrics } from './training/metrics.js';
import { PolicyCache } from './training/model-cache.js';
import { policyKey, resolveModelPath } from './training/model-ref.js';
import { scoreContinuations } from './training/score.js';

export const MERGED_MODEL_MEDIA_TYPE = 'application/x-llama-checkpoint';
const NO_SAMPLING: Sampling = { maxTokens: 0, temperature: 0, topP: 0, topK: 0, stop: [], seed: 0 };

/** Policy caches of the services started in this process, freed by `closeTrainer` at shutdown. */
const caches = new Set<PolicyCache>();

export function createTrainerHandlers({ config, log, metrics, jobs }: ServiceDeps<TrainerServiceConfig>) {
  const root = resolve(config.artifactRoot);
  const trainMetrics = new TrainMetrics(metrics.registry);
  const policies = new PolicyCache(config.modelCacheSize, { device: config.device, onLoad: (key) => { trainMetrics.modelLoads.inc(); log.info(key, 'loading policy'); } });
  caches.add(policies);
  let kubernetes: KubernetesExecutor | undefined;
  const kubernetesExecutor = () => {
    try {
      return (kubernetes ??= new KubernetesExecutor(config, log));
    } catch (err) {
      throw new FailedPreconditionError(`executor kubernetes is not usable here: ${(err as Error).message}`, { cause: err });
    }
  };
  const rel = (path: string) => relative(root, path);

  return {
    ...jobHandlers(jobs),

    startTraining: (req: StartTrainingRequest) => {
      const spec = specFromRequest(req, { artifactRoot: root, defaultExecutor: config.defaultExecutor });
      const k8s = spec.executor === 'kubernetes' ? kubernetesExecutor() : undefined;
      return jobs.start('training', req.requestId, spec, trainingWork(spec, { config, log, metrics: trainMetrics, kubernetes: k8s }));
    },

    listCheckpoints: (req: ListCheckpointsRequest): ListCheckpointsResponse => {
      if (!req.jobId && !req.outDir) throw new InvalidArgumentError('job_id', 'set job_id or out_dir');
      const outDir = req.jobId ? (jobs.specOf(req.jobId) as TrainingSpec).outDir : resolveInArtifactRoot(root, req.outDir, 'out_dir');
      return {
        checkpoints: listCheckpoints(outDir).map((c) => ({
          adapter: { uri: rel(c.dir), mediaType: PEFT_ADAPTER_MEDIA_TYPE, sha256: '', sizeBytes: 0 },
          step: c.step,
          createdAt: c.createdAt,
          metrics: c.metrics,
        })),
      };
    },

    generate: async function* (req: GenerateRequest, ctx: CallContext): AsyncGenerator<GenerateResponse> {
      const { policy, release } = await policies.acquire(policyKey(req.model, root));
      try {
        yield* streamGeneration(policy, req.conversations.map((c) => c.messages), req.sampling ?? NO_SAMPLING, ctx.signal);
      } finally {
        release();
      }
    },

    scoreSequences: async (req: ScoreSequencesRequest, ctx: CallContext): Promise<ScoreSequencesResponse> => {
      const { policy, release } = await policies.acquire(policyKey(req.model, root));
      try {
        const rows = await scoreContinuations(policy.model, policy.tokenizer, req.contexts.map((c) => c.messages), req.continuations, { adapters: !!policy.adapter, signal: ctx.signal });
        return { rows };
      } finally {
        release();
      }
    },

    mergeAdapter: async (req: MergeAdapterRequest): Promise<MergeAdapterResponse> => {
      if (!req.adapter?.uri) throw new InvalidArgumentError('adapter.uri', 'must name an adapter folder under the artifact root');
      if (!req.outDir) throw new InvalidArgumentError('out_dir', 'must not be empty', 'a relative path under the artifact root');
      const base = resolveModelPath(root, req.baseModelPath, 'base_model_path');
      const out = resolveInArtifactRoot(root, req.outDir, 'out_dir');
      await mergeAdapter(base, resolveInArtifactRoot(root, req.adapter.uri, 'adapter.uri'), out);
      return { model: { uri: rel(out), mediaType: MERGED_MODEL_MEDIA_TYPE, sha256: '', sizeBytes: 0 } };
    },
  };
}

/** Frees cached policies (the service's onShutdown). */
export function closeTrainer(): void {
  for (const c of caches) c.clear();
  caches.clear();
}
