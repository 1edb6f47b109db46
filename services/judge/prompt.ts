/**
 * The versioned judge prompt: a markdown file (`prompts/judge-v1.md`) holding the rubric and the message
 * templates, read once at start-up. Its `version` front-matter field is reported in every response, and
 * the version plus a hash of the whole text is part of the cache key, so editing the rubric never serves
 * scores that an older rubric gave.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Candidate, Question, Step, ToolCall } from '../common/gen/spark/v1/common.js';
import { REPO_ROOT } from '../common/paths.js';

/** The prompt the judge uses unless SPARK_JUDGE_PROMPT_FILE names another. */
export const DEFAULT_PROMPT_FILE = join(REPO_ROOT, 'services', 'judge', 'prompts', 'judge-v1.md');

const SECTIONS = ['system', 'candidates', 'single', 'answer', 'repair'] as const;
type SectionName = (typeof SECTIONS)[number];

/** Placeholders each section may use; anything else in the file is a typo and fails at load time. */
const PLACEHOLDERS: Record<SectionName, readonly string[]> = {
  system: [],
  candidates: ['question', 'options', 'reference', 'steps', 'count', 'candidates'],
  single: ['question', 'options', 'reference', 'steps', 'candidate'],
  answer: ['question', 'options', 'reference', 'steps', 'answer'],
  repair: ['problem'],
};

/** Long tool outputs are cut so one verbose tool cannot blow the judge's context window. */
const MAX_TOOL_TEXT_CHARS = 4_000;

import type { ChatTurn } from '../common/llm/chat-client.js';

export type { ChatTurn };

/** What a candidate or answer is judged against. */
export interface JudgeContext {
  question: Question;
  stepsSoFar: Step[];
}

export interface JudgePrompt {
  /** e.g. "judge-v1". */
  version: string;
  /** sha256 of the file text (hex), part of the cache key. */
  sha256: string;
  candidates(ctx: JudgeContext, candidates: Candidate[]): ChatTurn[];
  single(ctx: JudgeContext, candidate: Candidate): ChatTurn[];
  answer(ctx: JudgeContext, answerText: string): ChatTurn[];
  /** The follow-up user turn asking for a usable reply after `problem`. */
  repair(problem: string): ChatTurn;
}

export class PromptFileError extends Error {
  override readonly name = 'PromptFileError';
}

/** Reads and checks a prompt file; throws PromptFileError naming the file and the problem. */
export function loadJudgePrompt(path = DEFAULT_PROMPT_FILE): JudgePrompt {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PromptFileError(`judge prompt file ${path}: cannot read it`, { cause: err });
  }
  return parseJudgePrompt(text, path);
}

export function parseJudgePrompt(text: string, source = '(prompt)'): JudgePrompt {
  const fail = (problem: string) => new PromptFileError(`judge prompt file ${source}: ${problem}`);
  const front = /^---\n([\s\S]*?)\n---\n/.exec(text);
  const version = front && /^version:\s*(\S+)\s*$/m.exec(front[1])?.[1];
  if (!front || !version) throw fail('missing front matter "---\\nversion: <name>\\n---" at the top');

  const body = text.slice(front[0].length).replace(/<!--[\s\S]*?-->/g, '');
  const sections = new Map<string, string>();
  for (const part of body.split(/^## /m).slice(1)) {
    const newline = part.indexOf('\n');
    const name = part.slice(0, newline).trim();
    if (!(SECTIONS as readonly string[]).includes(name)) throw fail(`unknown section "## ${name}" (allowed: ${SECTIONS.join(', ')})`);
    sections.set(name, part.slice(newline + 1).trim());
  }
  for (const name of SECTIONS) {
    const template = sections.get(name);
    if (!template) throw fail(`missing section "## ${name}"`);
    for (const [, key] of template.matchAll(/\{\{(\w+)\}\}/g)) {
      if (!PLACEHOLDERS[name].includes(key)) throw fail(`section ${name}: unknown placeholder {{${key}}} (allowed: ${PLACEHOLDERS[name].join(', ') || 'none'})`);
    }
  }
  const fill = (name: SectionName, values: Record<string, string>) =>
    sections.get(name)!.replace(/\{\{(\w+)\}\}/g, (_, key: string) => values[key] ?? '');
  const system: ChatTurn = { role: 'system', content: sections.get('system')! };

  return {
    version,
    sha256: createHash('sha256').update(text).digest('hex'),
    candidates: (ctx, candidates) => [system, {
      role: 'user',
      content: fill('candidates', {
        ...contextValues(ctx),
        count: String(candidates.length),
        candidates: candidates.map((c, i) => `[candidate ${i}]\n${renderCandidate(c)}`).join('\n\n'),
      }),
    }],
    single: (ctx, candidate) => [system, { role: 'user', content: fill('single', { ...contextValues(ctx), candidate: renderCandidate(candidate) }) }],
    answer: (ctx, answerText) => [system, { role: 'user', content: fill('answer', { ...contextValues(ctx), answer: answerText.trim() || '(empty)' }) }],
    repair: (problem) => ({ role: 'user', content: fill('repair', { problem }) }),
  };
}

/** Option letters A, B, C, ... */
export function optionLetter(index: number): string {
  return String.fromCharCode(65 + index);
}

function contextValues(ctx: JudgeContext): Record<string, string> {
  const q = ctx.question;
  return {
    question: q.question.trim(),
    options: q.options.map((o, i) => `(${optionLetter(i)}) ${o}`).join('\n'),
    reference: q.answer ? `(${q.answer})` : 'not given',
    steps: ctx.stepsSoFar.length
      ? ctx.stepsSoFar.map((s, i) => `[step ${i + 1}]\n${renderCandidate({ action: s.action, thought: s.thought, toolCall: s.toolCall })}`).join('\n\n')
      : '(none: this is the first step)',
  };
}

/** One step as the judge reads it. Also what the cache key hashes, so key and prompt never disagree. */
export function renderCandidate(c: { action: string; thought: string; toolCall?: ToolCall }): string {
  const lines = [`action: ${c.action}`, `thought: ${c.thought.trim() || '(empty)'}`];
  const call = c.toolCall;
  if (call && (call.name || call.inputJson || call.output || call.error)) {
    lines.push(`tool input: ${call.inputJson || '(none)'}`);
    if (call.error) lines.push(`tool error: ${clip(call.error)}`);
    else lines.push(`tool output: ${clip(call.output) || '(empty)'}`);
  }
  return lines.join('\n');
}

function clip(text: string): string {
  const t = text.trim();
  return t.length > MAX_TOOL_TEXT_CHARS ? `${t.slice(0, MAX_TOOL_TEXT_CHARS)} …[${t.length - MAX_TOOL_TEXT_CHARS} more characters cut]` : t;
}
