/**
 * The generation loop with deterministic in-test generator/judge/tools (the real ones are exercised over
 * gRPC in tests/trajectory.test.ts): output format, rarity-first usage counts, and resume after a stop.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTION_NAMES } from '../common/actions.js';
import { countBy, shannonEntropyBits } from '../common/entropy.js';
import { Question, ToolCall } from '../common/gen/spark/v1/common.js';
import { readJsonl } from '../common/files.js';
import { createLogger } from '../common/logging.js';
import { hashString32 } from '../common/random.js';
import { generationSpecSchema, runGeneration, type GenerationDeps } from './generation.js';
import type { RolloutDeps } from './rollout.js';
import type { TrajectoryRecord } from './records.js';
import { decomposeFolder } from './steps.js';
import { parseAssistantTurn, renderChat } from '../common/step-format.js';

const questions = Array.from({ length: 12 }, (_, i) => Question.fromPartial({
  questionId: 100 + i, question: `q${i}`, options: ['1', '2', '3', '4'], answer: 'ABCD'[i % 4], answerIndex: i % 4, category: i % 2 ? 'math' : 'law',
}));

/** Scores depend only on (question, action, step): python and calculator look best, cot and logic weak. */
function score(q: Question, action: string, step: number): number {
  const base: Record<string, number> = { python: 9, calculator: 8.5, equation_solver: 7.5, finance: 7, chemistry: 6.8, unit_converter: 6.6, encyclopedia: 6.4, logic: 4, cot: 5 };
  return base[action]! - (hashString32(`${q.questionId}:${action}:${step}`) % 10) / 100;
}

function deps(onTrajectory?: () => void): RolloutDeps {
  return {
    actions: ACTION_NAMES,
    generator: {
      kind: 'scripted',
      propose: async (_q, _steps, actions) => actions.map((a) => ({ action: a, thought: `use ${a}`, parameters: a === 'cot' ? undefined : { x: 1 } })),
      answer: async (q) => { onTrajectory?.(); return `so the answer is (${q.questionId % 3 ? q.answer : 'A'})`; },
    },
    tools: { run: async (name, p) => ToolCall.fromPartial({ name, inputJson: JSON.stringify(p), output: `${name} ok` }) },
    judge: {
      scoreCandidates: async (q, steps, cands, threshold) => cands.map((c) => { const s = score(q, c.action, steps.length); return { score: s, viable: s > threshold, rationale: 'r' }; }),
      scoreAnswer: async () => ({ score: 8, rationale: 'format ok' }),
    },
  };
}

const log = createLogger('test', 'silent');
const spec = (over: Record<string, unknown> = {}) => generationSpecSchema.parse({ n: 12, outDir: 'run', concurrency: 3, ...over });

async function generate(root: string, s = spec(), rollout = deps(), signal = new AbortController().signal) {
  const d: GenerationDeps = { artifactRoot: root, resolveQuestions: async () => questions, rollout, log };
  return runGeneration(s, d, { signal, emit: () => {}, jobId: 'job-test' });
}

const load = (root: string) => readJsonl<TrajectoryRecord>(join(root, 'run', 'trajectories.jsonl'));
const byId = (rs: TrajectoryRecord[]) => [...rs].sort((a, b) => a.question_id - b.question_id);

