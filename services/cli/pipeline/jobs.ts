/**
 * Following a job of any service to its end with a progress bar: WatchJob from the last seq seen
 * (a dropped stream reconnects without missing events), then the final Job. A failed or cancelled job
 * becomes an error naming the stage and the service's message.
 */
import type { Client } from '@grpc/grpc-js';
import { serverStream, unary } from '../../common/client.js';
import { Job, JobState, type JobEvent } from '../../common/gen/spark/v1/common.js';
import { createProgress } from '../../common/progress.js';

/** The job RPCs every job-running client has (ts-proto's TrajectoryServiceClient, TrainerServiceClient, ...). */
export interface JobClient extends Client {
  watchJob: (...args: never[]) => unknown;
  getJob: (...args: never[]) => unknown;
  cancelJob: (...args: never[]) => unknown;
}

export interface FollowOptions {
  /** Progress bar label. */
  label: string;
  /** Units shown, and how many make 100 %. */
  unit: string;
  total: number;
  /** Metric whose value is the count done; default progress × total. */
  doneMetric?: string;
  /** Extra metrics shown after the bar: label → metric key. */
  show?: Record<string, string>;
  signal?: AbortSignal;
}

const fmt = (v: number | undefined) => (v === undefined ? '-' : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));

export async function followJob(client: JobClient, job: Job, opts: FollowOptions): Promise<Job> {
  const c = client as unknown as {
    watchJob: Parameters<typeof serverStream<{ jobId: string; afterSeq: number }, JobEvent>>[0];
    getJob: Parameters<typeof unary<{ jobId: string }, Job>>[0];
  };
  const progress = createProgress(opts.label, { unit: opts.unit, total: opts.total, fields: Object.fromEntries(Object.keys(opts.show ?? {}).map((k) => [k, '-'])) });
  const latest: Record<string, number> = {};
  let afterSeq = 0;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const ev of serverStream(c.watchJob.bind(client), { jobId: job.id, afterSeq }, { signal: opts.signal })) {
          afterSeq = ev.seq;
          Object.assign(latest, ev.metrics);
          const done = opts.doneMetric ? latest[opts.doneMetric] ?? 0 : Math.round(ev.progress * opts.total);
          progress.update(done, Object.fromEntries(Object.entries(opts.show ?? {}).map(([k, key]) => [k, fmt(latest[key])])));
        }
        break;
      } catch (err) {
        // A stream broken by the network is resumed from the last event; anything else is final.
        if (opts.signal?.aborted || attempt >= 3 || (err as { code?: number }).code !== 14) throw err;
      }
    }
  } finally {
    progress.stop();
  }
  const final = await unary(c.getJob.bind(client), { jobId: job.id }, { timeoutMs: 10_000 });
  if (final.state !== JobState.JOB_STATE_SUCCEEDED) {
    const state = JobState[final.state].replace('JOB_STATE_', '').toLowerCase();
    throw new Error(`${opts.label} ${state}: ${final.message}`);
  }
  return final;
}
