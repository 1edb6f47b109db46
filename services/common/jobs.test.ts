import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobState } from './gen/spark/v1/common.js';
import { INTERRUPTED_MESSAGE, JobRunner } from './jobs.js';
import { createLogger } from './logging.js';

const log = createLogger('test', 'silent');
const root = () => mkdtempSync(join(tmpdir(), 'spark-jobs-'));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('JobRunner', () => {
  it('runs work, records progress and metrics, and ends SUCCEEDED', async () => {
    const runner = new JobRunner(root(), log);
    const job = runner.start('generation', 'r1', { n: 2 }, async (ctx) => {
      ctx.emit({ progress: 0.5, metrics: { 'critic/score/mean': 7 } });
      return { message: 'done', artifacts: [{ uri: 'out/trajectories.jsonl', mediaType: 'application/jsonl', sha256: '', sizeBytes: 0 }] };
    });
    const done = await runner.wait(job.id);
    expect(done.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(done.progress).toBe(1);
    expect(done.metrics['critic/score/mean']).toBe(7);
    expect(done.artifacts.map((a) => a.uri)).toEqual(['out/trajectories.jsonl']);
  });

  it('is idempotent by request_id and rejects a reused id with another spec', async () => {
    const runner = new JobRunner(root(), log);
    let runs = 0;
    const work = async () => { runs += 1; };
    const a = runner.start('generation', 'same', { n: 1 }, work);
    const b = runner.start('generation', 'same', { n: 1 }, work);
    expect(b.id).toBe(a.id);
    await runner.wait(a.id);
    expect(runs).toBe(1);
    expect(() => runner.start('generation', 'same', { n: 2 }, work)).toThrow(/request_id "same" was already used/);
  });

  it('replays events after a restart, from any after_seq, exactly once each', async () => {
    const dir = root();
    const first = new JobRunner(dir, log);
    const job = first.start('training', 'r', {}, async (ctx) => {
      for (let i = 1; i <= 5; i++) ctx.emit({ progress: i / 5, metrics: { 'actor/loss': 1 / i } });
    });
    const before = await collect(first.watch(job.id, 0));
    // A new runner on the same folder is a restarted server.
    const second = new JobRunner(dir, log);
    const replayed = await collect(second.watch(job.id, 0));
    expect(replayed.map((e) => e.seq)).toEqual(before.map((e) => e.seq));
    expect(replayed.map((e) => e.metrics)).toEqual(before.map((e) => e.metrics));
    const tail = await collect(second.watch(job.id, 4));
    expect(tail.map((e) => e.seq)).toEqual(before.filter((e) => e.seq > 4).map((e) => e.seq));
    expect(second.get(job.id).state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });

  it('streams live events to a watcher while the job runs', async () => {
    const runner = new JobRunner(root(), log);
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const job = runner.start('evaluation', 'live', {}, async (ctx) => {
      ctx.emit({ message: 'first' });
      await gate;
      ctx.emit({ message: 'second' });
    });
    const seen: string[] = [];
    for await (const ev of runner.watch(job.id, 0)) {
      seen.push(ev.message);
      if (ev.message === 'first') release();
    }
    expect(seen).toEqual(['queued', 'started', 'first', 'second', 'succeeded']);
  });

  it('honours cancellation through the AbortSignal', async () => {
    const runner = new JobRunner(root(), log);
    let sawAbort = false;
    const job = runner.start('training', 'c', {}, (ctx) => new Promise((_, reject) => {
      ctx.signal.addEventListener('abort', () => { sawAbort = true; reject(ctx.signal.reason); });
    }));
    const cancelled = await runner.cancel(job.id, 'user pressed stop');
    expect(sawAbort).toBe(true);
    expect(cancelled.state).toBe(JobState.JOB_STATE_CANCELLED);
    expect(cancelled.message).toBe('user pressed stop');
  });

  it('marks work cut off by a crash as interrupted and resumes it under the same id and request_id', async () => {
    const dir = root();
    const crashed = new JobRunner(dir, log);
    // Never settles: simulates a process that died mid-job (no terminal event written).
    const job = crashed.start('generation', 'resume-me', { n: 3 }, () => new Promise(() => {}));
    const restarted = new JobRunner(dir, log);
    expect(restarted.get(job.id)).toMatchObject({ state: JobState.JOB_STATE_FAILED, message: INTERRUPTED_MESSAGE });
    const again = restarted.start('generation', 'resume-me', { n: 3 }, async (ctx) => { ctx.emit({ message: 'resumed' }); });
    expect(again.id).toBe(job.id);
    const final = await restarted.wait(job.id);
    expect(final.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const log_ = readFileSync(join(dir, job.id, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log_.map((e: { seq: number }) => e.seq)).toEqual(log_.map((_: unknown, i: number) => i + 1));
  });
});
