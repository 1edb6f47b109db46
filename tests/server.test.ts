/**
 * The shared server runtime over real gRPC on loopback: health, reflection, /metrics counters,
 * deadlines, error mapping, UNIMPLEMENTED wording, and job RPCs.
 */
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient, unary, serverStream } from '../services/common/client.js';
import { InvalidArgumentError } from '../services/common/errors.js';
import { JudgeServiceClient, JudgeServiceService } from '../services/common/gen/spark/v1/judge.js';
import { JobState } from '../services/common/gen/spark/v1/common.js';
import { TrainerServiceClient } from '../services/common/gen/spark/v1/trainer.js';
import { defineService } from '../services/common/service.js';
import { datasetService } from '../services/dataset/main.js';
import { trainerService } from '../services/trainer/main.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { healthClient, listServicesByReflection } from './helpers/grpc-clients.js';
import { startTestService, type TestService } from './helpers/service.js';

/** A judge whose handlers exercise the runtime: slow, validating, crashing. */
const probeService = defineService({
  name: 'judge',
  definition: JudgeServiceService,
  summary: 'test probe',
  createHandlers: () => ({
    getStats: async (_req: unknown, ctx: { signal: AbortSignal }) => {
      // Wait until the deadline aborts us; the client must see DEADLINE_EXCEEDED.
      await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
      return {};
    },
    scoreAnswer: async (req: { answerText: string }) => {
      z.object({ answerText: z.string().min(1) }).parse(req);
      throw new InvalidArgumentError('answer_text', 'must end with "the answer is (X)"', 'X in A..J');
    },
    scoreCandidates: async () => {
      throw new Error('secret internal detail /home/user/.ssh');
    },
  }),
});

let running: TestService[] = [];
afterEach(async () => {
  await Promise.all(running.map((s) => s.stop()));
  running = [];
});

async function start(module: Parameters<typeof startTestService>[0], opts?: Parameters<typeof startTestService>[1]) {
  const s = await startTestService(module, opts);
  running.push(s);
  return s;
}

describe('server bootstrap', () => {
  it('answers health SERVING, then NOT_SERVING when shutting down', async () => {
    const s = await start(datasetService);
    const hc = healthClient(s.address);
    const seen: string[] = [];
    const watch = hc.Watch({ service: 'spark.v1.DatasetService' });
    const ended = new Promise<void>((resolve) => {
      watch.on('data', (m: { status: string }) => {
        seen.push(m.status);
        if (m.status === 'SERVING') void s.shutdown('test');
      });
      watch.on('error', () => resolve());
      watch.on('end', () => resolve());
    });
    await ended;
    hc.close();
    expect(seen[0]).toBe('SERVING');
    expect(seen).toContain('NOT_SERVING');
  });

  it('lists its service through server reflection', async () => {
    const s = await start(datasetService);
    const names = await listServicesByReflection(s.address);
    expect(names).toContain('spark.v1.DatasetService');
    expect(names).toContain('grpc.health.v1.Health');
  });

  it('serves the interceptor counters on /metrics after calls', async () => {
    const s = await start(probeService);
    const client = createClient(JudgeServiceClient, s.address);
    await expect(unary(client.scoreAnswer.bind(client), { answerText: 'x', stepsSoFar: [] }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(unary(client.scoreAnswer.bind(client), { answerText: 'y', stepsSoFar: [] }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    client.close();
    const body = await scrape(s.metricsPort);
    expect(sampleValue(body, 'spark_grpc_requests_total', { service: 'judge', method: 'ScoreAnswer', code: 'INVALID_ARGUMENT' })).toBe(2);
    expect(sampleValue(body, 'spark_grpc_request_duration_seconds_count', { service: 'judge', method: 'ScoreAnswer' })).toBe(2);
    expect(body).toContain('process_cpu_user_seconds_total');
  });

  it('maps a passed deadline to DEADLINE_EXCEEDED', async () => {
    const s = await start(probeService);
    const client = createClient(JudgeServiceClient, s.address);
    await expect(unary(client.getStats.bind(client), {}, { timeoutMs: 200 })).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    client.close();
  });

  it('maps validation errors to INVALID_ARGUMENT naming the field, and hides internal errors', async () => {
    const s = await start(probeService);
    const client = createClient(JudgeServiceClient, s.address);
    const zodFailure = unary(client.scoreAnswer.bind(client), { answerText: '', stepsSoFar: [] }, { timeoutMs: 5_000 });
    await expect(zodFailure).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('answerText') });
    const named = unary(client.scoreAnswer.bind(client), { answerText: 'the answer', stepsSoFar: [] }, { timeoutMs: 5_000 });
    await expect(named).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^answer_text: .*allowed: X in A\.\.J/) });
    const internal = await unary(client.scoreCandidates.bind(client), { stepsSoFar: [], candidates: [], mode: 0 }, { timeoutMs: 5_000 }).catch((e) => e);
    expect(internal.code).toBe(status.INTERNAL);
    expect(internal.details).not.toContain('secret');
    expect(internal.details).not.toContain('.ssh');
    client.close();
  });

  it('answers UNIMPLEMENTED with a clear sentence for RPCs a service does not provide', async () => {
    const partial = defineService({ name: 'judge', definition: JudgeServiceService, summary: 'partial', unimplementedHint: 'this build has no judge', createHandlers: () => ({}) });
    const s = await start(partial);
    const client = createClient(JudgeServiceClient, s.address);
    const err = await unary(client.getStats.bind(client), {}, { timeoutMs: 5_000 }).catch((e) => e);
    expect(err.code).toBe(status.UNIMPLEMENTED);
    expect(err.details).toBe('/spark.v1.JudgeService/GetStats is not available yet: this build has no judge');
    client.close();
  });

  it('serves the job RPCs: NOT_FOUND for an unknown job, INVALID_ARGUMENT for an empty id', async () => {
    const s = await start(trainerService);
    const client = createClient(TrainerServiceClient, s.address);
    await expect(unary(client.getJob.bind(client), { jobId: 'nope' }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(unary(client.getJob.bind(client), { jobId: '' }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('job_id') });
    // A job started in the service's runner is visible and watchable over gRPC.
    const job = s.jobs.start('training', 'req-1', { a: 1 }, async (ctx) => { ctx.emit({ progress: 0.5, metrics: { 'actor/lr': 1e-4 } }); });
    await s.jobs.wait(job.id);
    const events = [];
    for await (const ev of serverStream(client.watchJob.bind(client), { jobId: job.id, afterSeq: 0 }, { timeoutMs: 5_000 })) events.push(ev);
    expect(events.map((e) => e.state).at(-1)).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const got = await unary(client.getJob.bind(client), { jobId: job.id }, { timeoutMs: 5_000 });
    expect(got.metrics['actor/lr']).toBeCloseTo(1e-4);
    client.close();
  });
});
