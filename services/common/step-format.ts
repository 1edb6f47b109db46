/**
 * THE step format of SPaRK (DESIGN §4): the one module that renders and parses steps. Trajectory,
 * trainer and evaluator import it, so a step looks the same when it is generated, trained on and scored.
 *
 * Steps use the Llama-3.1 chat template and its native JSON tool-call format, so trained adapters work
 * with tool-call parsers that already exist (vLLM's `llama3_json`):
 *
 *   <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n
 *   Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n{system}<|eot_id|>
 *   <|start_header_id|>user<|end_header_id|>\n\n{question}<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n{"name": "calculator", "parameters": {...}}<|eom_id|>
 *   <|start_header_id|>ipython<|end_header_id|>\n\n{tool output}<|eot_id|>
 *   <|start_header_id|>assistant<|end_header_id|>\n\n{plain-text reasoning} ... the answer is (C)<|eot_id|>
 *
 * - A tool step is an assistant turn holding only `{"name": ..., "parameters": ...}` and ending with
 *   `<|eom_id|>` (Llama 3.1 emits eom after a tool call when the system prompt says
 *   `Environment: ipython`), then the tool's output in an `ipython` turn. The step's free-text thought is
 *   kept in the trajectory record but not rendered: anything before the JSON would stop native parsers
 *   from recognising the call.
 * - A chain-of-thought (`cot`) step is a plain assistant turn ending with `<|eot_id|>`.
 * - The final step's text ends with `the answer is (X)`, the phrase the MMLU-Pro reference extracts.
 *
 * Byte-level choices follow Meta's Hugging Face template for Llama-3.1-8B-Instruct (tokenizer_config.json
 * `chat_template`): the system turn always carries the knowledge/today dates (default date 26 Jul 2024,
 * fixed so prompts are reproducible), user/assistant/system contents are trimmed, ipython contents are
 * not, and tool-call JSON uses Python `json.dumps` separators (`", "`, `": "`), as its `tojson` does.
 */
import { ACTION_DESCRIPTIONS, ACTION_NAMES } from './actions.js';
import { InvalidArgumentError } from './errors.js';
import type { ChatMessage, Step } from './gen/spark/v1/common.js';

export type { ChatMessage, Step };

/** Llama-3.1 special tokens, as text. */
export const TOKENS = {
  beginOfText: '<|begin_of_text|>',
  startHeader: '<|start_header_id|>',
  endHeader: '<|end_header_id|>',
  /** End of turn: the model is done and waits for the user. */
  eot: '<|eot_id|>',
  /** End of message: the model made a tool call and waits for its output. */
  eom: '<|eom_id|>',
  /** Optional prefix of a tool call in Llama 3.1 output. */
  pythonTag: '<|python_tag|>',
  endOfText: '<|end_of_text|>',
} as const;

export const CHAT_ROLES = ['system', 'user', 'assistant', 'ipython'] as const;
export type ChatRole = (typeof CHAT_ROLES)[number];

/** Meta's template defaults; fixed so the same steps always render to the same bytes. */
export const CUTTING_KNOWLEDGE_DATE = 'December 2023';
export const DEFAULT_DATE_STRING = '26 Jul 2024';

/** Paper §3: at most 5 steps per trajectory. */
export const MAX_STEPS = 5;

/** Option letters A..J (MMLU-Pro has 3 to 10 options). */
export const OPTION_LETTERS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'] as const;

// ---------------------------------------------------------------------------------------------------
// Question layout and the SPaRK system prompt

/**
 * A question with its lettered options, in the MMLU-Pro reference layout (`format_cot_example` in
 * TIGER-AI-Lab/MMLU-Pro `evaluate_from_local.py`): "Question:\n{q}\nOptions:\nA. {o}\nB. {o}\n".
 * Ends with a newline; the reference CoT prompt appends "Answer: ..." directly after it.
 */
export function formatQuestionBlock(q: { question: string; options: readonly string[] }): string {
  return `Question:\n${q.question}\nOptions:\n${q.options.map((opt, i) => `${OPTION_LETTERS[i]}. ${opt}\n`).join('')}`;
}

