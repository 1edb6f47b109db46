/**
 * JudgeService over real gRPC, against a real local HTTP server speaking the OpenAI chat-completions API
 * (tests/helpers/openai-server.ts): scoring, retries on 429/500, the circuit breaker, deadlines, repair of
 * unusable replies, the on-disk cache, the concurrency limit, structured-output fallback, and the offline
 * judge.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ACTION_NAMES, COT_ACTION } from '../services/common/actions.js';
import { createClient, unary } from '../services/common/client.js';
import { Candidate, ToolCall } from '../services/common/gen/spark/v1/common.js';
import { JudgeMode, JudgeServiceClient, type ScoreCandidatesRequest } from '../services/common/gen/spark/v1/judge.js';
import { judgeService } from '../services/judge/main.js';
import { runSparkAsync } from './helpers/cli.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { judgeCandidateCount, judgeReplyContent, judgeResponder, OpenAIServer } from './helpers/openai-server.js';
import { WATER_MOLAR_MASS_QUESTION } from './helpers/questions.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';

const question = WATER_MOLAR_MASS_QUESTION;

/** The 9 candidates of one step: 8 tools + CoT. */
const candidates = ACTION_NAMES.map((action) => Candidate.fromPartial({
  action,
  thought: `Try ${action} on the molar mass of H2O.`,
  toolCall: action === COT_ACTION ? undefined : ToolCall.fromPartial({ name: action, inputJson: '{"formula":"H2O"}', output: `${action} says 18.015` }),
}));

const request = (over: Partial<ScoreCandidatesRequest> = {}): ScoreCandidatesRequest =>
  ({ question, stepsSoFar: [], candidates, mode: JudgeMode.JUDGE_MODE_UNSPECIFIED, ...over });

let llm: OpenAIServer;
let services: TestService[] = [];

beforeEach(async () => {
  llm = await OpenAIServer.start();
  llm.respondWith(judgeResponder());
});
afterEach(async () => {
  await Promise.all(services.map((s) => s.stop()));
  services = [];
  await llm.close();
});

/** A judge pointed at the local server, with fast retries. */
async function startJudge(env: Record<string, string> = {}, artifactRoot?: string) {
  const service = await startTestService(judgeService, {
    artifactRoot,
    env: {
      SPARK_JUDGE_BASE_URL: llm.baseUrl,
      OPENAI_API_KEY: 'sk-test',
      SPARK_JUDGE_RETRY_BASE_MS: '5',
      SPARK_JUDGE_RETRY_MAX_MS: '2000',
      ...env,
    },
  });
  services.push(service);
  const client = createClient(JudgeServiceClient, service.address);
  // Without the retry service config of createClient: shows the judge's own answer to one call.
  const rawClient = new JudgeServiceClient(service.address, credentials.createInsecure());
  return {
    service,
    score: (req: ScoreCandidatesRequest, timeoutMs = 20_000) => unary(client.scoreCandidates.bind(client), req, { timeoutMs }),
    scoreOnce: (req: ScoreCandidatesRequest) => unary(rawClient.scoreCandidates.bind(rawClient), req, { timeoutMs: 20_000 }),
    answer: (answerText: string) => unary(client.scoreAnswer.bind(client), { question, stepsSoFar: [], answerText }, { timeoutMs: 20_000 }),
    stats: () => unary(client.getStats.bind(client), {}, { timeoutMs: 5_000 }),
  };
}

async function grpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i += 1) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`gave up waiting: ${what}`);
}

