/**
 * The offline generator (no model at all): deterministic per-tool input builders read the question
 * text — numbers and arithmetic for calculator/python, equations for the solver, quantities with units,
 * chemical formulas, rates and amounts, logic formulas, key terms for the encyclopedia — so the whole
 * SPaRK pipeline runs on a laptop with no API key. It is labelled `heuristic` everywhere it shows up.
 *
 * The final answer is chosen from the evidence of the steps taken: a number in a tool's output that
 * matches a numeric option (within 1 %), else the option sharing the most rare words with the outputs,
 * else a seeded guess. Crude, but it makes tool choice matter for the outcome, which is what the
 * rollout needs to produce a learnable signal offline.
 */
import type { Question, Step } from '../common/gen/spark/v1/common.js';
import { createRng, hashString32 } from '../common/random.js';
import { finalAnswerText } from '../common/step-format.js';
import type { CandidateProposal, StepGenerator } from './rollout.js';
import { ELEMENTS as ELEMENT_LIST } from './tools/elements.js';

const LETTERS = 'ABCDEFGHIJ';
const NUMBER = /(?<![\w.])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])-?\d+(?:\.\d+)?(?:\s*[×x*]\s*10\^\{?-?\d+\}?)?/g;

/** Numbers written in a text, in order ("1,200" → 1200, "4.7 × 10^3" → 4700). */
export function extractNumbers(text: string): number[] {
  return [...text.matchAll(NUMBER)].map((m) => {
    const [mantissa, exponent] = m[0].replace(/,/g, '').split(/\s*[×x*]\s*10\^/);
    return Number(mantissa) * (exponent ? 10 ** Number(exponent.replace(/[{}]/g, '')) : 1);
  }).filter(Number.isFinite);
}

const STOPWORDS = new Set('a an the of and or to in on for with by from at as is are was were be been being this that these those which what who whom whose when where why how it its his her their our your my we you they he she i not no yes if then than so such can could would should may might must will shall do does did has have had following best most least true false statement statements question answer options option all any each one two three following describes describe'.split(' '));

/** The rarest-looking words of a text: not stop words, longer first, in first-seen order. */
export function keyTerms(text: string, k = 6): string[] {
  const words = text.toLowerCase().match(/[a-z][a-z-]{2,}/g) ?? [];
  const seen = [...new Set(words.filter((w) => !STOPWORDS.has(w)))];
  return seen.sort((a, b) => b.length - a.length || seen.indexOf(a) - seen.indexOf(b)).slice(0, k);
}

/** Element symbols, for telling "NaCl" from "AND" when looking for chemical formulas. */
const ELEMENTS = new Set(ELEMENT_LIST.map((e) => e.symbol));

/** The first element named in a text ("calcium crystallizes..." → "calcium"). */
export function elementNamed(text: string): string | undefined {
  const words = new Set(text.toLowerCase().match(/[a-z]+/g) ?? []);
  return ELEMENT_LIST.find((e) => words.has(e.name.toLowerCase()))?.name;
}

/** Chemical formulas in a text (at least two element tokens or a count, every token a real element). */
export function extractFormulas(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/\b(?:\(?[A-Z][a-z]?\d*\)?\d*){2,}\b|\b[A-Z][a-z]?\d+\b/g)) {
    const tokens = m[0].replace(/[()\d]/g, ' ').match(/[A-Z][a-z]?/g) ?? [];
    if (tokens.length && tokens.every((t) => ELEMENTS.has(t)) && /\d|[A-Z].*[A-Z]/.test(m[0])) out.add(m[0]);
  }
  return [...out];
}

/** Quantity with a unit the converter knows, and the SI unit to express it in. */
const UNIT_TARGETS: Array<[RegExp, string, string]> = [
  [/^km$/, 'km', 'm'], [/^cm$/, 'cm', 'm'], [/^mm$/, 'mm', 'm'], [/^nm$/, 'nm', 'm'], [/^(mi|miles?)$/, 'mi', 'm'], [/^(ft|feet|foot)$/, 'ft', 'm'], [/^(in|inch(es)?)$/, 'inch', 'm'],
  [/^g$/, 'g', 'kg'], [/^mg$/, 'mg', 'kg'], [/^(lb|lbs|pounds?)$/, 'lb', 'kg'],
  [/^(min|minutes?)$/, 'minute', 's'], [/^(h|hr|hours?)$/, 'hour', 's'], [/^ms$/, 'ms', 's'],
  [/^(L|liters?|litres?)$/, 'L', 'm^3'], [/^mL$/, 'mL', 'm^3'], [/^atm$/, 'atm', 'Pa'], [/^(torr|mmHg)$/, 'torr', 'Pa'], [/^kPa$/, 'kPa', 'Pa'],
  [/^eV$/, 'eV', 'J'], [/^(cal|calories?)$/, 'cal', 'J'], [/^kJ$/, 'kJ', 'J'], [/^kcal$/, 'kcal', 'J'], [/^(km\/h|kph)$/, 'km/h', 'm/s'], [/^mph$/, 'mi/h', 'm/s'],
  [/^°C$/, 'degC', 'K'], [/^°F$/, 'degF', 'K'],
];

