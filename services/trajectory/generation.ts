/**
 * A trajectory-generation job: rolls out a fixed list of questions and writes
 * `OUT/trajectories.jsonl` (append-only, one complete trajectory per line), `OUT/dropped.jsonl`,
 * `OUT/questions.jsonl` and `OUT/manifest.json` (spec, seed, versions).
 *
 * Resumable: killed at any point (even SIGKILL mid-write) and started again on the same OUT, it skips
 * the questions already written, with no duplicate and no loss.
 *
 * Usage counts for rarity-first are deterministic despite concurrency: questions run in batches of
 * `concurrency` (in manifest order), and every question of batch b starts from the counts of all
 * trajectories of batches < b (plus its own choices as it goes). So the counts depend only on the
 * spec, never on timing, and a resumed job sees exactly the counts it would have had.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { countBy, shannonEntropyBits } from '../common/entropy.js';
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import { Question, type ArtifactRef } from '../common/gen/spark/v1/common.js';
import { appendJsonl, readJsonl, repairJsonlTail, writeFileAtomic } from '../common/files.js';
import type { JobContext, JobUpdate } from '../common/jobs.js';
import type { Logger } from '../common/logging.js';
import { counter, gauge } from '../common/metrics.js';
import { REPO_ROOT } from '../common/paths.js';
import { createRng, deriveSeed } from '../common/random.js';
import { chosenActions, rolloutQuestion, type RolloutDeps } from './rollout.js';
import { toRecord, type DroppedRecord, type TrajectoryRecord } from './records.js';
import { DEFAULT_VIABILITY_THRESHOLD, SELECTION_POLICIES, type UsageCounts } from './selection.js';

export const GENERATOR_KINDS = ['heuristic', 'openai', 'policy'] as const;

/** A validated generation request. Field names follow the proto (camelCase). */
export const generationSpecSchema = z.object({
  n: z.number().int().min(0).describe('questions to sample from the working set (ignored when questionIds is set)'),
  maxSteps: z.number().int().min(1).max(20).default(5).describe('steps per trajectory including the final answer'),
  selection: z.enum(SELECTION_POLICIES).default('rarity_first'),
  seed: z.number().int().default(0),
  threshold: z.number().min(0).max(10).default(DEFAULT_VIABILITY_THRESHOLD),
  questionIds: z.array(z.number().int()).default([]),
  categories: z.array(z.string()).default([]),
  outDir: z.string().min(1).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path under the artifact root'),
  generator: z.enum(GENERATOR_KINDS).default('heuristic'),
  /** generator "policy": the model TrainerService.Generate samples from. */
  generatorModel: z.object({
    baseModelPath: z.string().min(1).describe('base model folder (absolute or under the trainer\'s artifact root)'),
    adapter: z.string().min(1).optional().describe('PEFT adapter folder'),
  }).strict().optional(),
  dropWhenNoViable: z.boolean().default(false),
  concurrency: z.number().int().min(1).max(256).default(4),
}).strict().superRefine((s, ctx) => {
  if (s.n === 0 && s.questionIds.length === 0) ctx.addIssue({ code: 'custom', path: ['n'], message: 'must be > 0 (or give question_ids)' });
  if (s.generator === 'policy' && !s.generatorModel) ctx.addIssue({ code: 'custom', path: ['generatorModel'], message: 'required for generator policy (generator_model.base_model_path)' });
});
export type GenerationSpec = z.infer<typeof generationSpecSchema>;

export const TRAJECTORIES_FILE = 'trajectories.jsonl';
export const DROPPED_FILE = 'dropped.jsonl';
export const QUESTIONS_FILE = 'questions.jsonl';
export const MANIFEST_FILE = 'manifest.json';

export interface GenerationMetrics {
  trajectories: ReturnType<typeof counter<'outcome'>>;
  steps: ReturnType<typeof counter<'action' | 'reason'>>;
  entropy: ReturnType<typeof gauge<'job'>>;
}

export function generationMetrics(registry: Registry): GenerationMetrics {
  return {
    trajectories: counter(registry, 'spark_trajectories_total', 'Trajectories finished, by outcome (correct, incorrect, dropped)', ['outcome']),
    steps: counter(registry, 'spark_rollout_steps_total', 'Rollout steps kept, by action and selection reason', ['action', 'reason']),
    entropy: gauge(registry, 'spark_tool_selection_entropy_bits', 'Shannon entropy (bits) of the actions chosen so far in a generation job', ['job']),
  };
}

