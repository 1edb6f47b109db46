/**
 * The job pattern, implemented once (DESIGN.md §3): `StartX(spec) -> Job{id}`, `WatchJob(id, after_seq)`,
 * `GetJob`, `CancelJob`, idempotent by the client's request_id.
 *
 * Each job is a folder `<root>/<id>/` with `job.json` (id, request id, kind, spec; written once,
 * atomically) and `events.jsonl` (append-only). A job's state is the fold of its events, so a restarted
 * server reads the folder back and `WatchJob(after_seq)` replays exactly what a client missed. Work that
 * was running when the process died is marked interrupted; starting it again with the same request_id
 * resumes it under the same id (work functions are written to resume from their own output).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter, once, setMaxListeners } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CancelledError, FailedPreconditionError, InvalidArgumentError, NotFoundError, isCancelledError } from './errors.js';
import { ArtifactRef, Job, JobEvent, JobState } from './gen/spark/v1/common.js';
import { appendJsonl, readJsonl, writeFileAtomic } from './files.js';
import type { Logger } from './logging.js';

/** What work reports as it goes. */
export interface JobUpdate {
  progress?: number;
  metrics?: Record<string, number>;
  message?: string;
  artifacts?: ArtifactRef[];
}

export interface JobContext {
  jobId: string;
  /** The job's own folder, for state the work wants to keep next to its events. */
  dir: string;
  /** Aborted by CancelJob or server shutdown. */
  signal: AbortSignal;
  /** Appends a RUNNING event. */
  emit(update: JobUpdate): void;
}

/** The work of a job. Its resolved value becomes the SUCCEEDED event. */
export type JobWork = (ctx: JobContext) => Promise<JobUpdate | void>;

interface JobRecord {
  id: string;
  requestId: string;
  kind: string;
  spec: unknown;
  createdAt: string;
}

interface LiveJob {
  record: JobRecord;
  events: JobEvent[];
  controller?: AbortController;
  running?: Promise<void>;
}

const TERMINAL = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);
export const INTERRUPTED_MESSAGE = 'interrupted: the server stopped while the job ran; start it again with the same request_id to resume';

export function isTerminal(state: JobState): boolean {
  return TERMINAL.has(state);
}

export class JobRunner {
  private readonly jobs = new Map<string, LiveJob>();
  private readonly byRequestId = new Map<string, string>();
  private readonly changed = new EventEmitter();

  /** `root` holds one folder per job; existing ones are loaded (a restart). */
  constructor(private readonly root: string, private readonly log: Logger) {
    this.changed.setMaxListeners(0);
    this.load();
  }

  private load(): void {
    if (!existsSync(this.root)) return;
    for (const id of readdirSync(this.root)) {
      const recordPath = join(this.root, id, 'job.json');
      if (!existsSync(recordPath)) continue;
      const record = JSON.parse(readFileSync(recordPath, 'utf8')) as JobRecord;
      const events = readJsonl<unknown>(join(this.root, id, 'events.jsonl')).map((e) => JobEvent.fromJSON(e));
      const job: LiveJob = { record, events };
      this.jobs.set(id, job);
      this.byRequestId.set(record.requestId, id);
      if (!isTerminal(this.stateOf(job))) {
        this.append(job, { state: JobState.JOB_STATE_FAILED, message: INTERRUPTED_MESSAGE });
      }
    }
    if (this.jobs.size) this.log.info({ jobs: this.jobs.size, root: this.root }, 'jobs loaded');
  }

  private stateOf(job: LiveJob): JobState {
    return job.events.at(-1)?.state ?? JobState.JOB_STATE_QUEUED;
  }

  private append(job: LiveJob, ev: Partial<JobEvent>): JobEvent {
    const last = job.events.at(-1);
    const event = JobEvent.fromPartial({
      jobId: job.record.id,
      seq: (last?.seq ?? 0) + 1,
      state: ev.state ?? last?.state ?? JobState.JOB_STATE_QUEUED,
      progress: ev.progress ?? last?.progress ?? 0,
      metrics: ev.metrics ?? {},
      message: ev.message ?? '',
      time: new Date().toISOString(),
      artifacts: ev.artifacts ?? [],
    });
    appendJsonl(join(this.root, job.record.id, 'events.jsonl'), JobEvent.toJSON(event));
    job.events.push(event);
    this.changed.emit(job.record.id);
    return event;
  }

  /**
   * Starts `work` as a job, or returns the job already started with this request_id (same spec
   * required). An interrupted job with this request_id is resumed under its id.
   */
  start(kind: string, requestId: string, spec: unknown, work: JobWork): Job {
    const key = requestId || randomUUID();
    const existingId = this.byRequestId.get(key);
    if (existingId) {
      const job = this.jobs.get(existingId)!;
      if (JSON.stringify(job.record.spec) !== JSON.stringify(spec) || job.record.kind !== kind) {
        throw new FailedPreconditionError(`request_id ${JSON.stringify(key)} was already used for a different ${job.record.kind} spec; use a new request_id`);
      }
      const last = job.events.at(-1);
      if (last?.state === JobState.JOB_STATE_FAILED && last.message === INTERRUPTED_MESSAGE) this.run(job, work);
      return this.toJob(job);
    }
    const record: JobRecord = { id: `${kind}-${randomUUID().slice(0, 8)}`, requestId: key, kind, spec, createdAt: new Date().toISOString() };
    writeFileAtomic(join(this.root, record.id, 'job.json'), JSON.stringify(record, null, 2));
    const job: LiveJob = { record, events: [] };
    this.jobs.set(record.id, job);
    this.byRequestId.set(key, record.id);
    this.append(job, { state: JobState.JOB_STATE_QUEUED, message: 'queued' });
    this.run(job, work);
    return this.toJob(job);
  }

