/**
 * The work of a StartTraining job, by executor (DESIGN §6):
 *
 * - `local`: `runTraining` in this process (native calls off the JS thread, so the server keeps
 *   answering); every step becomes a WatchJob event and sets the Prometheus gauges.
 * - `kubernetes`: the spec is written next to the run's checkpoints (`<out_dir>/spec.json`, on the
 *   artifact PVC) and a batch/v1 Job runs `spark train run --spec` on the GPU pool (k8s/executor.ts);
 *   the step lines the pod prints (step-log.ts) become the same events.
 *
 * A job the server restarts after an interruption (same request_id) resumes from its last checkpoint.
 * Either way the SUCCEEDED event names the final adapter folder.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';
import type { JobContext, JobUpdate, JobWork } from '../../common/jobs.js';
import type { Logger } from '../../common/logging.js';
import type { TrainerServiceConfig } from '../config.js';
import type { KubernetesExecutor } from '../k8s/executor.js';
import type { TrainingSpec } from '../spec.js';
import { FINAL_DIR, PEFT_ADAPTER_MEDIA_TYPE } from './checkpoint.js';
import type { TrainMetrics } from './metrics.js';
import { parseStepLine } from './step-log.js';
import { runTraining } from './trainer.js';

export const SPEC_FILE = 'spec.json';
/** Written into the job folder when the work starts: its presence means "this is a restart, resume". */
const STARTED_MARKER = 'training-started';

export interface ExecutorDeps {
  config: TrainerServiceConfig;
  log: Logger;
  metrics: TrainMetrics;
  /** The Kubernetes executor (created by the server when the first such job starts). */
  kubernetes?: KubernetesExecutor;
}

/** Resume when asked to, or when this job already ran once (the server restarted mid-run). */
function resumeFlag(spec: TrainingSpec, ctx: JobContext): boolean {
  const marker = join(ctx.dir, STARTED_MARKER);
  const rerun = existsSync(marker);
  writeFileAtomic(marker, `${new Date().toISOString()}\n`);
  return spec.resume || rerun;
}

function succeeded(spec: TrainingSpec, root: string, steps: number, metrics: Record<string, number>): JobUpdate {
  const finalUri = relative(root, join(spec.outDir, FINAL_DIR));
  return {
    message: `${spec.mode} finished after ${steps} steps; adapter ${finalUri}`,
    metrics,
    artifacts: [{ uri: finalUri, mediaType: PEFT_ADAPTER_MEDIA_TYPE, sha256: '', sizeBytes: 0 }],
  };
}

/** The job work for a validated spec (absolute paths inside the artifact root). */
export function trainingWork(spec: TrainingSpec, deps: ExecutorDeps): JobWork {
  const root = resolve(deps.config.artifactRoot);
  const onStep = (ctx: JobContext) => (step: number, total: number, metrics: Record<string, number>) => {
    deps.metrics.record(spec.mode, metrics);
    ctx.emit({ progress: step / total, metrics });
  };
  if (spec.executor === 'local') {
    return async (ctx) => {
      const result = await runTraining({ ...spec, resume: resumeFlag(spec, ctx) }, {
        signal: ctx.signal,
        device: deps.config.device,
        threads: deps.config.threads,
        peakTflops: deps.config.peakTflops,
        onStep: onStep(ctx),
        onLog: (message) => ctx.emit({ message }),
      });
      return succeeded(spec, root, result.steps, result.metrics);
    };
  }
  return async (ctx) => {
    const executor = deps.kubernetes;
    if (!executor) throw new Error('the kubernetes executor is not configured');
    const specPath = join(spec.outDir, SPEC_FILE);
    writeFileAtomic(specPath, `${JSON.stringify({ ...spec, resume: resumeFlag(spec, ctx) }, null, 2)}\n`);
    const step = onStep(ctx);
    let last: { steps: number; metrics: Record<string, number> } = { steps: 0, metrics: {} };
    const outcome = await executor.run({ jobId: ctx.jobId, mode: spec.mode, specPath, artifactRoot: root }, {
      signal: ctx.signal,
      events: {
        onStatus: (s) => ctx.emit({ message: s.message }),
        onLog: (line) => {
          const parsed = parseStepLine(line);
          if (parsed) {
            last = { steps: parsed.step, metrics: parsed.metrics };
            step(parsed.step, parsed.totalSteps, parsed.metrics);
          } else if (line.trim()) {
            ctx.emit({ message: line });
          }
        },
      },
    });
    if (outcome.state === 'failed') throw new Error(`training job ${outcome.jobName}: ${outcome.message}`);
    return succeeded(spec, root, last.steps, last.metrics);
  };
}
