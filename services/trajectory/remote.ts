/**
 * The trajectory service's upstreams, over gRPC: questions from DatasetService, verdicts from
 * JudgeService. Each adapter turns a client into the small interface the rollout loop uses, with a
 * deadline on every call and the job's AbortSignal cancelling it.
 */
import { type Question, type Step, type Candidate } from '../common/gen/spark/v1/common.js';
import { DatasetServiceClient, Split } from '../common/gen/spark/v1/dataset.js';
import { JudgeMode, JudgeServiceClient } from '../common/gen/spark/v1/judge.js';
import { serverStream, unary } from '../common/client.js';
import type { GenerationSpec } from './generation.js';
import type { CandidateVerdict, StepJudge } from './rollout.js';

/** A judge call covers up to 9 LLM scorings with retries; give it room, the judge has its own timeouts. */
export const JUDGE_CALL_TIMEOUT_MS = 300_000;
const DATASET_CALL_TIMEOUT_MS = 60_000;

/** The spec's questions: exact ids, or a seeded stratified sample of the shipped working set. */
export function datasetQuestions(client: DatasetServiceClient) {
  return async (spec: GenerationSpec, signal: AbortSignal): Promise<Question[]> => {
    const out: Question[] = [];
    const request = { n: spec.n, seed: spec.seed, perCategory: false, categories: spec.categories, questionIds: spec.questionIds, split: Split.SPLIT_WORKING_SET };
    for await (const q of serverStream(client.sampleQuestions.bind(client), request, { timeoutMs: DATASET_CALL_TIMEOUT_MS, signal })) out.push(q);
    return out;
  };
}

export interface RemoteJudge extends StepJudge {
  /** "offline" or "openai:<model>", as the judge reports it. */
  backend(signal: AbortSignal): Promise<string>;
}

export function judgeOverGrpc(client: JudgeServiceClient, mode: JudgeMode = JudgeMode.JUDGE_MODE_BATCH): RemoteJudge {
  return {
    backend: async (signal) => (await unary(client.getStats.bind(client), {}, { timeoutMs: 10_000, signal })).backend,
    async scoreCandidates(question: Question, steps: readonly Step[], candidates: readonly Candidate[], threshold: number, signal: AbortSignal): Promise<CandidateVerdict[]> {
      const res = await unary(client.scoreCandidates.bind(client), { question, stepsSoFar: [...steps], candidates: [...candidates], threshold, mode }, { timeoutMs: JUDGE_CALL_TIMEOUT_MS, signal });
      return res.scores.map((s) => ({ score: s.score, viable: s.viable, rationale: s.rationale }));
    },
    async scoreAnswer(question: Question, steps: readonly Step[], answerText: string, signal: AbortSignal) {
      const res = await unary(client.scoreAnswer.bind(client), { question, stepsSoFar: [...steps], answerText }, { timeoutMs: JUDGE_CALL_TIMEOUT_MS, signal });
      return { score: res.score, rationale: res.rationale };
    },
  };
}