describe('JudgeService with an OpenAI-compatible endpoint', () => {
  it('scores 9 candidates in one batch call: scores in order, viable above the threshold, usage and labels', async () => {
    const scores = [9, 3, 7, 6, 6.5, 0, 10, 2, 8];
    llm.respondWith(judgeResponder((i) => scores[i]));
    const judge = await startJudge();
    const res = await judge.score(request());
    expect(res.scores.map((s) => s.score)).toEqual(scores);
    expect(res.scores.map((s) => s.viable)).toEqual(scores.map((s) => s > 6));
    expect(res.scores.every((s) => !s.cached && s.rationale.startsWith('scripted verdict'))).toBe(true);
    expect(res).toMatchObject({ backend: 'openai:gpt-4o', promptVersion: 'judge-v1', threshold: 6 });
    expect(res.usage!.promptTokens).toBeGreaterThan(0);
    expect(res.usage!.cached).toBe(false);

    expect(llm.chatRequests).toHaveLength(1);
    const sent = llm.chatRequests[0].body!;
    expect(sent.model).toBe('gpt-4o');
    expect(sent.response_format?.type).toBe('json_schema');
    expect(judgeCandidateCount(llm.chatRequests[0])).toBe(9);
    expect(sent.messages![1].content).toContain('(B) 18.02');

    const strict = await judge.score(request({ threshold: 8.5, candidates: candidates.slice(0, 3) }));
    expect(strict.threshold).toBe(8.5);
    expect(strict.scores.map((s) => s.viable)).toEqual([true, false, false]);
  });

  it('single mode sends one call per candidate', async () => {
    const judge = await startJudge();
    const res = await judge.score(request({ mode: JudgeMode.JUDGE_MODE_SINGLE }));
    expect(res.scores).toHaveLength(9);
    expect(llm.chatRequests).toHaveLength(9);
    expect(llm.chatRequests.every((r) => judgeCandidateCount(r) === 0)).toBe(true);
  });

  it('retries a 429 after the Retry-After it names, then succeeds', async () => {
    llm.enqueue({ status: 429, headers: { 'retry-after-ms': '300' } });
    const judge = await startJudge();
    const res = await judge.score(request());
    expect(res.scores).toHaveLength(9);
    expect(llm.chatRequests).toHaveLength(2);
    // A lower bound only: the retry waited at least what the server asked (backoff alone is ~5 ms).
    expect(llm.chatRequests[1].receivedAtMs - llm.chatRequests[0].receivedAtMs).toBeGreaterThanOrEqual(290);
    const body = await scrape(judge.service.metricsPort);
    expect(sampleValue(body, 'spark_judge_llm_attempts_total', { outcome: 'rate_limited' })).toBe(1);
    expect(sampleValue(body, 'spark_judge_requests_total', { backend: 'openai:gpt-4o', outcome: 'ok' })).toBe(1);
  });

  it('500s until the retry budget is spent answer UNAVAILABLE naming the failure', async () => {
    llm.respondWith(() => ({ status: 500 }));
    const judge = await startJudge({ SPARK_JUDGE_MAX_RETRIES: '2', SPARK_JUDGE_BREAKER_FAILURES: '100' });
    const err = await grpcError(judge.scoreOnce(request()));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toMatch(/HTTP 500.*gave up after 3 attempts/);
    expect(llm.chatRequests).toHaveLength(3);
    expect((await judge.stats()).errors).toBe(1);
    const body = await scrape(judge.service.metricsPort);
    expect(sampleValue(body, 'spark_judge_requests_total', { outcome: 'unavailable' })).toBe(1);
    expect(sampleValue(body, 'spark_judge_llm_attempts_total', { outcome: 'server_error' })).toBe(3);
  });

  it('the circuit breaker opens on a dead endpoint and fails fast, even through gRPC client retries', async () => {
    llm.respondWith(() => ({ status: 503 }));
    const judge = await startJudge({ SPARK_JUDGE_MAX_RETRIES: '2', SPARK_JUDGE_BREAKER_FAILURES: '3', SPARK_JUDGE_BREAKER_COOLDOWN_MS: '600000' });
    // createClient retries UNAVAILABLE up to 5 times; the open breaker keeps those retries off the endpoint.
    const err = await grpcError(judge.score(request()));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(llm.chatRequests).toHaveLength(3);
    const fast = await grpcError(judge.scoreOnce(request()));
    expect(fast.code).toBe(status.UNAVAILABLE);
    expect(fast.details).toMatch(/circuit breaker open .*HTTP 503/);
    expect(llm.chatRequests).toHaveLength(3); // the endpoint was not called again
    const body = await scrape(judge.service.metricsPort);
    expect(sampleValue(body, 'spark_judge_circuit_open')).toBe(1);
    expect(sampleValue(body, 'spark_judge_llm_attempts_total', { outcome: 'breaker_open' })).toBeGreaterThanOrEqual(1);
  });

  it('a slow endpoint: the caller\'s deadline is honoured and the HTTP call is abandoned', async () => {
    llm.respondWith(() => ({ latencyMs: 60_000, content: '{}' }));
    const judge = await startJudge();
    const err = await grpcError(judge.score(request(), 500));
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    await until(() => llm.aborted === 1, 'the judge to drop its HTTP request');
    expect(llm.chatRequests).toHaveLength(1); // no retry after the deadline
    await until(() => llm.inFlight === 0, 'no request in flight');
    // The server sees the client's cancellation or its own deadline timer first, whichever fires first.
    const body = await scrape(judge.service.metricsPort);
    const ended = ['deadline_exceeded', 'cancelled'].map((outcome) => sampleValue(body, 'spark_judge_requests_total', { outcome }) ?? 0);
    expect(ended[0] + ended[1]).toBe(1);
  });

  it('an attempt past the per-call timeout is abandoned and retried', async () => {
    llm.enqueue({ latencyMs: 60_000, content: '{}' });
    const judge = await startJudge({ SPARK_JUDGE_TIMEOUT_MS: '300' });
    const res = await judge.score(request());
    expect(res.scores).toHaveLength(9);
    expect(llm.chatRequests).toHaveLength(2);
    await until(() => llm.aborted === 1, 'the timed-out request to be dropped');
    const body = await scrape(judge.service.metricsPort);
    expect(sampleValue(body, 'spark_judge_llm_attempts_total', { outcome: 'timeout' })).toBe(1);
    expect(sampleValue(body, 'spark_judge_llm_attempts_total', { outcome: 'ok' })).toBe(1);
  });

  it('malformed JSON gets one repair turn, then is a counted error', async () => {
    llm.enqueue({ content: 'They all look great to me!' }, { content: 'Candidate 0: 7/10' });
    const judge = await startJudge();
    const err = await grpcError(judge.score(request()));
    // FAILED_PRECONDITION, which gRPC clients do not retry: the same model would give the same reply.
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain('unusable reply after one repair');
    expect(llm.chatRequests).toHaveLength(2);
    const repair = llm.chatRequests[1].body!.messages!;
    expect(repair.at(-2)).toEqual({ role: 'assistant', content: 'They all look great to me!' });
    expect(repair.at(-1)!.content).toContain('not valid JSON');
    expect((await judge.stats()).errors).toBe(1);
    const body = await scrape(judge.service.metricsPort);
    expect(sampleValue(body, 'spark_judge_requests_total', { outcome: 'invalid_output' })).toBe(1);
    expect(sampleValue(body, 'spark_judge_llm_attempts_total', { outcome: 'invalid_output' })).toBe(2);

    // The same problem fixed by the repair turn is a success, and nothing of the bad reply is kept.
    llm.enqueue({ content: '```json\nnot quite' });
    const ok = await judge.score(request());
    expect(ok.scores.map((s) => s.score)).toEqual(Array(9).fill(7));
    expect(llm.chatRequests).toHaveLength(4);
  });

  it('rejects a score of 11 and a score of "high" instead of coercing them', async () => {
    llm.enqueue(
      (req) => ({ content: judgeReplyContent(req, (i) => (i === 4 ? 11 : 7)) }),
      (req) => ({ content: judgeReplyContent(req, (i) => (i === 2 ? 'high' : 7)) }),
    );
    const judge = await startJudge();
    const err = await grpcError(judge.score(request()));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain('scores[4].score: 11 is outside 0..10');
    expect(err.details).toContain('scores[2].score: "high" is not a number');
    expect(llm.chatRequests[1].body!.messages!.at(-1)!.content).toContain('11 is outside 0..10');
  });

  it('caches verdicts on disk: the second identical call and a restarted service cost zero calls', async () => {
    const root = tempDir('judge-cache-');
    const first = await startJudge({}, root);
    const a = await first.score(request());
    const b = await first.score(request());
    expect(llm.chatRequests).toHaveLength(1);
    expect(b.scores.map((s) => s.score)).toEqual(a.scores.map((s) => s.score));
    expect(b.scores.every((s) => s.cached)).toBe(true);
    expect(b.usage).toMatchObject({ promptTokens: 0, completionTokens: 0, cached: true });
    expect((await first.stats()).cacheHits).toBe(9);

    await first.service.stop({ keepArtifacts: true });
    services = services.filter((s) => s !== first.service);
    const second = await startJudge({}, root);
    const c = await second.score(request());
    expect(c.scores.every((s) => s.cached)).toBe(true);
    // A changed candidate misses alone: only it is sent.
    const changed = candidates.map((cand, i) => (i === 3 ? { ...cand, thought: 'A different thought.' } : cand));
    const d = await second.score(request({ candidates: changed }));
    expect(d.scores.map((s) => s.cached)).toEqual(changed.map((_, i) => i !== 3));
    expect(llm.chatRequests).toHaveLength(2);
    expect(judgeCandidateCount(llm.chatRequests[1])).toBe(1);
    rmSync(root, { recursive: true, force: true });
  });

  it('never has more requests in flight than the concurrency limit', async () => {
    llm.respondWith((req) => ({ latencyMs: 20, content: judgeReplyContent(req) }));
    const judge = await startJudge({ SPARK_JUDGE_CONCURRENCY: '4', SPARK_JUDGE_MODE: 'single', SPARK_JUDGE_CACHE: 'off' });
    const batches = Array.from({ length: 5 }, (_, b) => request({ candidates: candidates.map((c) => ({ ...c, thought: `${c.thought} #${b}` })) }));
    const results = await Promise.all(batches.map((r) => judge.score(r)));
    expect(results.flatMap((r) => r.scores)).toHaveLength(45);
    expect(llm.chatRequests).toHaveLength(45);
    expect(llm.maxInFlight).toBe(4);
  });

  it('falls back to plain JSON when the endpoint refuses response_format json_schema', async () => {
    llm.rejectJsonSchema = true;
    const judge = await startJudge({ SPARK_JUDGE_CACHE: 'off' });
    const res = await judge.score(request());
    expect(res.scores).toHaveLength(9);
    await judge.score(request({ candidates: candidates.slice(0, 2) }));
    expect(llm.chatRequests.map((r) => r.body!.response_format?.type ?? 'none')).toEqual(['json_schema', 'none', 'none']);
  });

  it('scores a final answer and checks the extracted letter against the key', async () => {
    llm.respondWith(judgeResponder(() => 9));
    const judge = await startJudge();
    const right = await judge.answer('Water is 2(1.008) + 16.00 = 18.02 g/mol, so the answer is (B)');
    expect(right).toMatchObject({ score: 9, extractedAnswer: 'B', correct: true, backend: 'openai:gpt-4o' });
    const wrong = await judge.answer('the answer is (C)');
    expect(wrong).toMatchObject({ extractedAnswer: 'C', correct: false });
  });

  it('exports tokens, cost and score metrics', async () => {
    const judge = await startJudge();
    await judge.score(request());
    const body = await scrape(judge.service.metricsPort);
    expect(sampleValue(body, 'spark_judge_tokens_total', { kind: 'prompt' })).toBeGreaterThan(0);
    expect(sampleValue(body, 'spark_judge_tokens_total', { kind: 'completion' })).toBeGreaterThan(0);
    expect(sampleValue(body, 'spark_judge_cost_usd_total')).toBeGreaterThan(0);
    expect(sampleValue(body, 'spark_judge_score_count', { backend: 'openai:gpt-4o' })).toBe(9);
    expect(sampleValue(body, 'spark_judge_request_duration_seconds_count')).toBe(1);
    const stats = await judge.stats();
    expect(stats).toMatchObject({ requests: 1, errors: 0, backend: 'openai:gpt-4o' });
    expect(stats.costUsd).toBeGreaterThan(0);
  });

  it('rejects bad requests with INVALID_ARGUMENT naming the field', async () => {
    const judge = await startJudge();
    const noQuestion = await grpcError(judge.score(request({ question: undefined })));
    expect(noQuestion.code).toBe(status.INVALID_ARGUMENT);
    expect(noQuestion.details).toContain('question');
    const badThreshold = await grpcError(judge.score(request({ threshold: 11 })));
    expect(badThreshold.details).toMatch(/threshold: 11 is out of range \(allowed: 0\.\.10\)/);
    const none = await grpcError(judge.score(request({ candidates: [] })));
    expect(none.details).toContain('candidates');
    expect(llm.chatRequests).toHaveLength(0);
  });
});

