/** The evaluation loop with scripted models and tools (no gRPC): scoring, agentic steps, resume, timeouts, failures. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { ChatMessage, Question } from '../common/gen/spark/v1/common.js';
import { createLogger } from '../common/logging.js';
import { answerAgentic, INVALID_TOOL_CALL_ACTION, type ToolRunner } from './agentic.js';
import type { ModelBackend, Sampling } from './backends.js';
import { EvalMetrics } from './metrics.js';
import { readResults, resultsPath } from './results.js';
import { runEvaluation, type RunnerDeps } from './runner.js';
import type { EvalSpec } from './spec.js';

const log = createLogger('evaluator', 'silent');

function question(id: number, category: string, answer: string): Question {
  return { questionId: id, question: `Question ${id}: what is ${id} + 1?`, options: ['A0', 'B1', 'C2', 'D3'], answer, answerIndex: 'ABCD'.indexOf(answer), cotContent: '', category, src: 'test' };
}

const QUESTIONS = [question(1, 'math', 'A'), question(2, 'math', 'B'), question(3, 'law', 'C'), question(4, 'physics', 'D')];

/** A scripted model: `reply(messages, sampling)` decides the text. Records every call. */
function scripted(reply: (messages: readonly ChatMessage[], sampling: Sampling, signal: AbortSignal) => string | Promise<string>, runner: 'api' | 'local' = 'api') {
  const calls: Array<{ messages: readonly ChatMessage[]; sampling: Sampling }> = [];
  const backend: ModelBackend = {
    runner,
    async generate(messages, sampling, signal) {
      calls.push({ messages, sampling });
      return { text: await reply(messages, sampling, signal), tokens: 3 };
    },
    close() {},
  };
  return { backend, calls };
}

const idOf = (messages: readonly ChatMessage[]) => Number(/Question (\d+):/.exec(messages.map((m) => m.content).join('\n'))![1]);
const keyOf = (id: number) => QUESTIONS.find((q) => q.questionId === id)!.answer;

const echoTool: ToolRunner = async (name, inputJson) => ({ name, inputJson, output: `${name} says 42`, error: '', durationMs: 1, structuredJson: '' });

function spec(over: Partial<EvalSpec> = {}): EvalSpec {
  return {
    models: [{ name: 'good', backend: 'openai', endpointBaseUrl: 'http://x/v1', endpointModel: 'm' }, { name: 'bad', backend: 'openai', endpointBaseUrl: 'http://x/v1', endpointModel: 'm' }],
    modes: ['cot_5shot', 'agentic'],
    questionIds: [], n: 0, perCategory: false, seed: 1, maxSteps: 5, concurrency: 3, perQuestionTimeoutMs: 60_000, extraction: 'strict', outDir: 'out',
    ...over,
  };
}

function deps(backends: Record<string, ModelBackend>, over: Partial<RunnerDeps> = {}): RunnerDeps {
  return {
    questions: async () => QUESTIONS,
    cotPrompt: async (id) => [{ role: 'user', content: `5-shot prompt...\nQuestion ${id}: what is ${id} + 1?\nAnswer: Let's think step by step.` }],
    runTool: echoTool,
    backendFor: (m) => backends[m.name],
    sampling: { cotMaxTokens: 100, stepMaxTokens: 50, temperature: 0 },
    log,
    ...over,
  };
}

const ctx = (signal = new AbortController().signal) => ({ signal, emit: () => {} });

