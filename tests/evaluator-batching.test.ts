/**
 * The evaluator's batched generation against a real TrainerService on loopback with two tiny random
 * Llamas: concurrent greedy calls for one model become fewer Generate calls (counted by the trainer's own
 * spark_grpc_requests_total) with the answers of one call each, for two models at once; a whole
 * evaluation (both modes, tools, the runner's wider lane for trainer models) writes the same records
 * batched as unbatched; a cancelled caller leaves its batch without failing the others; a failed call
 * fails every caller in its batch.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatMessage, Question } from '../services/common/gen/spark/v1/common.js';
import { CancelledError } from '../services/common/errors.js';
import { createLogger } from '../services/common/logging.js';
import type { ToolRunner } from '../services/evaluator/agentic.js';
import { createBackend, type BackendSettings, type ModelBackend, type Sampling } from '../services/evaluator/backends.js';
import { readResults, resultsPath } from '../services/evaluator/results.js';
import { runEvaluation } from '../services/evaluator/runner.js';
import type { EvalSpec, ModelSpec } from '../services/evaluator/spec.js';
import { trainerService } from '../services/trainer/main.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';
import { tinyModel } from './helpers/trainer-fixtures.js';

const WORDS = ['energy', 'the', 'ledger', 'of', 'a', 'proof', 'moles', 'interest', 'court', 'cell'];
const GREEDY: Sampling = { maxTokens: 12, temperature: 0, stop: ['Question:'], seed: 0 };

let root: string;
let trainer: TestService;

const modelA: ModelSpec = { name: 'a', backend: 'trainer', baseModelPath: 'models/a' };
const modelB: ModelSpec = { name: 'b', backend: 'trainer', baseModelPath: 'models/b' };

function settings(maxBatch: number, windowMs = 50): BackendSettings {
  return { trainerAddress: trainer.address, requestTimeoutMs: 60_000, maxRetries: 0, concurrency: 4, trainerBatching: { maxBatch, windowMs } };
}

/** A chat of about `words` words (some longer than one prefill chunk of the trainer). */
function chat(q: number, words: number): ChatMessage[] {
  const text = Array.from({ length: words }, (_, i) => WORDS[(i * 3 + q) % WORDS.length]).join(' ');
  return [{ role: 'system', content: 'Answer briefly.' }, { role: 'user', content: `Question ${q}: ${text}?` }];
}

const CHATS = [chat(1, 8), chat(2, 300), chat(3, 40), chat(4, 120), chat(5, 15), chat(6, 200), chat(7, 60), chat(8, 25), chat(9, 90), chat(10, 10)];

/** Generate calls the trainer has answered so far, by status code. */
async function generateCalls(code = 'OK'): Promise<number> {
  return sampleValue(await scrape(trainer.metricsPort), 'spark_grpc_requests_total', { service: 'trainer', method: 'Generate', code }) ?? 0;
}

async function answerAll(backend: ModelBackend, chats: ChatMessage[][]) {
  return Promise.all(chats.map((c) => backend.generate(c, GREEDY, new AbortController().signal)));
}

beforeAll(async () => {
  root = tempDir('spark-eval-batching-');
  mkdirSync(join(root, 'models'));
  await tinyModel(join(root, 'models'), { name: 'a', seed: 3, initRange: 0.25 });
  await tinyModel(join(root, 'models'), { name: 'b', seed: 11, initRange: 0.25 });
  trainer = await startTestService(trainerService, { env: { SPARK_TRAINER_THREADS: '2' }, overrides: { artifactRoot: root } });
}, 120_000);

afterAll(async () => {
  await trainer?.stop();
});

