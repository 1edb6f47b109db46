/**
 * The offline judge: deterministic heuristics that score a step 0..10 without any LLM, so the whole SPaRK
 * pipeline runs on a laptop with no API key (DESIGN.md §8). It reads what a step visibly did:
 *
 *   relevance   0..1  the thought is about this question (shares terms with it or its options)
 *   execution   0..3  the tool ran without error and returned something (CoT: the reasoning has substance)
 *   use         0..2  the thought uses the tool output (CoT: the question's terms)
 *   progress    0..3  the evidence (tool output, thought) points at exactly one option
 *   format     -2..+1 a claimed answer is written "the answer is (X)" with X an option letter
 *
 * The sum is clamped to 0..10. Same input, same score: no randomness, no clock. Every response says
 * `backend: "offline"`, so nobody mistakes these numbers for an LLM's.
 */
import type { Candidate, Step } from '../common/gen/spark/v1/common.js';
import { COT_ACTION } from '../common/actions.js';
import { extractAnswer } from './answer.js';
import { NO_USAGE, type JudgeBackend } from './backend.js';
import { optionLetter, type JudgeContext } from './prompt.js';
import { MAX_SCORE, MIN_SCORE, type Verdict } from './verdict.js';

export const OFFLINE_BACKEND = 'offline';

/** Words too common to say anything about relevance. */
const STOPWORDS = new Set(('about above after again also among answer because been before being below between both could does doing ' +
  'each find following from have having here into itself just least more most much only other over same should some such than that ' +
  'their them then there these they this those through under until very what when where which while whom will with would your ' +
  'step steps using tool value given question option options correct').split(' '));

/** Relative tolerance when a number in a tool output is compared with a number in an option. */
const NUMBER_REL_TOLERANCE = 1e-3;
/** CoT reasoning shorter than this many words is too thin to count as substance. */
const MIN_COT_WORDS = 12;
/** Share of the tool output's terms the thought must mention to "use" it fully. */
const FULL_USE_FRACTION = 0.3;

/** Scores one candidate step. */
export function judgeCandidateOffline(ctx: JudgeContext, candidate: Candidate): Verdict {
  const reasons: string[] = [];
  const call = candidate.toolCall;
  const isTool = candidate.action !== COT_ACTION && !!call && !!(call.name || call.inputJson || call.output || call.error);
  const thought = candidate.thought.trim();
  const questionTerms = termsOf(`${ctx.question.question} ${ctx.question.options.join(' ')}`);

  const relevance = !thought ? 0 : overlap(termsOf(thought), questionTerms) > 0 ? 1 : 0.5;
  if (!thought) reasons.push('empty thought');

  let execution: number;
  let use: number;
  let evidence = thought;
  if (isTool) {
    if (call!.error.trim()) {
      execution = 0;
      reasons.push(`tool failed: ${call!.error.trim().split('\n')[0].slice(0, 80)}`);
    } else if (!call!.output.trim()) {
      execution = 1;
      reasons.push('tool returned nothing');
    } else {
      execution = 3;
      evidence = `${call!.output}\n${thought}`;
      reasons.push('tool ran');
    }
    if (call!.inputJson.trim() && !isJson(call!.inputJson)) {
      execution = Math.max(0, execution - 1);
      reasons.push('tool input is not valid JSON');
    }
    const outputTerms = execution === 3 ? termsOf(call!.output) : new Set<string>();
    const used = outputTerms.size ? overlap(outputTerms, termsOf(thought)) / outputTerms.size : 0;
    use = used >= FULL_USE_FRACTION ? 2 : used > 0 ? 1 : 0;
    if (execution === 3) reasons.push(use ? 'output used in the thought' : 'output not used in the thought');
  } else {
    const words = thought.split(/\s+/).filter(Boolean).length;
    execution = words >= MIN_COT_WORDS ? 2 : words > 0 ? 1 : 0;
    const shared = questionTerms.size ? overlap(termsOf(thought), questionTerms) / questionTerms.size : 0;
    use = shared >= 0.2 ? 2 : shared > 0 ? 1 : 0;
    reasons.push(execution === 2 ? 'reasoning with substance' : 'thin reasoning');
  }

  const progress = progressOf(evidence, ctx, reasons);
  const format = formatOf(thought, ctx.question.options.length, reasons);
  return { score: clamp(relevance + execution + use + progress + format), rationale: `offline: ${reasons.join('; ')}` };
}