export function extractQuantity(text: string): { value: number; from: string; to: string } | undefined {
  for (const m of text.matchAll(/(-?\d+(?:\.\d+)?)\s*(°[CF]|[A-Za-z]+(?:\/[a-z]+)?)/g)) {
    const unit = m[2]!;
    const hit = UNIT_TARGETS.find(([re]) => re.test(unit));
    if (hit) return { value: Number(m[1]), from: hit[1], to: hit[2] };
  }
  return undefined;
}

/** A propositional formula in MMLU-Pro's notation (~ ⊃ ∨ · ≡), rewritten in the logic tool's. */
export function extractLogicFormula(text: string): string | undefined {
  const m = text.match(/[~(]*[A-Z](?:\s*(?:⊃|∨|·|•|≡|→|↔|&|\|)\s*[~(]*[A-Z]\)*)+\)*/);
  if (!m) return undefined;
  return m[0].replace(/⊃|→/g, '->').replace(/≡|↔/g, '<->').replace(/∨/g, '|').replace(/[·•]/g, '&').replace(/\s+/g, ' ').trim();
}

/** An equation in one variable ("3x + 5 = 20"), when the question states one. */
export function extractEquation(text: string): { expression: string; variable: string } | undefined {
  // Tokens an equation is made of: numbers, operators, parentheses and single-letter variables.
  const token = /\d+(?:\.\d+)?|[+\-*/^()=]|(?<![A-Za-z])[a-z](?![A-Za-z])|\s+/y;
  for (let at = text.indexOf('='); at >= 0; at = text.indexOf('=', at + 1)) {
    let start = at;
    while (start > 0) {
      const before = text.slice(0, start).match(/(\d+(?:\.\d+)?|[+\-*/^()]|(?<![A-Za-z])[a-z]|\s+)$/);
      if (!before || (before[0].length === 1 && /[a-z]/.test(before[0]) && /[A-Za-z]/.test(text[start - 2] ?? ''))) break;
      start -= before[0].length;
    }
    let end = at;
    token.lastIndex = at;
    for (let m = token.exec(text); m; m = token.exec(text)) end = token.lastIndex;
    const expression = text.slice(start, end).trim().replace(/[.\s]+$/, '');
    const variable = expression.match(/(?<![A-Za-z])[a-z](?![A-Za-z])/)?.[0];
    if (variable && /\d/.test(expression) && /=\s*\S/.test(expression) && /\S\s*=/.test(expression)) return { expression, variable };
  }
  return undefined;
}

/** Arithmetic on the first numbers of the question: product, ratio, sum, difference. */
function combinations(ns: number[]): Record<string, string> {
  const [a, b] = ns;
  if (a === undefined) return {};
  if (b === undefined) return { value: `${a}` };
  return { product: `${a} * ${b}`, ratio: `${a} / ${b}`, sum: `${a} + ${b}`, difference: `${a} - ${b}`, inverse_ratio: `${b} / ${a}` };
}

const pct = (text: string) => { const m = text.match(/(\d+(?:\.\d+)?)\s*%/); return m ? Number(m[1]) / 100 : undefined; };

