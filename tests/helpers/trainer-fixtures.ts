/**
 * Small synthetic step-example sets for trainer tests, in the exact line format `spark trajectory steps`
 * writes (services/trajectory/steps.ts), with short contexts so a tiny Llama trains on 2 CPU cores in
 * seconds; and a tiny random checkpoint made by `initCheckpoint` (real config.json, safetensors and the
 * Llama-3.1 tokenizer).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACTION_NAMES, NUM_ACTIONS } from '../../services/common/actions.js';
import { initCheckpoint } from '../../services/trainer/model/init.js';
import type { StepExample } from '../../services/trajectory/steps.js';

/** A step example line, with a plain system + user context. */
export type SyntheticStep = StepExample;

/** Short question topics, so contexts differ by more than a number. */
const TOPICS = ['fractions of a sum', 'a loop in code', 'moles of a gas', 'a truth table', 'interest on a loan', 'a short essay', 'unit prices', 'a proof'];

/** A short context for question `q`. */
export function contextFor(q: number): SyntheticStep['messages'] {
  return [
    { role: 'system', content: 'Pick one tool.' },
    { role: 'user', content: `Question ${q}: ${TOPICS[q % TOPICS.length]}, item ${q * 7 + 3}?` },
  ];
}

/** The completion of an action: its name as a tool call line, ending the turn. */
export function completionFor(action: string): string {
  return `use ${action}<|eot_id|>`;
}

/** −log2 p(a) / log2 9 over the steps, as the trajectory service computes it. */
export function withDiversity(steps: SyntheticStep[]): SyntheticStep[] {
  const counts = new Map<string, number>();
  for (const s of steps) counts.set(s.action, (counts.get(s.action) ?? 0) + 1);
  return steps.map((s) => ({ ...s, reward: { ...s.reward, diversity: -Math.log2(counts.get(s.action)! / steps.length) / Math.log2(NUM_ACTIONS) } }));
}

export function step(q: number, action: string, reward: Partial<SyntheticStep['reward']> = {}): SyntheticStep {
  return {
    question_id: q, category: 'math', step_index: 0, num_steps: 2, is_final: false, action,
    messages: contextFor(q), completion: completionFor(action),
    reward: { judge_score: 0.7, correctness: 0, diversity: 0, ...reward },
  };
}

/** Every question offers every action once; only `rewarded` is correct. */
export function oneActionRewarded(questions: number, rewarded = 'calculator', actions: readonly string[] = ACTION_NAMES): SyntheticStep[] {
  return Array.from({ length: questions }, (_, q) => actions.map((a) => step(q, a, { correctness: a === rewarded ? 1 : 0 }))).flat();
}

export function writeSteps(path: string, steps: readonly SyntheticStep[]): string {
  writeFileSync(path, steps.map((s) => JSON.stringify(s)).join('\n') + '\n');
  return path;
}

/**
 * A tiny random Llama (2 layers, hidden 64, the real 128k vocabulary). `initRange` 0.5 as in
 * tests/model.test.ts lets SFT memorise actions in a few steps (with the frozen tied embedding, HF's
 * 0.02 caps logits too low for that); HF's 0.02 gives a near-uniform policy over the nine actions,
 * which PPO — whose updates stay within the clip range of the behaviour policy — can visibly move.
 */
export async function tinyModel(root: string, opts: { seed?: number; initRange?: number; name?: string } = {}): Promise<string> {
  const dir = join(root, opts.name ?? 'tiny');
  await initCheckpoint(dir, { preset: 'tiny', seed: opts.seed ?? 3, dtype: 'float32', overrides: { initializer_range: opts.initRange ?? 0.5 } });
  return dir;
}