describe('answerAgentic', () => {
  it('runs tool calls, records invalid ones, and stops at the answer', async () => {
    const replies = [
      '{"name": "calculator", "parameters": {"expression": "2+2"}}<|eom_id|>',
      // Names a tool, breaks its arguments: the tool's selection, malformed, not run.
      '{"name": "python", "parameters": {"code": ',
      // Names no tool of ours: not a selection.
      '{"name": "parameters", "parameters": {',
      'The calculator says 42, so the answer is (B)<|eot_id|>',
    ];
    const { backend, calls } = scripted(() => replies.shift()!);
    const ran: string[] = [];
    const res = await answerAgentic(QUESTIONS[1], backend, async (name, input, signal) => { ran.push(`${name} ${input}`); return echoTool(name, input, signal); }, { maxSteps: 5, sampling: { maxTokens: 10, temperature: 0 } }, new AbortController().signal);
    expect(res.steps.map((s) => s.action)).toEqual(['calculator', 'python', INVALID_TOOL_CALL_ACTION, 'cot']);
    expect(res.malformed).toEqual({ 1: expect.stringMatching(/not valid JSON/) });
    expect(ran).toEqual(['calculator {"expression":"2+2"}']);
    // Both broken calls are shown back to the policy as what it wrote.
    expect(calls[3].messages.slice(-2)).toEqual([
      { role: 'assistant', content: '{"name": "python", "parameters": {"code":' },
      { role: 'assistant', content: '{"name": "parameters", "parameters": {' },
    ]);
    expect(res.response).toContain('the answer is (B)');
    expect(res.tokens).toBe(12);
    // The second turn saw the tool call and its output (an ipython turn), the stop tokens are the step ends.
    expect(calls[1].messages.slice(-2)).toEqual([
      { role: 'assistant', content: '{"name": "calculator", "parameters": {"expression": "2+2"}}' },
      { role: 'ipython', content: 'calculator says 42' },
    ]);
    expect(calls[0].sampling.stop).toEqual(['<|eot_id|>', '<|eom_id|>']);
    expect(calls[0].messages[0].content).toMatch(/at most 5 steps/);
  });

  it('asks once more for the answer when the steps run out; that turn is not an action', async () => {
    let n = 0;
    const { backend, calls } = scripted(() => (++n <= 2 ? '{"name": "logic", "parameters": {"operation": "valid", "formula": "p"}}' : 'So the answer is (A)'));
    const res = await answerAgentic(QUESTIONS[0], backend, echoTool, { maxSteps: 2, sampling: { maxTokens: 10, temperature: 0 } }, new AbortController().signal);
    expect(res.steps.map((s) => s.action)).toEqual(['logic', 'logic']);
    expect(calls).toHaveLength(3);
    expect(res.response).toBe('So the answer is (A)');
  });
});