describe('JudgeService offline (no endpoint configured)', () => {
  it('is the default, labelled offline, deterministic, and prefers a tool output that answers over an error', async () => {
    const service = await startTestService(judgeService, {});
    services.push(service);
    const client = createClient(JudgeServiceClient, service.address);
    const answering = Candidate.fromPartial({ action: 'chemistry', thought: 'Get the molar mass of H2O with the chemistry tool.', toolCall: ToolCall.fromPartial({ name: 'chemistry', inputJson: '{"operation":"molar_mass","formula":"H2O"}', output: 'molar mass of H2O: 18.015 g/mol' }) });
    const failing = Candidate.fromPartial({ action: 'python', thought: 'Compute the molar mass of H2O in Python.', toolCall: ToolCall.fromPartial({ name: 'python', inputJson: '{"code":"print(m)"}', error: "NameError: name 'm' is not defined" }) });
    const req = request({ candidates: [failing, answering] });
    const first = await unary(client.scoreCandidates.bind(client), req, { timeoutMs: 10_000 });
    const again = await unary(client.scoreCandidates.bind(client), req, { timeoutMs: 10_000 });
    expect(first.backend).toBe('offline');
    expect(again.scores).toEqual(first.scores);
    expect(first.scores[1].score).toBeGreaterThan(first.scores[0].score);
    expect(first.scores.map((s) => s.viable)).toEqual([false, true]);
    expect(first.usage).toMatchObject({ promptTokens: 0, completionTokens: 0 });
    const body = await scrape(service.metricsPort);
    expect(sampleValue(body, 'spark_judge_requests_total', { backend: 'offline', outcome: 'ok' })).toBe(2);
  });
});