/** An action the policy may take: a tool (built-in or MCP) or `cot`. */
export interface ActionSpec {
  name: string;
  description: string;
}

/** The 9 built-in actions with their one-line descriptions (services/common/actions.ts). */
export const BUILTIN_ACTIONS: readonly ActionSpec[] = ACTION_NAMES.map((name) => ({ name, description: ACTION_DESCRIPTIONS[name] }));

export interface SystemPromptOptions {
  /** Actions listed to the model. @default the 9 built-in actions */
  actions?: readonly ActionSpec[];
  /** Step budget stated to the model. @default 5 */
  maxSteps?: number;
}

/**
 * The SPaRK system prompt: what a step is, the actions (one per line), how to call a tool, and how to
 * finish. Its wording of the tool-call format repeats Meta's own instruction so the base model knows it.
 */
export function buildSystemPrompt(opts: SystemPromptOptions = {}): string {
  const actions = opts.actions ?? BUILTIN_ACTIONS;
  const maxSteps = opts.maxSteps ?? MAX_STEPS;
  return [
    `You answer a multiple-choice question in at most ${maxSteps} steps. At each step take exactly one of these ${actions.length} actions:`,
    '',
    ...actions.map((a) => `- ${a.name}: ${a.description}`),
    '',
    'To use a tool, reply with only a JSON object in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables. The tool\'s output comes back in the next message.',
    'To think without a tool (cot), reply in plain text.',
    'When you know the answer, finish your answer with "the answer is (X)" where X is the correct letter choice.',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Tool-call JSON

/**
 * JSON as Python's `json.dumps(value, ensure_ascii=False)` writes it (", " and ": " separators), which is
 * what the Hugging Face template's `tojson` produces. Floats with no fraction print as `1` here and
 * `1.0` in Python; tool inputs are parsed from JSON text, so this only matters for hand-built values.
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>).map(([k, v]) => `${JSON.stringify(k)}: ${pythonJson(v)}`).join(', ')}}`;
  }
  return JSON.stringify(value);
}

/** The assistant text of a tool call: `{"name": "calculator", "parameters": {"expression": "2+2"}}`. */
export function toolCallText(name: string, parameters: Record<string, unknown>): string {
  return `{"name": ${JSON.stringify(name)}, "parameters": ${pythonJson(parameters)}}`;
}

/** What the model sees of a tool's result: its output, or the error when it failed. */
export function toolOutputText(call: { output: string; error: string }): string {
  return call.error ? `error: ${call.error}` : call.output;
}

function parseParameters(inputJson: string, field: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(inputJson || '{}');
  } catch (err) {
    throw new InvalidArgumentError(field, `not valid JSON (${(err as Error).message})`, 'a JSON object', { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(field, 'must be a JSON object', 'a JSON object');
  return value as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------
// Steps → messages

/** True for a step that calls a tool (anything but `cot` with a tool call attached). */
export function isToolStep(step: Pick<Step, 'action' | 'toolCall'>): boolean {
  return step.action !== 'cot' && !!step.toolCall;
}

/**
 * The chat messages of one step: a tool step gives an assistant tool call plus the ipython output; a
 * `cot` step gives one assistant message with its thought. `field` names the step in errors.
 */
export function stepToMessages(step: Step, field = 'step'): ChatMessage[] {
  if (!isToolStep(step)) return [{ role: 'assistant', content: step.thought.trim() }];
  const call = step.toolCall!;
  const parameters = parseParameters(call.inputJson, `${field}.tool_call.input_json`);
  return [
    { role: 'assistant', content: toolCallText(call.name || step.action, parameters) },
    { role: 'ipython', content: toolOutputText(call) },
  ];
}

/**
 * What the policy generates for a step after the assistant header: the assistant text plus its end
 * token. `renderChat(context, {addGenerationPrompt: true}) + renderStepCompletion(step)` is the context
 * followed by the step's assistant turn, byte for byte (step-wise decomposition trains on this pair).
 */
export function renderStepCompletion(step: Step, field = 'step'): string {
  const [assistant] = stepToMessages(step, field);
  return `${assistant!.content}${isToolStep(step) ? TOKENS.eom : TOKENS.eot}`;
}

/**
 * Messages of the SPaRK tool-use chat: system prompt, the question as the user turn, then every step so
 * far. `questionText` is usually `formatQuestionBlock(question)`.
 */
export function buildToolUseMessages(questionText: string, steps: readonly Step[] = [], opts: SystemPromptOptions = {}): ChatMessage[] {
  return [
    { role: 'system', content: buildSystemPrompt(opts) },
    { role: 'user', content: questionText.trim() },
    ...steps.flatMap((step, i) => stepToMessages(step, `steps[${i}]`)),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Messages ↔ text

export interface RenderOptions {
  /** Announce tool use (`Environment: ipython`) and end tool calls with `<|eom_id|>`. @default true */
  tools?: boolean;
  /** "Today Date" of the system header. @default "26 Jul 2024" */
  dateString?: string;
  /** End with an open assistant header, ready for generation. @default false */
  addGenerationPrompt?: boolean;
}

const header = (role: string) => `${TOKENS.startHeader}${role}${TOKENS.endHeader}\n\n`;

/** True when an assistant text is a native tool call (a JSON object with a name), as vLLM decides it. */
function looksLikeToolCall(content: string): boolean {
  const parsed = parseAssistantTurn(content);
  return parsed.kind === 'tool_call';
}

function systemHeader(tools: boolean, dateString: string): string {
  return `${tools ? 'Environment: ipython\n' : ''}Cutting Knowledge Date: ${CUTTING_KNOWLEDGE_DATE}\nToday Date: ${dateString}\n\n`;
}

/** One non-system message as template text. */
export function renderMessage(message: ChatMessage, opts: RenderOptions = {}): string {
  const tools = opts.tools ?? true;
  switch (message.role) {
    case 'user':
      return `${header('user')}${message.content.trim()}${TOKENS.eot}`;
    case 'assistant': {
      const content = message.content.trim();
      return `${header('assistant')}${content}${tools && looksLikeToolCall(content) ? TOKENS.eom : TOKENS.eot}`;
    }
    case 'ipython':
      return `${header('ipython')}${message.content}${TOKENS.eot}`;
    default:
      throw new InvalidArgumentError('role', `${JSON.stringify(message.role)} cannot appear here (a system message must come first)`, CHAT_ROLES.join(', '));
  }
}

/** Renders a chat in the Llama-3.1 template. A leading system message fills the system turn. */
export function renderChat(messages: readonly ChatMessage[], opts: RenderOptions = {}): string {
  const tools = opts.tools ?? true;
  const [first, ...rest] = messages;
  const hasSystem = first?.role === 'system';
  const system = hasSystem ? first.content.trim() : '';
  const turns = hasSystem ? rest : messages;
  return TOKENS.beginOfText
    + header('system') + systemHeader(tools, opts.dateString ?? DEFAULT_DATE_STRING) + system + TOKENS.eot
    + turns.map((m) => renderMessage(m, opts)).join('')
    + (opts.addGenerationPrompt ? header('assistant') : '');
}

export interface ParsedChat {
  /** The messages, the system message first when its text is non-empty. */
  messages: ChatMessage[];
  /** Whether the system turn announced `Environment: ipython`. */
  tools: boolean;
  dateString: string;
  /** Whether the text ends with an open assistant header (a generation prompt). */
  addGenerationPrompt: boolean;
}

const TURN = /<\|start_header_id\|>(\w+)<\|end_header_id\|>\n\n([\s\S]*?)(<\|eot_id\|>|<\|eom_id\|>|$)/g;
const SYSTEM_HEADER = /^(Environment: ipython\n)?Cutting Knowledge Date: [^\n]*\nToday Date: ([^\n]*)\n\n/;

/** Parses text rendered by `renderChat` back into messages (the inverse, for round trips and logs). */
export function parseChat(text: string): ParsedChat {
  if (!text.startsWith(TOKENS.beginOfText)) throw new InvalidArgumentError('text', `must start with ${TOKENS.beginOfText}`);
  const messages: ChatMessage[] = [];
  let tools = false;
  let dateString = DEFAULT_DATE_STRING;
  let addGenerationPrompt = false;
  for (const match of text.slice(TOKENS.beginOfText.length).matchAll(TURN)) {
    const [, role, body, end] = match as unknown as [string, string, string, string];
    if (!(CHAT_ROLES as readonly string[]).includes(role)) throw new InvalidArgumentError('text', `unknown role ${JSON.stringify(role)}`, CHAT_ROLES.join(', '));
    if (!end) {
      if (role !== 'assistant' || body) throw new InvalidArgumentError('text', `the ${role} turn is not closed with ${TOKENS.eot} or ${TOKENS.eom}`);
      addGenerationPrompt = true;
      continue;
    }
    let content = body;
    if (role === 'system' && messages.length === 0) {
      const head = SYSTEM_HEADER.exec(body);
      if (head) {
        tools = !!head[1];
        dateString = head[2]!;
        content = body.slice(head[0].length);
      }
      if (!content) continue;
    }
    messages.push({ role, content });
  }
  return { messages, tools, dateString, addGenerationPrompt };
}

// ---------------------------------------------------------------------------------------------------
// Parsing what the model wrote

/** The MMLU-Pro reference's answer pattern (`extract_answer`), applied to the last occurrence. */
const ANSWER_PATTERN = /answer is \(?([A-J])\)?/g;

/** The closing phrase of a final step. */
export function finalAnswerText(letter: string): string {
  return `the answer is (${letter})`;
}

/** The letter of the last "answer is (X)" in a text, or undefined. */
export function extractFinalAnswer(text: string): string | undefined {
  let letter: string | undefined;
  for (const m of text.matchAll(ANSWER_PATTERN)) letter = m[1];
  return letter;
}

/** What one assistant turn says. */
export type ParsedTurn =
  | { kind: 'tool_call'; action: string; parameters: Record<string, unknown> }
  | { kind: 'thought'; action: 'cot'; thought: string; finalAnswer?: string }
  /**
   * Looked like a tool call (starts with "{") but is not one; `error` says why. `name` is the tool it
   * names when it opens as a call does (`{"name": "calculator", ...`) and only what follows is broken.
   */
  | { kind: 'invalid_tool_call'; text: string; error: string; name?: string };

/** The name a call opens with: `{"name": "<name>"`. */
const CALL_NAME = /^\{\s*"name"\s*:\s*"([^"\\]+)"/;

/**
 * Reads an assistant turn (with or without its end token, with or without `<|python_tag|>`): a JSON
 * object with `name` and `parameters` (or `arguments`, as some serving stacks write it) is a tool call;
 * anything else is a chain-of-thought step, with its final answer letter when it gives one.
 */
export function parseAssistantTurn(text: string): ParsedTurn {
  let body = text.trim();
  for (const end of [TOKENS.eot, TOKENS.eom, TOKENS.endOfText]) if (body.endsWith(end)) body = body.slice(0, -end.length).trim();
  if (body.startsWith(TOKENS.pythonTag)) body = body.slice(TOKENS.pythonTag.length).trim();
  if (!body.startsWith('{')) {
    const finalAnswer = extractFinalAnswer(body);
    return finalAnswer ? { kind: 'thought', action: 'cot', thought: body, finalAnswer } : { kind: 'thought', action: 'cot', thought: body };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    const name = CALL_NAME.exec(body)?.[1];
    return { kind: 'invalid_tool_call', text: body, error: `not valid JSON (${(err as Error).message})`, ...(name ? { name } : {}) };
  }
  const call = value as Record<string, unknown>;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { kind: 'invalid_tool_call', text: body, error: 'not a JSON object' };
  if (typeof call.name !== 'string' || !call.name) return { kind: 'invalid_tool_call', text: body, error: 'name: missing or not a string' };
  const parameters = call.parameters ?? call.arguments ?? {};
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    return { kind: 'invalid_tool_call', text: body, error: 'parameters: must be a JSON object' };
  }
  return { kind: 'tool_call', action: call.name, parameters: parameters as Record<string, unknown> };
}
