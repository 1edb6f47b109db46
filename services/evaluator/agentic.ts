/**
 * Agentic mode (paper §4): the policy answers a question in up to `maxSteps` steps, choosing at each
 * step one of the 9 actions — a tool call in the Llama-3.1 JSON format, which really runs (through
 * TrajectoryService.RunTool), or a plain chain-of-thought turn. A thought that says "the answer is (X)"
 * ends the question. A policy that has not answered when the steps run out is asked once more, with
 * the same chat, for its answer; that turn is the answer, not a step, so it does not count as an
 * action. Messages come from the shared step format (services/common/step-format.ts), the same bytes
 * the policy was trained on.
 *
 * A call that names one of the tools but whose arguments are not valid JSON (`{"name": "calculator",
 * "parameters": {"expression": "2 +`) is that tool's selection: the policy chose the tool and failed to
 * write its input. It counts as the tool's step (tool-selection entropy is about the choice), is not
 * run, and is recorded as malformed, so the report can say how many calls were.
 */
import { isToolName } from '../common/actions.js';
import { CancelledError } from '../common/errors.js';
import type { Step, ToolCall } from '../common/gen/spark/v1/common.js';
import { buildToolUseMessages, formatQuestionBlock, parseAssistantTurn, TOKENS } from '../common/step-format.js';
import type { ModelBackend, Sampling } from './backends.js';

/** Runs one tool; the result carries the output or the error text the policy will read. */
export type ToolRunner = (name: string, inputJson: string, signal: AbortSignal) => Promise<ToolCall>;

/** Action recorded for an assistant turn that started like a tool call but was not valid JSON. */
export const INVALID_TOOL_CALL_ACTION = 'invalid_tool_call';

/** A step's end tokens: the policy stops there (eom after a tool call, eot after a thought). */
const STEP_STOP = [TOKENS.eot, TOKENS.eom];

export interface AgenticResult {
  /** The text answers are extracted from: the answering turn. */
  response: string;
  steps: Step[];
  /** Completion tokens over all turns, when the backend reports them. */
  tokens?: number;
  /** Step index → why the call of a named tool did not parse (the step's action is that tool). */
  malformed: Record<number, string>;
}

export interface AgenticOptions {
  maxSteps: number;
  /** Sampling of each turn; stop strings are the step's end tokens. */
  sampling: Omit<Sampling, 'stop'>;
}

function emptyStep(index: number, action: string): Step {
  return { index, action, thought: '', toolCall: undefined, score: 0, selectionReason: 0, candidates: [], isFinal: false };
}

/** Answers one question in agentic mode. */
export async function answerAgentic(
  question: { question: string; options: readonly string[] },
  backend: ModelBackend,
  runTool: ToolRunner,
  opts: AgenticOptions,
  signal: AbortSignal,
): Promise<AgenticResult> {
  const questionText = formatQuestionBlock(question);
  const steps: Step[] = [];
  const malformed: Record<number, string> = {};
  let tokens: number | undefined;
  const turn = async () => {
    if (signal.aborted) throw signal.reason ?? new CancelledError();
    const out = await backend.generate(buildToolUseMessages(questionText, steps, { maxSteps: opts.maxSteps }), { ...opts.sampling, stop: STEP_STOP }, signal);
    if (out.tokens !== undefined) tokens = (tokens ?? 0) + out.tokens;
    return out.text;
  };

  for (let index = 0; index < opts.maxSteps; index++) {
    const text = await turn();
    const parsed = parseAssistantTurn(text);
    if (parsed.kind === 'tool_call') {
      const step = emptyStep(index, parsed.action);
      step.toolCall = await runTool(parsed.action, JSON.stringify(parsed.parameters), signal);
      steps.push(step);
      continue;
    }
    if (parsed.kind === 'invalid_tool_call') {
      // Shown back to the policy as its own text, so it can see what it wrote.
      const tool = parsed.name !== undefined && isToolName(parsed.name) ? parsed.name : undefined;
      steps.push({ ...emptyStep(index, tool ?? INVALID_TOOL_CALL_ACTION), thought: parsed.text });
      if (tool) malformed[index] = parsed.error;
      continue;
    }
    steps.push({ ...emptyStep(index, 'cot'), thought: parsed.thought, isFinal: !!parsed.finalAnswer });
    if (parsed.finalAnswer) return { response: text, steps, tokens, malformed };
  }
  return { response: await turn(), steps, tokens, malformed };
}