function proposeFor(action: string, q: Question): CandidateProposal {
  const text = q.question;
  const numbers = extractNumbers(text);
  const combos = combinations(numbers);
  switch (action) {
    case 'calculator': {
      const expr = combos.product ?? combos.value ?? '0';
      return { action, thought: `Multiply the quantities given in the question: ${expr}.`, parameters: { expression: expr } };
    }
    case 'python': {
      const lines = Object.entries(combos).map(([k, e]) => `print(${JSON.stringify(k)}, ${e.replace(/\^/g, '**')})`);
      return { action, thought: 'Compute the basic combinations of the given numbers and compare them with the options.', parameters: { code: lines.join('\n') || 'print("no numbers in the question")' } };
    }
    case 'equation_solver': {
      const eq = extractEquation(text);
      if (eq) return { action, thought: `Solve ${eq.expression} for ${eq.variable}.`, parameters: { operation: 'solve', expression: eq.expression, variable: eq.variable } };
      return { action, thought: 'Simplify the relation between the given quantities.', parameters: { operation: 'simplify', expression: combos.ratio ?? combos.value ?? '0' } };
    }
    case 'unit_converter': {
      const quantity = extractQuantity(text);
      return quantity
        ? { action, thought: `Express ${quantity.value} ${quantity.from} in SI units (${quantity.to}).`, parameters: { value: quantity.value, from: quantity.from, to: quantity.to } }
        : { action, thought: 'Look up the constant the question relies on.', parameters: { constant: 'speed of light' } };
    }
    case 'chemistry': {
      const formula = extractFormulas(text)[0];
      return formula
        ? { action, thought: `Find the molar mass of ${formula}.`, parameters: { operation: 'molar_mass', formula } }
        : { action, thought: 'Look up the element the question is about.', parameters: { operation: 'element', element: elementNamed(text) ?? 'carbon' } };
    }
    case 'finance': {
      const rate = pct(text);
      const [amount, periods] = numbers.filter((n) => n > 0 && n !== (rate ?? 0) * 100);
      if (rate !== undefined && amount !== undefined) {
        return { action, thought: `Grow ${amount} at ${rate * 100}% for ${periods ?? 1} periods.`, parameters: { operation: 'fv', rate, periods: Math.min(Math.max(1, Math.round(periods ?? 1)), 1000), pv: -amount } };
      }
      const [x0, x1] = numbers;
      return { action, thought: 'Compute the growth rate between the two figures given.', parameters: { operation: 'growth', begin: x0 || 1, end: x1 ?? 1 } };
    }
    case 'logic': {
      const formula = extractLogicFormula(text) ?? 'p | ~p';
      return { action, thought: `Build the truth table of ${formula}.`, parameters: { operation: 'truth_table', formula } };
    }
    case 'encyclopedia': {
      const query = keyTerms(text).join(' ') || q.category;
      return { action, thought: `Look up background on: ${query}.`, parameters: { query } };
    }
    case 'cot':
    default:
      return { action: 'cot', thought: `The question is about ${q.category}. Key terms: ${keyTerms(text).join(', ')}. I will compare the ${q.options.length} options against what is known about them.` };
  }
}

/** Numeric value of an option ("$14.45" → 14.45, "4.738 × 10^3 kg/m^3" → 4738), if it has one. */
function optionValue(option: string): number | undefined {
  const ns = extractNumbers(option);
  return ns.length ? ns[0] : undefined;
}

/** Picks the answer letter from the steps' evidence (see the module comment). */
export function chooseAnswer(q: Question, steps: readonly Step[]): { letter: string; why: string } {
  const outputs = steps.filter((s) => s.toolCall && !s.toolCall.error).map((s) => ({ action: s.action, text: s.toolCall!.output }));
  const values = q.options.map(optionValue);
  // Numbers the question states are inputs echoed back, not results; results tend to come last.
  const given = new Set(extractNumbers(q.question));
  for (const out of outputs) {
    for (const x of extractNumbers(out.text).reverse()) {
      if (given.has(x)) continue;
      const i = values.findIndex((v) => v !== undefined && v !== 0 && Math.abs(x - v) / Math.abs(v) < 0.01);
      if (i >= 0) return { letter: LETTERS[i]!, why: `the ${out.action} result ${x} matches option ${LETTERS[i]}` };
    }
  }
  const evidence = new Set(keyTerms(outputs.map((o) => o.text).join(' '), 200));
  const overlap = q.options.map((o) => keyTerms(o, 20).filter((w) => evidence.has(w)).length);
  const best = Math.max(...overlap);
  if (best > 0) {
    const i = overlap.indexOf(best);
    return { letter: LETTERS[i]!, why: `option ${LETTERS[i]} shares the most terms with what the tools returned` };
  }
  const i = createRng(hashString32(`answer:${q.questionId}`)).int(q.options.length);
  return { letter: LETTERS[i]!, why: 'no tool output decides it, so this is a guess' };
}

export class HeuristicGenerator implements StepGenerator {
  readonly kind = 'heuristic';

  async propose(question: Question, _steps: readonly Step[], actions: readonly string[]): Promise<CandidateProposal[]> {
    // MCP tools have no builder: they get a query made of the question's key terms.
    return actions.map((a) => (proposeFor(a, question).action === a ? proposeFor(a, question) : { action: a, thought: `Ask ${a} about the question.`, parameters: { query: keyTerms(question.question).join(' ') } }));
  }

  async answer(question: Question, steps: readonly Step[]): Promise<string> {
    const { letter, why } = chooseAnswer(question, steps);
    return `Putting the steps together: ${why}. ${finalAnswerText(letter)}`;
  }
}
