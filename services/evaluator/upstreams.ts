/**
 * The evaluator's upstreams over gRPC: questions and the reference 5-shot prompts from DatasetService,
 * tool runs from TrajectoryService.RunTool. Each adapter turns a client into the plain function the
 * runner uses, with a deadline on every call and the caller's signal cancelling it.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { serverStream, unary } from '../common/client.js';
import type { ChatMessage, Question, ToolCall } from '../common/gen/spark/v1/common.js';
import { DatasetServiceClient, PromptFormat, Split } from '../common/gen/spark/v1/dataset.js';
import type { TrajectoryServiceClient } from '../common/gen/spark/v1/trajectory.js';
import type { ToolRunner } from './agentic.js';
import type { EvalSpec } from './spec.js';

const DATASET_CALL_TIMEOUT_MS = 60_000;
/** A tool has its own time limit inside the trajectory service; this only bounds a lost call. */
const TOOL_CALL_TIMEOUT_MS = 120_000;

/** The spec's questions: exact ids, or a seeded sample of n (0 = all) from the shipped eval split. */
export async function fetchQuestions(client: DatasetServiceClient, spec: EvalSpec, signal: AbortSignal): Promise<Question[]> {
  let n = spec.n;
  if (!spec.questionIds.length && n === 0) {
    const listed = await unary(client.listCategories.bind(client), { split: Split.SPLIT_EVAL }, { timeoutMs: DATASET_CALL_TIMEOUT_MS, signal });
    n = listed.total;
  }
  const request = { n, seed: spec.seed, perCategory: spec.perCategory, categories: [], questionIds: spec.questionIds, split: Split.SPLIT_EVAL };
  const out: Question[] = [];
  for await (const q of serverStream(client.sampleQuestions.bind(client), request, { timeoutMs: DATASET_CALL_TIMEOUT_MS, signal })) out.push(q);
  return out;
}

/** The MMLU-Pro reference 5-shot CoT prompt of a question, as chat messages. */
export function cotPromptSource(client: DatasetServiceClient) {
  return async (questionId: number, signal: AbortSignal): Promise<ChatMessage[]> => {
    const res = await unary(client.renderPrompt.bind(client), { questionId, format: PromptFormat.PROMPT_FORMAT_COT_5SHOT, stepsSoFar: [] }, { timeoutMs: DATASET_CALL_TIMEOUT_MS, signal });
    return res.messages;
  };
}

/** Statuses that are the policy's mistake (unknown tool, bad input): shown to it as the tool's error. */
const POLICY_ERRORS = new Set<number>([GrpcStatus.NOT_FOUND, GrpcStatus.INVALID_ARGUMENT]);

/** RunTool over gRPC; a call the policy got wrong comes back as a failed ToolCall, anything else throws. */
export function toolRunnerOverGrpc(client: TrajectoryServiceClient): ToolRunner {
  return async (name, inputJson, signal) => {
    try {
      const res = await unary(client.runTool.bind(client), { name, inputJson, timeoutMs: 0 }, { timeoutMs: TOOL_CALL_TIMEOUT_MS, signal });
      return res.toolCall ?? { name, inputJson, output: '', error: 'the tool returned nothing', durationMs: 0, structuredJson: '' };
    } catch (err) {
      const e = err as { code?: number; details?: string };
      if (e.code !== undefined && POLICY_ERRORS.has(e.code)) return { name, inputJson, output: '', error: e.details ?? String(err), durationMs: 0, structuredJson: '' };
      throw err;
    }
  };
}
