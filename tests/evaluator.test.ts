/**
 * The evaluator over real gRPC: a tiny scripted policy (an OpenAI-compatible HTTP server in this
 * process) answers 28 MMLU-Pro questions (2 per category, from the dataset service) in both modes; in
 * agentic mode its tool calls really run in the trajectory service. Checked: every answer scored as
 * the reference would, the report and its figures, the live metrics, request validation, and
 * `spark eval run` killed with SIGKILL mid-run and run again, resuming without asking a done question
 * twice.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, serverStream, unary } from '../services/common/client.js';
import { JobState, ModelBackend, type ModelRef, type Question } from '../services/common/gen/spark/v1/common.js';
import { DatasetServiceClient, Split } from '../services/common/gen/spark/v1/dataset.js';
import { EvalMode, EvaluatorServiceClient, ExtractionMode, StartEvaluationRequest } from '../services/common/gen/spark/v1/evaluator.js';
import { SPARK_BIN } from '../services/common/launcher.js';
import { CATEGORIES } from '../services/dataset/categories.js';
import { defineService } from '../services/common/service.js';
import { TrainerServiceService, type GenerateRequest, type GenerateResponse } from '../services/common/gen/spark/v1/trainer.js';
import { datasetService } from '../services/dataset/main.js';
import { evaluatorService } from '../services/evaluator/main.js';
import type { EvalRecord } from '../services/evaluator/results.js';
import { trajectoryService } from '../services/trajectory/main.js';
import { runSparkAsync } from './helpers/cli.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { OpenAIServer, type RecordedRequest } from './helpers/openai-server.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';

const LETTERS = 'ABCDEFGHIJ';

/** One tool call per category family, with inputs the tools accept (their documented examples). */
const TOOL_FOR: Record<string, string> = {
  math: '{"name": "calculator", "parameters": {"expression": "2+3*4"}}',
  physics: '{"name": "unit_converter", "parameters": {"value": 3, "from": "km/h", "to": "m/s"}}',
  engineering: '{"name": "unit_converter", "parameters": {"value": 3, "from": "km/h", "to": "m/s"}}',
  chemistry: '{"name": "chemistry", "parameters": {"operation": "molar_mass", "formula": "C6H12O6"}}',
  business: '{"name": "finance", "parameters": {"operation": "npv", "rate": 0.05, "cashflows": [-100, 30, 40, 50]}}',
  economics: '{"name": "finance", "parameters": {"operation": "npv", "rate": 0.05, "cashflows": [-100, 30, 40, 50]}}',
  philosophy: '{"name": "logic", "parameters": {"operation": "valid", "formula": "(p -> q) & p -> q"}}',
  law: '{"name": "logic", "parameters": {"operation": "valid", "formula": "(p -> q) & p -> q"}}',
};

/**
 * The tiny policy. "tiny-a" calls a tool (by category) then answers, right on even ids; in CoT mode it
 * is right unless id % 3 == 0. "tiny-b" never calls a tool and is right on odd ids in both modes.
 */
function tinyPolicy(questions: readonly Question[]) {
  const byText = new Map(questions.map((q) => [q.question, q]));
  const find = (text: string): Question => {
    const blocks = text.split('Question:\n');
    const last = blocks[blocks.length - 1];
    const q = byText.get(last.slice(0, last.indexOf('\nOptions:\n')));
    if (!q) throw new Error(`the policy got a question it does not know: ${last.slice(0, 80)}`);
    return q;
  };
  const wrong = (q: Question) => LETTERS[(LETTERS.indexOf(q.answer) + 1) % q.options.length];
  return (req: RecordedRequest) => {
    const messages = req.body!.messages!;
    const model = req.body!.model;
    const agentic = messages[0].role === 'system';
    const q = find(agentic ? messages[1].content : messages[messages.length - 1].content);
    if (!agentic) {
      const right = model === 'tiny-a' ? q.questionId % 3 !== 0 : q.questionId % 2 === 1;
      return { content: `Let's think step by step. Weighing the options, the answer is (${right ? q.answer : wrong(q)}).` };
    }
    const stepsSoFar = messages.length - 2;
    if (model === 'tiny-a' && stepsSoFar === 0) return { content: TOOL_FOR[q.category] ?? 'Let me recall the relevant facts first.' };
    const right = model === 'tiny-a' ? q.questionId % 2 === 0 : q.questionId % 2 === 1;
    return { content: `Given what we found, the answer is (${right ? q.answer : wrong(q)})` };
  };
}

