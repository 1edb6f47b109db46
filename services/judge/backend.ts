/**
 * What the judge needs from a scorer: the LLM judge (`llm-judge.ts`) and the offline judge
 * (`offline-judge.ts`) both fit. The service around it (`judge.ts`) adds validation, the cache, the
 * threshold and metrics, so a backend only turns steps into verdicts.
 */
import type { Candidate } from '../common/gen/spark/v1/common.js';
import type { JudgeContext } from './prompt.js';
import type { Verdict } from './verdict.js';

export const JUDGE_MODES = ['batch', 'single'] as const;
/** batch: all candidates of a step in one call; single: one call per candidate. */
export type JudgeMode = (typeof JUDGE_MODES)[number];

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface JudgeBackend {
  /** "offline" or "openai:<model>"; reported in responses, metric labels and cache keys. */
  readonly name: string;
  /** Worth caching (an LLM); the offline judge is cheaper to rerun than to look up. */
  readonly cacheable: boolean;
  /** One verdict per candidate, in order. */
  scoreCandidates(ctx: JudgeContext, candidates: Candidate[], mode: JudgeMode, signal?: AbortSignal): Promise<{ verdicts: Verdict[]; usage: TokenUsage }>;
  scoreAnswer(ctx: JudgeContext, answerText: string, signal?: AbortSignal): Promise<{ verdict: Verdict; usage: TokenUsage }>;
}

export const NO_USAGE: TokenUsage = Object.freeze({ promptTokens: 0, completionTokens: 0 });