describe('runEvaluation', () => {
  it('answers every question with every model in every mode, scores them and resumes without repeating', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spark-eval-run-'));
    // "good" answers right (agentic: one python call first); "bad" never gives a letter.
    const good = scripted((messages) => {
      const id = idOf(messages);
      if (messages[0].role === 'system' && !messages.some((m) => m.role === 'ipython')) return '{"name": "python", "parameters": {"code": "print(1)"}}';
      return `Therefore **the answer is (${keyOf(id)})**`;
    });
    const bad = scripted(() => 'no idea, sorry');
    const registry = new Registry();
    const metrics = new EvalMetrics(registry);
    const first = await runEvaluation(spec(), dir, { ...deps({ good: good.backend, bad: bad.backend }), metrics }, ctx());
    expect(first.answeredNow).toBe(16);
    const records = readResults(resultsPath(dir));
    expect(records).toHaveLength(16);
    const goodAgentic = records.filter((r) => r.model === 'good' && r.mode === 'agentic');
    expect(goodAgentic.every((r) => r.correct && r.outcome === 'correct' && r.rule === 'answer_is')).toBe(true);
    expect(goodAgentic[0].actions).toEqual(['python', 'cot']);
    expect(goodAgentic[0].steps![0]).toEqual({ action: 'python', input: '{"code":"print(1)"}', output: 'python says 42' });
    expect(records.filter((r) => r.model === 'bad').every((r) => !r.correct && r.outcome === 'no_answer' && r.predicted === null)).toBe(true);
    // The reference CoT prompt, its stop string and token cap went to the model.
    const cotCall = good.calls.find((c) => c.messages[0].role === 'user')!;
    expect(cotCall.sampling).toMatchObject({ stop: ['Question:'], maxTokens: 100, temperature: 0 });

    const body = await registry.metrics();
    expect(body).toMatch(/spark_eval_accuracy_ratio\{model="good",mode="agentic",category="math"\} 1/);
    expect(body).toMatch(/spark_eval_accuracy_ratio\{model="bad",mode="cot_5shot",category="law"\} 0/);
    expect(body).toMatch(/spark_eval_tool_entropy_bits\{model="good"\} 1\b/);
    expect(body).toMatch(/spark_eval_questions_total\{model="bad",mode="agentic",outcome="no_answer"\} 4/);

    const callsBefore = good.calls.length + bad.calls.length;
    const again = await runEvaluation(spec(), dir, deps({ good: good.backend, bad: bad.backend }), ctx());
    expect(again.answeredNow).toBe(0);
    expect(good.calls.length + bad.calls.length).toBe(callsBefore);
    expect(readResults(resultsPath(dir))).toHaveLength(16);
  });

  it('records a question that runs out of time as a timeout and goes on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spark-eval-timeout-'));
    const slowOnThree = scripted((messages, _s, signal) => {
      if (idOf(messages) !== 3) return `the answer is (${keyOf(idOf(messages))})`;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    });
    const run = await runEvaluation(spec({ models: [spec().models[0]], modes: ['cot_5shot'], perQuestionTimeoutMs: 200 }), dir, deps({ good: slowOnThree.backend }), ctx());
    const byId = new Map(run.records.map((r) => [r.question_id, r]));
    expect(byId.get(3)).toMatchObject({ outcome: 'timeout', correct: false, predicted: null, response: '' });
    expect([1, 2, 4].every((id) => byId.get(id)!.correct)).toBe(true);
  });

  it('stops on an upstream failure, keeping what was answered, and resumes the rest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spark-eval-fail-'));
    let down = true;
    const flaky = scripted((messages) => {
      if (idOf(messages) === 3 && down) throw new Error('model endpoint unavailable: connection refused');
      return `the answer is (${keyOf(idOf(messages))})`;
    });
    const one = spec({ models: [spec().models[0]], modes: ['cot_5shot'], concurrency: 1 });
    await expect(runEvaluation(one, dir, deps({ good: flaky.backend }), ctx())).rejects.toThrow(/connection refused/);
    const kept = readResults(resultsPath(dir)).map((r) => r.question_id);
    expect(kept).toEqual([1, 2]);
    down = false;
    const resumed = await runEvaluation(one, dir, deps({ good: flaky.backend }), ctx());
    expect(resumed.answeredNow).toBe(2);
    expect(readResults(resultsPath(dir)).map((r) => r.question_id).sort()).toEqual([1, 2, 3, 4]);
    expect(readFileSync(resultsPath(dir), 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('cuts a line torn by a kill before appending, and asks that question again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spark-eval-torn-'));
    const model = scripted((messages) => `the answer is (${keyOf(idOf(messages))})`);
    const one = spec({ models: [spec().models[0]], modes: ['cot_5shot'], concurrency: 1 });
    await runEvaluation(one, dir, deps({ good: model.backend }), ctx());
    const lines = readFileSync(resultsPath(dir), 'utf8').trim().split('\n');
    writeFileSync(resultsPath(dir), `${lines.slice(0, 2).join('\n')}\n${lines[2].slice(0, 40)}`);
    const resumed = await runEvaluation(one, dir, deps({ good: model.backend }), ctx());
    expect(resumed.answeredNow).toBe(2);
    const after = readFileSync(resultsPath(dir), 'utf8').trim().split('\n');
    expect(after).toHaveLength(4);
    expect(after.map((l) => (JSON.parse(l) as { question_id: number }).question_id).sort()).toEqual([1, 2, 3, 4]);
  });

  it('keeps more questions in flight for trainer-backed models, and the request\'s concurrency for endpoints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spark-eval-lanes-'));
    const inFlight = (runner: 'api' | 'local') => {
      const seen = { now: 0, max: 0 };
      const { backend } = scripted(async (messages) => {
        seen.max = Math.max(seen.max, ++seen.now);
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.now -= 1;
        return `the answer is (${keyOf(idOf(messages))})`;
      }, runner);
      return { backend, seen };
    };
    const local = inFlight('local');
    const remote = inFlight('api');
    const models = [{ name: 'local', backend: 'trainer' as const, baseModelPath: 'models/tiny' }, spec().models[0]];
    const run = await runEvaluation(spec({ models, concurrency: 2 }), dir, deps({ local: local.backend, good: remote.backend }, { trainerConcurrency: 6 }), ctx());
    expect(run.answeredNow).toBe(16);
    expect(run.records.every((r) => r.correct)).toBe(true);
    // 8 items per model: the trainer lane runs 6 at once, the endpoint lane the request's 2.
    expect(local.seen.max).toBe(6);
    expect(remote.seen.max).toBe(2);
  });

  it('random extraction guesses the same letter for the same question whatever the order', async () => {
    const a = mkdtempSync(join(tmpdir(), 'spark-eval-rand-'));
    const b = mkdtempSync(join(tmpdir(), 'spark-eval-rand-'));
    const silent = scripted(() => 'no letter here');
    const s = spec({ models: [spec().models[0]], modes: ['cot_5shot'], extraction: 'random', seed: 5 });
    const first = await runEvaluation({ ...s, concurrency: 1 }, a, deps({ good: silent.backend }), ctx());
    const second = await runEvaluation({ ...s, concurrency: 4 }, b, deps({ good: silent.backend, }, { questions: async () => [...QUESTIONS].reverse() }), ctx());
    const guesses = (rs: typeof first.records) => Object.fromEntries(rs.map((r) => [r.question_id, r.predicted]));
    expect(guesses(second.records)).toEqual(guesses(first.records));
    expect(first.records.every((r) => r.guessed && r.outcome === 'no_answer' && /^[A-J]$/.test(r.predicted!))).toBe(true);
  });
});