const expectedCorrect = (model: string, mode: string, id: number) =>
  model === 'tiny-a' ? (mode === 'agentic' ? id % 2 === 0 : id % 3 !== 0) : id % 2 === 1;

describe('evaluator over gRPC with a tiny policy on 28 questions', () => {
  let llm: OpenAIServer;
  let dataset: TestService;
  let trajectory: TestService;
  let evaluator: TestService;
  let client: EvaluatorServiceClient;
  let questions: Question[];

  beforeAll(async () => {
    dataset = await startTestService(datasetService);
    trajectory = await startTestService(trajectoryService);
    const ds = createClient(DatasetServiceClient, dataset.address);
    questions = [];
    for await (const q of serverStream(ds.sampleQuestions.bind(ds), { n: 28, seed: 9, perCategory: true, categories: [], questionIds: [], split: Split.SPLIT_EVAL }, { timeoutMs: 30_000 })) questions.push(q);
    ds.close();
    llm = await OpenAIServer.start();
    llm.respondWith(tinyPolicy(questions));
    evaluator = await startTestService(evaluatorService, { env: { SPARK_DATASET_ADDRESS: dataset.address, SPARK_TRAJECTORY_ADDRESS: trajectory.address } });
    client = createClient(EvaluatorServiceClient, evaluator.address);
  });

  afterAll(async () => {
    client?.close();
    await evaluator?.stop();
    await trajectory?.stop();
    await dataset?.stop();
    await llm?.close();
  });

  const model = (name: string): ModelRef => ({ name, backend: ModelBackend.MODEL_BACKEND_OPENAI, baseModelPath: '', adapter: undefined, endpointBaseUrl: llm.baseUrl, endpointModel: name });

  it('answers all 28 questions per model and mode, runs the tools, and reports what the policy did', async () => {
    expect(questions).toHaveLength(28);
    expect(new Set(questions.map((q) => q.category)).size).toBe(14);
    const request = StartEvaluationRequest.fromPartial({
      requestId: 'tiny-28', models: [model('tiny-a'), model('tiny-b')], modes: [EvalMode.EVAL_MODE_COT_5SHOT, EvalMode.EVAL_MODE_AGENTIC],
      questionIds: questions.map((q) => q.questionId), concurrency: 4, seed: 1, outDir: 'eval/tiny',
    });
    const job = await unary(client.startEvaluation.bind(client), request, { timeoutMs: 10_000 });
    expect((await unary(client.startEvaluation.bind(client), request, { timeoutMs: 10_000 })).id).toBe(job.id);
    const progress: number[] = [];
    for await (const ev of serverStream(client.watchJob.bind(client), { jobId: job.id, afterSeq: 0 }, { timeoutMs: 120_000 })) progress.push(ev.progress);
    const done = await unary(client.getJob.bind(client), { jobId: job.id }, { timeoutMs: 5_000 });
    expect(done.message).toMatch(/^112 answers \(112 new\) over 28 questions/);
    expect(done.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(progress.at(-1)).toBe(1);
    expect(done.artifacts.map((a) => a.uri).sort()).toEqual(['eval/tiny/report.html', 'eval/tiny/report.md', 'eval/tiny/results.jsonl']);

    // Every (model, mode, question) once, scored as the policy was scripted.
    const records = readFileSync(join(evaluator.artifactRoot, 'eval/tiny/results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EvalRecord);
    expect(records).toHaveLength(112);
    expect(new Set(records.map((r) => `${r.model}/${r.mode}/${r.question_id}`)).size).toBe(112);
    for (const r of records) expect(r.correct, `${r.model} ${r.mode} ${r.question_id}`).toBe(expectedCorrect(r.model, r.mode, r.question_id));

    // The tools really ran in the trajectory service, and the policy read their output.
    const math = records.filter((r) => r.model === 'tiny-a' && r.mode === 'agentic' && r.category === 'math');
    expect(math.map((r) => r.actions)).toEqual([['calculator', 'cot'], ['calculator', 'cot']]);
    expect(math[0].steps![0].output).toMatch(/\b14\b/);
    const chem = records.find((r) => r.model === 'tiny-a' && r.mode === 'agentic' && r.category === 'chemistry')!;
    expect(chem.steps![0].output).toMatch(/180\.1\d/);
    const sawToolOutput = llm.chatRequests.some((req) => req.body!.model === 'tiny-a' && req.body!.messages!.some((m) => m.role === 'user' && /180\.1\d/.test(m.content)));
    expect(sawToolOutput).toBe(true);
    // The reference 5-shot prompt went to the model in CoT mode, with its stop string.
    const cotRequest = llm.chatRequests.find((req) => req.body!.messages!.length === 1)!;
    expect(cotRequest.body!.messages![0].content).toMatch(/^The following are multiple choice questions \(with answers\) about /);
    expect(cotRequest.body!.messages![0].content.match(/\nAnswer: Let's think step by step\./g)).toHaveLength(6);
    expect(cotRequest.body!.stop).toEqual(['Question:']);

    // The report: figures per model and mode, categories, entropy, comparisons, files on disk.
    const report = await unary(client.getReport.bind(client), { jobId: job.id }, { timeoutMs: 30_000 });
    expect(report.results.map((r) => `${r.model}/${EvalMode[r.mode]}`)).toEqual(['tiny-a/EVAL_MODE_COT_5SHOT', 'tiny-b/EVAL_MODE_COT_5SHOT', 'tiny-a/EVAL_MODE_AGENTIC', 'tiny-b/EVAL_MODE_AGENTIC']);
    for (const r of report.results) {
      const mode = r.mode === EvalMode.EVAL_MODE_AGENTIC ? 'agentic' : 'cot_5shot';
      const right = questions.filter((q) => expectedCorrect(r.model, mode, q.questionId)).length;
      expect(r.overall).toEqual({ accuracy: right / 28, n: 28, noAnswer: 0 });
      expect(Object.keys(r.categories)).toEqual([...CATEGORIES]);
      for (const c of CATEGORIES) expect(r.categories[c].n).toBe(2);
    }
    const a = report.results[2];
    expect(a.actionCounts.cot).toBe(40); // 28 answers + a thought before answering on the 12 questions without a tool
    expect(a.actionCounts.calculator).toBe(2);
    expect(a.actionCounts.finance).toBe(4);
    expect(a.toolEntropyBits).toBeGreaterThan(1.2);
    expect(a.toolEntropyCiLow).toBeLessThanOrEqual(a.toolEntropyBits);
    expect(a.toolEntropyCiHigh).toBeGreaterThanOrEqual(a.toolEntropyCiLow);
    expect(a.normalizedToolEntropy).toBeCloseTo(a.toolEntropyBits / Math.log2(9), 12);
    expect(report.results[3].toolEntropyBits).toBe(0);
    expect(report.comparisons).toHaveLength(2);
    expect(report.markdownText).toContain('| tiny-a | agentic |');
    const html = readFileSync(join(evaluator.artifactRoot, report.html!.uri), 'utf8');
    expect(html.match(/<rect class="bar" data-kind="accuracy-agentic"/g)).toHaveLength(28);

    // Live metrics on /metrics.
    const body = await scrape(evaluator.metricsPort);
    for (const c of CATEGORIES) {
      const figure = a.categories[c].accuracy;
      expect(sampleValue(body, 'spark_eval_accuracy_ratio', { model: 'tiny-a', mode: 'agentic', category: c })).toBeCloseTo(figure, 12);
    }
    expect(sampleValue(body, 'spark_eval_tool_entropy_bits', { model: 'tiny-a' })).toBeCloseTo(a.toolEntropyBits, 12);
    expect(sampleValue(body, 'spark_eval_tool_entropy_bits', { model: 'tiny-b' })).toBe(0);
    const right = questions.filter((q) => q.questionId % 2 === 0).length;
    expect(sampleValue(body, 'spark_eval_questions_total', { model: 'tiny-a', mode: 'agentic', outcome: 'correct' })).toBe(right);
    expect(sampleValue(body, 'spark_eval_questions_total', { model: 'tiny-a', mode: 'agentic', outcome: 'wrong' })).toBe(28 - right);
  });

  it('scores responses over gRPC (ScoreResponses) as the reference does', async () => {
    const res = await unary(client.scoreResponses.bind(client), {
      responses: [
        { questionId: 1, category: 'math', answer: 'C', response: 'so the answer is (C)' },
        { questionId: 2, category: 'math', answer: 'B', response: 'Answer: D' },
        { questionId: 3, category: 'computer_science', answer: 'A', response: 'unsure' },
      ],
      extraction: ExtractionMode.EXTRACTION_MODE_STRICT, seed: 0,
    }, { timeoutMs: 5_000 });
    expect(res.overall).toEqual({ accuracy: 1 / 3, n: 3, noAnswer: 1 });
    expect(res.categories).toEqual({ 'computer science': { accuracy: 0, n: 1, noAnswer: 1 }, math: { accuracy: 0.5, n: 2, noAnswer: 0 } });
    await expect(unary(client.scoreResponses.bind(client), { responses: [{ questionId: 1, category: 'law', answer: 'Q', response: '' }], extraction: 0, seed: 0 }, { timeoutMs: 5_000 }))
      .rejects.toMatchObject({ code: GrpcStatus.INVALID_ARGUMENT, details: expect.stringContaining('responses[0].answer') });
  });

  it('rejects bad requests naming the field and the allowed values', async () => {
    const bad = async (over: Partial<StartEvaluationRequest>, code: GrpcStatus, text: string) => {
      const req = StartEvaluationRequest.fromPartial({ requestId: `bad-${Math.random()}`, models: [model('m')], modes: [EvalMode.EVAL_MODE_COT_5SHOT], ...over });
      await expect(unary(client.startEvaluation.bind(client), req, { timeoutMs: 5_000 })).rejects.toMatchObject({ code, details: expect.stringContaining(text) });
    };
    await bad({ models: [] }, GrpcStatus.INVALID_ARGUMENT, 'models: at least one model is required');
    await bad({ models: [{ ...model('m'), endpointBaseUrl: 'not a url' }] }, GrpcStatus.INVALID_ARGUMENT, 'models[0].endpoint_base_url');
    await bad({ models: [{ ...model('m'), backend: ModelBackend.MODEL_BACKEND_TRAINER }] }, GrpcStatus.INVALID_ARGUMENT, 'models[0].base_model_path: required for the TRAINER backend');
    await bad({ models: [model('m'), model('m')] }, GrpcStatus.INVALID_ARGUMENT, 'models[1].name: duplicate name');
    await bad({ modes: [] }, GrpcStatus.INVALID_ARGUMENT, 'modes: at least one mode is required (allowed: EVAL_MODE_COT_5SHOT, EVAL_MODE_AGENTIC)');
    await bad({ outDir: '../elsewhere' }, GrpcStatus.INVALID_ARGUMENT, 'out_dir');
    await bad({ concurrency: 1_000 }, GrpcStatus.INVALID_ARGUMENT, 'concurrency: 1000 is out of range (allowed: 1..256');
    await expect(unary(client.getReport.bind(client), { jobId: 'evaluation-nope' }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: GrpcStatus.NOT_FOUND });
  });
});

describe('spark eval run, killed with SIGKILL and run again', () => {
  let llm: OpenAIServer;
  let questions: Question[];

  beforeAll(async () => {
    const dataset = await startTestService(datasetService);
    const ds = createClient(DatasetServiceClient, dataset.address);
    questions = [];
    for await (const q of serverStream(ds.sampleQuestions.bind(ds), { n: 28, seed: 3, perCategory: true, categories: [], questionIds: [], split: Split.SPLIT_EVAL }, { timeoutMs: 30_000 })) questions.push(q);
    ds.close();
    await dataset.stop();
    // Slow enough that the kill lands mid-run.
    llm = await OpenAIServer.start({ latencyMs: 150 });
    llm.respondWith(tinyPolicy(questions));
  });

  afterAll(async () => { await llm?.close(); });

  it('resumes from results.jsonl without asking a done question again', async () => {
    const out = join(tempDir('spark-eval-kill-'), 'run');
    const args = ['eval', 'run', '--model', `name=tiny-a,backend=openai,url=${llm.baseUrl},model=tiny-a`, '--n', '28', '--per-category', '--seed', '3', '--concurrency', '2', '--out', out];
    const results = join(out, 'results.jsonl');
    const lines = () => (existsSync(results) ? readFileSync(results, 'utf8').split('\n').filter((l) => l.endsWith('}')) : []);

    const child = spawn(process.execPath, [SPARK_BIN, ...args], { stdio: 'ignore', env: { ...process.env, SPARK_LOG_LEVEL: 'warn' } });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    for (let i = 0; i < 1_200 && lines().length < 12; i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await exited;
    const before = lines().map((l) => JSON.parse(l) as EvalRecord);
    expect(before.length).toBeGreaterThanOrEqual(12);
    expect(before.length).toBeLessThan(56);
    const restartSeq = llm.requests.length;

    const second = await runSparkAsync(args);
    expect(second.stderr).not.toMatch(/spark: /);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('| tiny-a | agentic |');
    expect(second.stdout).toContain(`report: ${join(out, 'report.html')}`);

    const after = lines().map((l) => JSON.parse(l) as EvalRecord);
    expect(after).toHaveLength(56);
    const keys = after.map((r) => `${r.mode}/${r.question_id}`);
    expect(new Set(keys).size).toBe(56);
    expect(new Set(after.map((r) => r.question_id))).toEqual(new Set(questions.map((q) => q.questionId)));
    // Nothing answered before the kill was asked again.
    const doneBefore = new Set(before.map((r) => `${r.mode}/${r.question_id}`));
    const text = new Map(questions.map((q) => [q.question, q.questionId]));
    for (const req of llm.requests.slice(restartSeq)) {
      const messages = req.body!.messages!;
      const mode = messages[0].role === 'system' ? 'agentic' : 'cot_5shot';
      const content = mode === 'agentic' ? messages[1].content : messages[0].content;
      const last = content.split('Question:\n').at(-1)!;
      const id = text.get(last.slice(0, last.indexOf('\nOptions:\n')));
      expect(doneBefore.has(`${mode}/${id}`), `${mode}/${id} asked again`).toBe(false);
    }
    for (const r of after) expect(r.correct).toBe(expectedCorrect('tiny-a', r.mode, r.question_id));
  });
});

describe('TRAINER models through TrainerService.Generate', () => {
  it('streams tokens from the trainer for CoT and agentic turns, passing the model and adapter', async () => {
    const dataset = await startTestService(datasetService);
    const trajectory = await startTestService(trajectoryService);
    const ds = createClient(DatasetServiceClient, dataset.address);
    const questions: Question[] = [];
    for await (const q of serverStream(ds.sampleQuestions.bind(ds), { n: 14, seed: 4, perCategory: true, categories: [], questionIds: [], split: Split.SPLIT_EVAL }, { timeoutMs: 30_000 })) questions.push(q);
    ds.close();
    const policy = tinyPolicy(questions);
    // A stand-in TrainerService: Generate streams the tiny policy's reply to each conversation (one batch
    // row each) a few characters per message, the rows interleaved, each ending when its text does.
    const seen: GenerateRequest[] = [];
    const fakeTrainer = defineService({
      name: 'trainer',
      definition: TrainerServiceService,
      summary: 'scripted Generate for tests',
      createHandlers: () => ({
        generate: async function* (req: GenerateRequest): AsyncGenerator<GenerateResponse> {
          seen.push(req);
          const texts = req.conversations.map((c) => policy({ seq: 0, method: 'POST', path: '/v1/chat/completions', headers: {}, body: { model: 'tiny-a', messages: c.messages }, receivedAtMs: 0 }).content!);
          for (let i = 0; i < Math.max(...texts.map((t) => t.length)); i += 5) {
            for (const [index, text] of texts.entries()) {
              if (i >= text.length) continue;
              yield { index, tokenId: i, text: text.slice(i, i + 5), logprob: -0.1, finished: false, finishReason: '' };
              if (i + 5 >= text.length) yield { index, tokenId: 0, text: '', logprob: 0, finished: true, finishReason: 'stop' };
            }
          }
        },
      }),
    });
    const trainer = await startTestService(fakeTrainer);
    const evaluator = await startTestService(evaluatorService, { env: { SPARK_DATASET_ADDRESS: dataset.address, SPARK_TRAJECTORY_ADDRESS: trajectory.address, SPARK_TRAINER_ADDRESS: trainer.address } });
    const client = createClient(EvaluatorServiceClient, evaluator.address);
    try {
      const spark: ModelRef = { name: 'spark', backend: ModelBackend.MODEL_BACKEND_TRAINER, baseModelPath: '/models/tiny-llama', adapter: { uri: 'runs/ppo/adapter', mediaType: '', sha256: '', sizeBytes: 0 }, endpointBaseUrl: '', endpointModel: '' };
      const job = await unary(client.startEvaluation.bind(client), StartEvaluationRequest.fromPartial({
        requestId: 'trainer-14', models: [spark], modes: [EvalMode.EVAL_MODE_COT_5SHOT, EvalMode.EVAL_MODE_AGENTIC], questionIds: questions.map((q) => q.questionId), outDir: 'eval/trainer',
      }), { timeoutMs: 10_000 });
      for await (const _ of serverStream(client.watchJob.bind(client), { jobId: job.id, afterSeq: 0 }, { timeoutMs: 120_000 })) { /* until done */ }
      const done = await unary(client.getJob.bind(client), { jobId: job.id }, { timeoutMs: 5_000 });
      expect(done.state, done.message).toBe(JobState.JOB_STATE_SUCCEEDED);
      const report = await unary(client.getReport.bind(client), { jobId: job.id }, { timeoutMs: 30_000 });
      for (const r of report.results) {
        const mode = r.mode === EvalMode.EVAL_MODE_AGENTIC ? 'agentic' : 'cot_5shot';
        expect(r.overall!.accuracy).toBeCloseTo(questions.filter((q) => expectedCorrect('tiny-a', mode, q.questionId)).length / 14, 12);
      }
      expect(seen[0].model).toMatchObject({ name: 'spark', backend: ModelBackend.MODEL_BACKEND_TRAINER, baseModelPath: '/models/tiny-llama', adapter: { uri: 'runs/ppo/adapter' } });
      expect(seen.some((r) => r.sampling!.stop.join() === 'Question:')).toBe(true);
      expect(seen.some((r) => r.sampling!.stop.join() === '<|eot_id|>,<|eom_id|>' && r.conversations.some((c) => c.messages.some((m) => m.role === 'ipython')))).toBe(true);
      // Concurrent turns went as batches: fewer Generate calls than turns.
      expect(Math.max(...seen.map((r) => r.conversations.length))).toBeGreaterThan(1);
    } finally {
      client.close();
      await evaluator.stop();
      await trainer.stop();
      await trajectory.stop();
      await dataset.stop();
    }
  });
});