export interface GenerationDeps {
  artifactRoot: string;
  /** Resolves the spec's questions (the dataset service in production). Called once per OUT folder. */
  resolveQuestions(spec: GenerationSpec, signal: AbortSignal): Promise<Question[]>;
  rollout: RolloutDeps;
  metrics?: GenerationMetrics;
  log: Logger;
  /** Judge backend label for the manifest ("offline", "openai:gpt-4o"). */
  judgeBackend?: (signal: AbortSignal) => Promise<string>;
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Absolute OUT folder for a spec; the path must stay inside the artifact root. */
export function outPath(artifactRoot: string, outDir: string): string {
  const root = resolve(artifactRoot);
  const out = resolve(root, outDir);
  if (out !== root && !out.startsWith(`${root}/`)) throw new InvalidArgumentError('out_dir', 'must stay inside the artifact root', 'a relative path');
  return out;
}

/** Loads the question list of an OUT folder, writing it (and the manifest) on first use. */
async function prepareOut(out: string, spec: GenerationSpec, deps: GenerationDeps, signal: AbortSignal): Promise<Question[]> {
  const manifestPath = join(out, MANIFEST_FILE);
  if (existsSync(manifestPath)) {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { spec: GenerationSpec };
    if (JSON.stringify(manifest.spec) !== JSON.stringify(spec)) {
      throw new FailedPreconditionError(`${out} holds a generation with a different spec (see its ${MANIFEST_FILE}); use another out_dir or the same settings to resume`);
    }
    return readJsonl<unknown>(join(out, QUESTIONS_FILE)).map((q) => Question.fromJSON(q));
  }
  const questions = await deps.resolveQuestions(spec, signal);
  if (questions.length === 0) throw new InvalidArgumentError('n', 'no questions matched the request');
  mkdirSync(out, { recursive: true });
  writeFileAtomic(join(out, QUESTIONS_FILE), questions.map((q) => JSON.stringify(Question.toJSON(q))).join('\n') + '\n');
  writeFileAtomic(manifestPath, JSON.stringify({
    spec,
    questions: questions.length,
    generator: deps.rollout.generator.kind,
    judge: deps.judgeBackend ? await deps.judgeBackend(signal) : 'unknown',
    actions: deps.rollout.actions,
    versions: { spark_ts: packageVersion(), node: process.version },
    created_at: new Date().toISOString(),
  }, null, 2));
  return questions;
}

function artifact(artifactRoot: string, path: string, mediaType: string): ArtifactRef {
  return { uri: path.slice(resolve(artifactRoot).length + 1), mediaType, sha256: '', sizeBytes: 0 };
}

/** The job's work. Returns the SUCCEEDED event's content. */
export async function runGeneration(spec: GenerationSpec, deps: GenerationDeps, ctx: Pick<JobContext, 'signal' | 'emit' | 'jobId'>): Promise<JobUpdate> {
  const out = outPath(deps.artifactRoot, spec.outDir);
  const questions = await prepareOut(out, spec, deps, ctx.signal);
  const trajPath = join(out, TRAJECTORIES_FILE);
  const droppedPath = join(out, DROPPED_FILE);
  for (const p of [trajPath, droppedPath]) {
    const cut = repairJsonlTail(p);
    if (cut) deps.log.warn({ file: p, bytes: cut }, 'removed a torn last line left by a crash');
  }
  const written = readJsonl<TrajectoryRecord>(trajPath);
  const dropped = readJsonl<DroppedRecord>(droppedPath);
  const done = new Set([...written, ...dropped].map((r) => r.question_id));
  const batchOf = (i: number) => Math.floor(i / spec.concurrency);
  const actionsByBatch = new Map<number, string[]>();
  const record = (batch: number, actions: string[]) => actionsByBatch.set(batch, [...(actionsByBatch.get(batch) ?? []), ...actions]);
  for (const r of written) record(r.batch, r.steps.filter((s) => !s.is_final).map((s) => s.action));
  let correct = written.filter((r) => r.correct).length;
  let finished = done.size;
  const allActions = () => [...actionsByBatch.values()].flat();
  deps.log.info({ out, questions: questions.length, alreadyDone: done.size }, done.size ? 'resuming generation' : 'starting generation');

  const report = () => {
    const entropy = shannonEntropyBits(countBy(allActions()));
    deps.metrics?.entropy.set({ job: ctx.jobId }, entropy);
    ctx.emit({
      progress: finished / questions.length,
      metrics: { 'rollout/questions_done': finished, 'rollout/tool_entropy_bits': entropy, 'rollout/accuracy': written.length ? correct / Math.max(1, finished - dropped.length) : 0 },
    });
  };

  const batches = Math.ceil(questions.length / spec.concurrency);
  for (let b = 0; b < batches; b++) {
    const members = questions.slice(b * spec.concurrency, (b + 1) * spec.concurrency).filter((q) => !done.has(q.questionId));
    if (members.length === 0) continue;
    const usage: UsageCounts = countBy([...actionsByBatch.entries()].filter(([batch]) => batch < b).flatMap(([, a]) => a));
    await Promise.all(members.map(async (q) => {
      const rng = createRng(deriveSeed(spec.seed, `rollout:${q.questionId}`));
      const result = await rolloutQuestion(q, usage, deps.rollout, { maxSteps: spec.maxSteps, policy: spec.selection, threshold: spec.threshold, dropWhenNoViable: spec.dropWhenNoViable, rng }, ctx.signal);
      if (result.dropped) {
        const rec: DroppedRecord = { question_id: q.questionId, category: q.category, reason: result.dropped, batch: batchOf(questions.indexOf(q)) };
        appendJsonl(droppedPath, rec);
        dropped.push(rec);
        deps.metrics?.trajectories.inc({ outcome: 'dropped' });
      } else {
        const rec = toRecord(result.trajectory, q.answer, b);
        appendJsonl(trajPath, rec);
        written.push(rec);
        record(b, chosenActions(result.trajectory));
        if (rec.correct) correct += 1;
        deps.metrics?.trajectories.inc({ outcome: rec.correct ? 'correct' : 'incorrect' });
        for (const s of rec.steps) if (!s.is_final) deps.metrics?.steps.inc({ action: s.action, reason: s.selection_reason });
      }
      finished += 1;
      report();
    }));
  }
  const counts = countBy(allActions());
  return {
    message: `${written.length} trajectories (${dropped.length} dropped), accuracy ${(written.length ? correct / written.length : 0).toFixed(3)}, tool entropy ${shannonEntropyBits(counts).toFixed(3)} bits`,
    metrics: { 'rollout/trajectories': written.length, 'rollout/dropped': dropped.length, 'rollout/tool_entropy_bits': shannonEntropyBits(counts) },
    artifacts: [artifact(deps.artifactRoot, trajPath, 'application/jsonl'), artifact(deps.artifactRoot, join(out, MANIFEST_FILE), 'application/json')],
  };
}