/** Scores a final answer step: format first, then whether it is right and supported by the steps. */
export function judgeAnswerOffline(ctx: JudgeContext, answerText: string): Verdict {
  const claim = extractAnswer(answerText, ctx.question.options.length);
  if (!claim) return { score: 0, rationale: 'offline: no final answer "the answer is (X)"' };
  if (!claim.wellFormed) {
    return { score: claim.validLetter ? 1 : 0, rationale: `offline: answer not in the form "the answer is (X)" with X in A..${optionLetter(ctx.question.options.length - 1)}` };
  }
  if (claim.letter !== ctx.question.answer.toUpperCase()) return { score: 2, rationale: `offline: well-formed but wrong answer (${claim.letter})` };
  const evidence = [...ctx.stepsSoFar.map(stepEvidence), answerText].join('\n');
  const supported = matchingOptions(evidence, ctx.question.options, ctx.question.question).includes(claim.letter.charCodeAt(0) - 65);
  return supported
    ? { score: 10, rationale: `offline: correct (${claim.letter}) and supported by the steps` }
    : { score: 8, rationale: `offline: correct (${claim.letter}) but the steps do not show it` };
}

function stepEvidence(s: Step): string {
  return `${s.thought}\n${s.toolCall && !s.toolCall.error ? s.toolCall.output : ''}`;
}

/** 3 when the evidence points at exactly one option, 2 at several, 1 at the question's terms, else 0. */
function progressOf(evidence: string, ctx: JudgeContext, reasons: string[]): number {
  const matches = matchingOptions(evidence, ctx.question.options, ctx.question.question);
  if (matches.length === 1) {
    reasons.push(`points to option (${optionLetter(matches[0])})`);
    return 3;
  }
  if (matches.length > 1) {
    reasons.push(`matches ${matches.length} options`);
    return 2;
  }
  if (overlap(termsOf(evidence), termsOf(ctx.question.question)) > 0) {
    reasons.push('works on the question');
    return 1;
  }
  reasons.push('no progress toward an option');
  return 0;
}

function formatOf(thought: string, optionCount: number, reasons: string[]): number {
  const claim = extractAnswer(thought, optionCount);
  if (!claim) return 0;
  if (claim.wellFormed) {
    reasons.push(`final answer (${claim.letter}) well formed`);
    return 1;
  }
  reasons.push('answer claim not in the form "the answer is (X)"');
  return -2;
}

/**
 * Indexes of options the evidence contains: all of a numeric option's numbers, or a text option verbatim.
 * Numbers the question itself states are not evidence (a thought restating "x = 0.005" proves nothing).
 */
export function matchingOptions(evidence: string, options: string[], questionText = ''): number[] {
  const text = normalise(evidence);
  const given = numbersOf(questionText);
  const numbers = numbersOf(evidence).filter((n) => !given.some((g) => sameNumber(n, g)));
  const out: number[] = [];
  options.forEach((option, i) => {
    const optionNumbers = numbersOf(option);
    const words = normalise(option).replace(/[-+]?\d[\d,]*(\.\d+)?(e[-+]?\d+)?/gi, ' ').trim();
    const matched = optionNumbers.length && words.length < 12
      ? optionNumbers.every((n) => numbers.some((m) => sameNumber(n, m)))
      : normalise(option).length >= 3 && text.includes(normalise(option));
    if (matched) out.push(i);
  });
  return out;
}

function sameNumber(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= NUMBER_REL_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}

function numbersOf(text: string): number[] {
  return [...text.matchAll(/[-+]?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?/gi)]
    .map((m) => Number(m[0].replace(/,/g, '')))
    .filter(Number.isFinite);
}

/** Lower-case content words (4+ letters, not stopwords) and numbers. */
function termsOf(text: string): Set<string> {
  const terms = new Set<string>();
  for (const m of normalise(text).matchAll(/[a-z][a-z]{3,}|\d+(?:\.\d+)?/g)) {
    if (!STOPWORDS.has(m[0])) terms.add(m[0]);
  }
  return terms;
}

function overlap(a: Set<string>, b: Set<string>): number {
  let n = 0;
  for (const t of a) if (b.has(t)) n += 1;
  return n;
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/\s+/g, ' ');
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function clamp(score: number): number {
  return Math.min(MAX_SCORE, Math.max(MIN_SCORE, score));
}

/** The offline judge as a backend. */
export const offlineBackend: JudgeBackend = {
  name: OFFLINE_BACKEND,
  cacheable: false,
  scoreCandidates: async (ctx, candidates) => ({ verdicts: candidates.map((c) => judgeCandidateOffline(ctx, c)), usage: NO_USAGE }),
  scoreAnswer: async (ctx, answerText) => ({ verdict: judgeAnswerOffline(ctx, answerText), usage: NO_USAGE }),
};