  private run(job: LiveJob, work: JobWork): void {
    const controller = new AbortController();
    // Work fans the signal out to many concurrent calls (9 tools per step, several questions at once).
    setMaxListeners(0, controller.signal);
    job.controller = controller;
    this.append(job, { state: JobState.JOB_STATE_RUNNING, message: 'started' });
    const ctx: JobContext = {
      jobId: job.record.id,
      dir: join(this.root, job.record.id),
      signal: controller.signal,
      emit: (u) => {
        if (isTerminal(this.stateOf(job))) return;
        this.append(job, { state: JobState.JOB_STATE_RUNNING, progress: u.progress, metrics: u.metrics, message: u.message, artifacts: u.artifacts });
      },
    };
    // Call work synchronously so it sees the signal before any CancelJob can arrive.
    let started: Promise<JobUpdate | void>;
    try { started = Promise.resolve(work(ctx)); } catch (err) { started = Promise.reject(err); }
    job.running = started
      .then(
        (result) => {
          this.append(job, { state: JobState.JOB_STATE_SUCCEEDED, progress: 1, message: result?.message ?? 'succeeded', metrics: result?.metrics, artifacts: result?.artifacts });
        },
        (err: unknown) => {
          if (controller.signal.aborted || isCancelledError(err)) {
            const reason = controller.signal.reason instanceof Error ? controller.signal.reason.message : 'cancelled';
            this.append(job, { state: reason === INTERRUPTED_MESSAGE ? JobState.JOB_STATE_FAILED : JobState.JOB_STATE_CANCELLED, message: reason });
          } else {
            this.log.error({ err, jobId: job.record.id }, 'job failed');
            this.append(job, { state: JobState.JOB_STATE_FAILED, message: err instanceof Error ? err.message : String(err) });
          }
        },
      )
      .finally(() => { job.controller = undefined; });
  }

  private mustGet(id: string): LiveJob {
    if (!id) throw new InvalidArgumentError('job_id', 'must not be empty');
    const job = this.jobs.get(id);
    if (!job) throw new NotFoundError('job', id);
    return job;
  }

  get(id: string): Job {
    return this.toJob(this.mustGet(id));
  }

  /** The spec a job was started with (for services that need it back, e.g. to resume). */
  specOf(id: string): unknown {
    return this.mustGet(id).record.spec;
  }

  /** Asks a running job to stop; its work sees the abort and the job ends CANCELLED. */
  async cancel(id: string, reason = 'cancelled by request'): Promise<Job> {
    const job = this.mustGet(id);
    if (job.controller && !job.controller.signal.aborted) {
      job.controller.abort(new CancelledError(reason));
      await job.running;
    }
    return this.toJob(job);
  }

  /** Events with seq > afterSeq, then live ones until the job ends or `signal` aborts. */
  async *watch(id: string, afterSeq: number, signal?: AbortSignal): AsyncGenerator<JobEvent> {
    const job = this.mustGet(id);
    if (afterSeq < 0) throw new InvalidArgumentError('after_seq', 'must be >= 0');
    let next = afterSeq;
    for (;;) {
      for (const ev of job.events) {
        if (ev.seq > next) { next = ev.seq; yield ev; }
      }
      if (isTerminal(this.stateOf(job)) || signal?.aborted) return;
      try {
        await once(this.changed, id, { signal });
      } catch {
        return; // the watcher went away
      }
    }
  }

  /** Waits for a job to end and returns it. */
  async wait(id: string, signal?: AbortSignal): Promise<Job> {
    for await (const _ of this.watch(id, 0, signal)) { /* drain */ }
    return this.get(id);
  }

  /** Stops every running job as interrupted (so a restart resumes them) and waits for them. */
  async shutdown(): Promise<void> {
    const running = [...this.jobs.values()].filter((j) => j.controller);
    for (const j of running) j.controller!.abort(new CancelledError(INTERRUPTED_MESSAGE));
    await Promise.all(running.map((j) => j.running));
  }

  private toJob(job: LiveJob): Job {
    const metrics: Record<string, number> = {};
    const artifacts = new Map<string, ArtifactRef>();
    let message = '';
    for (const ev of job.events) {
      Object.assign(metrics, ev.metrics);
      for (const a of ev.artifacts) artifacts.set(a.uri, a);
      if (ev.message) message = ev.message;
    }
    const last = job.events.at(-1);
    return Job.fromPartial({
      id: job.record.id,
      requestId: job.record.requestId,
      kind: job.record.kind,
      state: last?.state ?? JobState.JOB_STATE_QUEUED,
      progress: last?.progress ?? 0,
      lastSeq: last?.seq ?? 0,
      metrics,
      message,
      artifacts: [...artifacts.values()],
      createdAt: job.record.createdAt,
      updatedAt: last?.time ?? job.record.createdAt,
    });
  }
}

/** WatchJob / GetJob / CancelJob handlers over a runner, for any service's `implement` table. */
export function jobHandlers(runner: JobRunner) {
  return {
    getJob: (req: { jobId: string }) => runner.get(req.jobId),
    cancelJob: (req: { jobId: string; reason: string }) => runner.cancel(req.jobId, req.reason || 'cancelled by request'),
    watchJob: (req: { jobId: string; afterSeq: number }, ctx: { signal: AbortSignal }) => runner.watch(req.jobId, req.afterSeq, ctx.signal),
  };
}