describe('evaluator batching over a real TrainerService', () => {
  it('answers concurrent calls for two models in fewer Generate calls, each as a call of its own would', async () => {
    const one = { a: createBackend(modelA, settings(1)), b: createBackend(modelB, settings(1)) };
    const before = await generateCalls();
    const [aloneA, aloneB] = await Promise.all([answerAll(one.a, CHATS), answerAll(one.b, CHATS)]);
    expect(await generateCalls()).toBe(before + 20);

    const batched = { a: createBackend(modelA, settings(4)), b: createBackend(modelB, settings(4)) };
    const [togetherA, togetherB] = await Promise.all([answerAll(batched.a, CHATS), answerAll(batched.b, CHATS)]);
    // Per model: two full batches of 4 at once, then the last 2 together.
    expect(await generateCalls()).toBe(before + 20 + 6);
    expect(togetherA).toEqual(aloneA);
    expect(togetherB).toEqual(aloneB);
    expect(aloneA.every((g) => g.tokens! > 0)).toBe(true);
    expect(aloneA.map((g) => g.text)).not.toEqual(aloneB.map((g) => g.text));
    for (const b of [one.a, one.b, batched.a, batched.b]) b.close();
  }, 120_000);

  it('lets a cancelled caller leave its batch: the others get their answers from the same call', async () => {
    const alone = createBackend(modelA, settings(1));
    const expected = await answerAll(alone, CHATS.slice(0, 3));
    const backend = createBackend(modelA, settings(3, 0));
    const before = await generateCalls();
    const controllers = CHATS.slice(0, 3).map(() => new AbortController());
    const calls = CHATS.slice(0, 3).map((c, i) => backend.generate(c, GREEDY, controllers[i].signal));
    controllers[1].abort(new CancelledError('question 2 timed out'));
    await expect(calls[1]).rejects.toThrow('question 2 timed out');
    expect(await calls[0]).toEqual(expected[0]);
    expect(await calls[2]).toEqual(expected[2]);
    expect(await generateCalls()).toBe(before + 1);
    alone.close();
    backend.close();
  }, 60_000);

  it('fails every caller of a batch whose Generate call fails', async () => {
    const backend = createBackend({ name: 'missing', backend: 'trainer', baseModelPath: 'models/none' }, settings(3));
    const before = await generateCalls('NOT_FOUND');
    const calls = CHATS.slice(0, 3).map((c) => backend.generate(c, GREEDY, new AbortController().signal));
    for (const call of calls) await expect(call).rejects.toMatchObject({ code: status.NOT_FOUND });
    expect(await generateCalls('NOT_FOUND')).toBe(before + 1);
    backend.close();
  }, 60_000);

  it('writes the same evaluation batched as unbatched, in fewer Generate calls', async () => {
    const questions: Question[] = [1, 2, 3, 4, 5, 6].map((id) => ({
      questionId: id, question: `Question ${id}: ${chat(id, 20 * id)[1].content}`, options: ['A0', 'B1', 'C2', 'D3'],
      answer: 'ABCD'[id % 4], answerIndex: id % 4, cotContent: '', category: id % 2 ? 'math' : 'law', src: 'test',
    }));
    const runTool: ToolRunner = async (name, inputJson) => ({ name, inputJson, output: `${name} says 42`, error: '', durationMs: 1, structuredJson: '' });
    const spec: EvalSpec = {
      models: [modelA, modelB], modes: ['cot_5shot', 'agentic'], questionIds: [], n: 0, perCategory: false, seed: 0, maxSteps: 2,
      concurrency: 2, perQuestionTimeoutMs: 120_000, extraction: 'strict', outDir: 'eval',
    };
    const evaluate = async (maxBatch: number, trainerConcurrency: number) => {
      const dir = join(root, `eval-${maxBatch}`);
      const before = await generateCalls();
      await runEvaluation(spec, dir, {
        questions: async () => questions,
        cotPrompt: async (id) => [{ role: 'user', content: `The following are questions.\n${questions.find((q) => q.questionId === id)!.question}\nAnswer: Let's think step by step.` }],
        runTool,
        backendFor: (m) => createBackend(m, settings(maxBatch)),
        sampling: { cotMaxTokens: 12, stepMaxTokens: 10, temperature: 0 },
        trainerConcurrency,
        log: createLogger('evaluator', 'silent'),
      }, { signal: new AbortController().signal, emit: () => {} });
      const calls = (await generateCalls()) - before;
      const records = readResults(resultsPath(dir)).map(({ duration_ms: _, ...r }) => r).sort((x, y) => `${x.model}/${x.mode}/${x.question_id}`.localeCompare(`${y.model}/${y.mode}/${y.question_id}`));
      return { records, calls };
    };
    const unbatched = await evaluate(1, 2);
    const batched = await evaluate(8, 24);
    expect(unbatched.records).toHaveLength(24);
    expect(batched.records).toEqual(unbatched.records);
    // Unbatched: one call per turn (CoT: 1 per answer, agentic: up to 3), batched: far fewer.
    expect(unbatched.calls).toBeGreaterThanOrEqual(24);
    expect(batched.calls).toBeLessThan(unbatched.calls / 2);
  }, 300_000);
});