describe('spark judge score', () => {
  const candidatesJson = JSON.stringify([
    { action: 'python', thought: 'Compute the relative difference for x = 0.0050.', tool_input: { code: 'import math; x=0.005; print((x-math.log1p(x))/math.log1p(x)*100)' }, tool_output: '0.24916874' },
    { action: 'calculator', thought: 'Evaluate ln(1.005).', tool_input: '{"expression": "ln(1.005"}', tool_error: 'SyntaxError: parenthesis ) expected' },
    { action: 'cot', thought: 'ln(1+x) ≈ x - x^2/2, so the difference is about x/2 = 0.25 %. The answer is (J)' },
  ]);

  it('scores a shipped question through the same backend and cache as the service, in order, as JSON', async () => {
    const dir = tempDir('judge-cli-');
    const file = join(dir, 'candidates.json');
    writeFileSync(file, candidatesJson);
    llm.respondWith(judgeResponder((i) => [8, 1, 6.5][i]));
    const env = { SPARK_JUDGE_BASE_URL: llm.baseUrl, OPENAI_API_KEY: 'sk-test', SPARK_ARTIFACT_ROOT: join(dir, 'artifacts') };
    const args = ['judge', 'score', '--question-id', '3552', '--candidates', file, '--format', 'json'];
    const first = await runSparkAsync(args, env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const rows = JSON.parse(first.stdout) as Array<Record<string, unknown>>;
    expect(rows).toEqual([
      { action: 'python', score: 8, viable: true, rationale: 'scripted verdict 0', cached: false },
      { action: 'calculator', score: 1, viable: false, rationale: 'scripted verdict 1', cached: false },
      { action: 'cot', score: 6.5, viable: true, rationale: 'scripted verdict 2', cached: false },
    ]);
    expect(llm.chatRequests[0].body!.messages![1].content).toContain('ln (1+x)');

    const again = await runSparkAsync([...args, '--judge-mode', 'single'], env);
    expect((JSON.parse(again.stdout) as Array<{ cached: boolean }>).every((r) => r.cached)).toBe(true);
    expect(llm.chatRequests).toHaveLength(1);
    rmSync(dir, { recursive: true, force: true });
  });

  it('works offline with a question file, prints a table, and names bad flags', async () => {
    const dir = tempDir('judge-cli-');
    writeFileSync(join(dir, 'candidates.json'), candidatesJson);
    writeFileSync(join(dir, 'question.json'), JSON.stringify({ question_id: 3552, question: 'Calculate the percentage difference between ln(1+x) and x for x=0.0050', options: ['2.490 %', '0.005 %', '0.249 %'], answer: 'C', answer_index: 2, cot_content: '', category: 'chemistry', src: 'scibench-chemmc' }));
    const offline = { OPENAI_API_KEY: '', SPARK_JUDGE_BASE_URL: '' }; // whatever the developer's shell holds
    const table = await runSparkAsync(['judge', 'score', '--question-file', join(dir, 'question.json'), '--candidates', join(dir, 'candidates.json'), '--artifact-root', dir], offline);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^action\s+score\s+viable\s+cached\s+rationale/);
    expect(table.stdout).toMatch(/^python\s+\d+\.\d\s+yes/m);
    expect(table.stdout).toMatch(/^calculator\s+\d+\.\d\s+no\s+no\s+offline: tool failed/m);
    expect(table.stdout).toContain('backend offline, prompt judge-v1');

    const missing = await runSparkAsync(['judge', 'score', '--question-id', '99999999', '--candidates', join(dir, 'candidates.json')], offline);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--question-id: question 99999999 is not in the shipped splits');
    writeFileSync(join(dir, 'bad.json'), '[{"thought": "no action"}]');
    const bad = await runSparkAsync(['judge', 'score', '--question-id', '3552', '--candidates', join(dir, 'bad.json')], offline);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('[0].action');
    rmSync(dir, { recursive: true, force: true });
  });
});