describe('runGeneration', () => {
  it('writes one complete trajectory per question with the contract fields', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gen-'));
    const res = await generate(root);
    const rows = load(root);
    expect(rows).toHaveLength(12);
    for (const r of rows) {
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['question_id', 'category', 'steps', 'final_answer', 'correct']));
      expect(r.steps).toHaveLength(5);
      expect(r.steps.at(-1)!.is_final).toBe(true);
      for (const s of r.steps.slice(0, 4)) {
        expect(s.candidates.map((c) => c.action)).toEqual([...ACTION_NAMES]);
        expect(s.selection_reason).toBe('rarest_viable');
        expect(s.score).toBeGreaterThan(6);
      }
      expect(r.correct).toBe(r.final_answer === r.answer);
    }
    const manifest = JSON.parse(readFileSync(join(root, 'run', 'manifest.json'), 'utf8'));
    expect(manifest.spec.selection).toBe('rarity_first');
    expect(res.artifacts!.map((a) => a.uri)).toEqual(['run/trajectories.jsonl', 'run/manifest.json']);
  });

  it('rarity-first spreads choices over all 7 viable actions; highest_score collapses to one', async () => {
    const rare = mkdtempSync(join(tmpdir(), 'gen-'));
    await generate(rare);
    const greedy = mkdtempSync(join(tmpdir(), 'gen-'));
    await generate(greedy, spec({ selection: 'highest_score' }));
    const actions = (root: string) => countBy(load(root).flatMap((r) => r.steps.filter((s) => !s.is_final).map((s) => s.action)));
    expect(Object.keys(actions(rare)).sort()).toEqual(['calculator', 'chemistry', 'encyclopedia', 'equation_solver', 'finance', 'python', 'unit_converter']);
    expect(actions(greedy)).toEqual({ python: 48 });
    expect(shannonEntropyBits(actions(rare))).toBeGreaterThan(2.5);
  });

  it('resumes after a stop with no duplicate, no loss, and the same trajectories as an uninterrupted run', async () => {
    const full = mkdtempSync(join(tmpdir(), 'gen-'));
    await generate(full);
    const root = mkdtempSync(join(tmpdir(), 'gen-'));
    const controller = new AbortController();
    let answered = 0;
    await expect(generate(root, spec(), deps(() => { if (++answered === 5) controller.abort(); }), controller.signal)).rejects.toThrow();
    const partial = load(root).length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(12);
    await generate(root);
    const resumed = load(root);
    expect(resumed.map((r) => r.question_id).sort()).toEqual(questions.map((q) => q.questionId));
    expect(byId(resumed)).toEqual(byId(load(full)));
  });

  it('refuses to mix two different specs in one folder', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gen-'));
    await generate(root);
    await expect(generate(root, spec({ seed: 7 }))).rejects.toThrow(/different spec/);
  });

  it('rejects bad specs naming the field', () => {
    expect(() => spec({ selection: 'rarest' })).toThrow(/selection/);
    expect(() => spec({ n: 0 })).toThrow(/must be > 0/);
    expect(() => spec({ outDir: '../escape' })).toThrow(/relative path under the artifact root/);
  });

  it('decomposes trajectories into one step example per step (SWiRL)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gen-'));
    await generate(root);
    // Rollouts finish in any order: list them backwards.
    const file = join(root, 'run', 'trajectories.jsonl');
    writeFileSync(file, `${readFileSync(file, 'utf8').trim().split('\n').reverse().join('\n')}\n`);
    const examples = decomposeFolder(join(root, 'run'));
    expect(examples).toHaveLength(12 * 5);
    // By question, whatever order the rollouts finished in; each trajectory's steps in order.
    const keys = examples.map((e) => [e.question_id, e.step_index] as const);
    expect(keys).toEqual([...keys].sort((a, b) => a[0] - b[0] || a[1] - b[1]));
    const first = examples.filter((e) => e.question_id === 100);
    expect(first.map((e) => e.step_index)).toEqual([0, 1, 2, 3, 4]);
    // Context grows by two messages (tool call + ipython output) per tool step.
    expect(first.map((e) => e.messages.length)).toEqual([2, 4, 6, 8, 10]);
    expect(first[0].messages[1].content).toContain('Question:\nq0\nOptions:\nA. 1\n');
    expect(first[0].messages[0].content).toContain('at most 5 steps');
    for (const e of first.slice(0, 4)) {
      expect(e.completion.endsWith('<|eom_id|>')).toBe(true);
      expect(parseAssistantTurn(e.completion)).toMatchObject({ kind: 'tool_call', action: e.action });
      expect(e.reward.judge_score).toBeGreaterThan(0.6);
      expect(e.reward.diversity).toBeGreaterThan(0);
    }
    const final = first[4];
    expect(final.is_final).toBe(true);
    expect(final.completion).toMatch(/the answer is \([A-D]\)<\|eot_id\|>$/);
    expect(final.reward.diversity).toBe(0);
    expect(final.reward.correctness).toBe(load(root).find((r) => r.question_id === 100)!.correct ? 1 : 0);
    // The context renders in the Llama-3.1 template.
    expect(renderChat(final.messages, { addGenerationPrompt: true })).toMatch(/^<\|begin_of_text\|><\|start_header_id\|>system/);
  });
});
