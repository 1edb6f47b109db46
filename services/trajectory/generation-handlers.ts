/**
 * TrajectoryService's generation RPCs: StartGeneration (a job), StreamTrajectories, BuildStepExamples.
 * Thin: decode → validate once (zod) → the plain modules (generation.ts, steps.ts) → encode.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { countBy } from '../common/entropy.js';
import { InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { type Trajectory } from '../common/gen/spark/v1/common.js';
import {
  GeneratorKind,
  SelectionPolicy,
  type BuildStepExamplesRequest,
  type BuildStepExamplesResponse,
  type StartGenerationRequest,
  type StreamTrajectoriesRequest,
} from '../common/gen/spark/v1/trajectory.js';
import { readJsonl, writeFileAtomic } from '../common/files.js';
import { isTerminal, type JobRunner } from '../common/jobs.js';
import type { Logger } from '../common/logging.js';
import { generationMetrics, generationSpecSchema, outPath, runGeneration, TRAJECTORIES_FILE, type GenerationDeps, type GenerationSpec } from './generation.js';
import { fromRecord, type TrajectoryRecord } from './records.js';
import type { RolloutDeps, StepGenerator } from './rollout.js';
import { SELECTION_POLICIES } from './selection.js';
import { decomposeFolder } from './steps.js';
import type { Registry } from 'prom-client';

const POLICY_NAMES: Record<number, string> = {
  [SelectionPolicy.SELECTION_POLICY_UNSPECIFIED]: 'rarity_first',
  [SelectionPolicy.SELECTION_POLICY_RARITY_FIRST]: 'rarity_first',
  [SelectionPolicy.SELECTION_POLICY_LOWEST_VIABLE_SCORE]: 'lowest_viable_score',
  [SelectionPolicy.SELECTION_POLICY_HIGHEST_SCORE]: 'highest_score',
  [SelectionPolicy.SELECTION_POLICY_UNIFORM_VIABLE]: 'uniform_viable',
};

const GENERATOR_NAMES: Record<number, string> = {
  [GeneratorKind.GENERATOR_KIND_UNSPECIFIED]: 'heuristic',
  [GeneratorKind.GENERATOR_KIND_HEURISTIC]: 'heuristic',
  [GeneratorKind.GENERATOR_KIND_OPENAI]: 'openai',
  [GeneratorKind.GENERATOR_KIND_POLICY]: 'policy',
};

/** A StartGenerationRequest as a validated spec; unknown enum values name the field and the allowed ones. */
export function specFromRequest(req: StartGenerationRequest): GenerationSpec {
  const selection = POLICY_NAMES[req.selection];
  if (!selection) throw new InvalidArgumentError('selection', `unknown value ${req.selection}`, SELECTION_POLICIES.join(', '));
  const generator = GENERATOR_NAMES[req.generator];
  if (!generator) throw new InvalidArgumentError('generator', `unknown value ${req.generator}`, 'heuristic, openai, policy');
  if (req.outDir === '') throw new InvalidArgumentError('out_dir', 'must not be empty', 'a relative path under the artifact root');
  return generationSpecSchema.parse({
    n: req.n,
    maxSteps: req.maxSteps || undefined,
    selection,
    seed: req.seed,
    threshold: req.threshold,
    questionIds: req.questionIds,
    categories: req.categories,
    outDir: req.outDir,
    generator,
    dropWhenNoViable: req.dropWhenNoViable,
    concurrency: req.concurrency || undefined,
    generatorModel: req.generatorModel?.baseModelPath
      ? { baseModelPath: req.generatorModel.baseModelPath, ...(req.generatorModel.adapter?.uri ? { adapter: req.generatorModel.adapter.uri } : {}) }
      : undefined,
  });
}

export interface GenerationHandlerDeps {
  artifactRoot: string;
  jobs: JobRunner;
  log: Logger;
  registry: Registry;
  /** Everything a rollout needs except the generator, which depends on the spec. */
  rollout: Omit<RolloutDeps, 'generator'>;
  generatorFor(spec: GenerationSpec): StepGenerator;
  resolveQuestions: GenerationDeps['resolveQuestions'];
  judgeBackend: GenerationDeps['judgeBackend'];
}

/** How often StreamTrajectories looks for new lines while the job still runs. */
const STREAM_POLL_MS = 250;

export function generationHandlers(deps: GenerationHandlerDeps) {
  const metrics = generationMetrics(deps.registry);
  return {
    startGeneration: (req: StartGenerationRequest) => {
      const spec = specFromRequest(req);
      outPath(deps.artifactRoot, spec.outDir); // rejects an escaping path before the job starts
      const generator = deps.generatorFor(spec);
      return deps.jobs.start('generation', req.requestId, spec, (ctx) => runGeneration(spec, {
        artifactRoot: deps.artifactRoot,
        resolveQuestions: deps.resolveQuestions,
        rollout: { ...deps.rollout, generator },
        metrics,
        log: deps.log.child({ jobId: ctx.jobId }),
        judgeBackend: deps.judgeBackend,
      }, ctx));
    },

    streamTrajectories: async function* (req: StreamTrajectoriesRequest, ctx: { signal: AbortSignal }): AsyncGenerator<Trajectory> {
      const job = deps.jobs.get(req.jobId);
      if (job.kind !== 'generation') throw new InvalidArgumentError('job_id', `${req.jobId} is a ${job.kind} job`, 'a generation job id');
      const spec = deps.jobs.specOf(req.jobId) as GenerationSpec;
      const file = join(outPath(deps.artifactRoot, spec.outDir), TRAJECTORIES_FILE);
      let sent = Math.max(0, req.afterIndex);
      for (;;) {
        const finished = isTerminal(deps.jobs.get(req.jobId).state);
        const records = readJsonl<TrajectoryRecord>(file);
        for (; sent < records.length; sent++) yield fromRecord(records[sent]!, req.jobId);
        if (finished || ctx.signal.aborted) return;
        await sleep(STREAM_POLL_MS, undefined, { signal: ctx.signal }).catch(() => undefined);
      }
    },

    buildStepExamples: (req: BuildStepExamplesRequest): BuildStepExamplesResponse => {
      if (!req.trajectories?.uri) throw new InvalidArgumentError('trajectories.uri', 'must name a trajectories.jsonl under the artifact root');
      if (!req.outUri) throw new InvalidArgumentError('out_uri', 'must not be empty', 'a relative path under the artifact root');
      const trajectories = outPath(deps.artifactRoot, req.trajectories.uri);
      if (!existsSync(trajectories)) throw new NotFoundError('trajectories file', req.trajectories.uri);
      const out = outPath(deps.artifactRoot, req.outUri);
      const examples = decomposeFolder(dirname(trajectories));
      writeFileAtomic(out, examples.map((e) => JSON.stringify(e)).join('\n') + (examples.length ? '\n' : ''));
      return {
        examples: { uri: req.outUri, mediaType: 'application/jsonl', sha256: '', sizeBytes: statSync(out).size },
        count: examples.length,
        actionCounts: countBy(examples.map((e) => e.action)),
      };
    },
  };
}
