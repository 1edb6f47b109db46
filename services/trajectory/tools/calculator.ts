/**
 * `calculator`: exact arithmetic with fractions and big numbers (mathjs, https://mathjs.org).
 *
 * Each expression is evaluated twice: with mathjs's Fraction numbers (exact rationals: `1/3 + 1/6` is
 * `1/2`, `2^200` is every digit) and with 64-digit BigNumbers (for `sqrt`, `sin`, `e^x`, `100!`, where no
 * exact rational exists). The answer shows the exact value when there is one and the decimal always.
 * Runs in a worker thread (see isolate.ts): `factorial(10^7)` hits the time limit, not the service.
 */
import { all, create, type MathJsInstance } from 'mathjs';
import { z } from 'zod';
import { defineTool, inWorker, ToolRunError, type ToolOutput } from './tool.js';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';

/** Significant digits of the BigNumber evaluation and of the decimal shown. */
const PRECISION_DIGITS = 64;
const SHOWN_DIGITS = 30;
export const MAX_EXPRESSION_CHARS = 4_000;
/** Decimal exponents beyond this skip the exact evaluation (its BigInts would take minutes). */
const MAX_EXACT_DIGITS = 5_000;

export const calculatorInput = z.object({
  expression: z.string().min(1).max(MAX_EXPRESSION_CHARS)
    .describe('A mathjs expression: + - * / ^ ! mod, parentheses, sqrt, log(x, base), sin, pi, e, units ("3 km to m"); several expressions separated by ";" or newlines (variables carry over)'),
}).strict();
export type CalculatorInput = z.infer<typeof calculatorInput>;

/** Functions that would change the shared mathjs instance (workers are reused) are switched off. */
function hardened(math: MathJsInstance): MathJsInstance {
  const refuse = (name: string) => () => { throw new Error(`${name} is disabled in the calculator`); };
  math.import({ import: refuse('import'), createUnit: refuse('createUnit') }, { override: true });
  return math;
}

let exact: MathJsInstance | undefined;
let decimal: MathJsInstance | undefined;

/** Evaluates in mathjs instance `math`, returning the last result of a multi-expression input. */
function evaluateLast(math: MathJsInstance, expression: string): unknown {
  const result = math.evaluate(expression, new Map()) as unknown;
  const last = math.typeOf(result) === 'ResultSet' ? (result as { entries: unknown[] }).entries.at(-1) : result;
  if (last === undefined) throw new Error('the expression has no value');
  return last;
}

/** The calculator itself (worker-side). */
export function calculate(input: CalculatorInput): ToolOutput {
  exact ??= hardened(create(all, { number: 'Fraction' }));
  decimal ??= hardened(create(all, { number: 'BigNumber', precision: PRECISION_DIGITS }));
  let decimalResult: unknown;
  try {
    decimalResult = evaluateLast(decimal, input.expression);
  } catch (err) {
    throw new ToolRunError(`cannot evaluate ${JSON.stringify(input.expression)}: ${(err as Error).message}`);
  }
  // Plain digits up to 10^30 (a 20! or a price reads better without an exponent).
  const decimalValue = decimal.format(decimalResult, { precision: SHOWN_DIGITS, lowerExp: -7, upperExp: SHOWN_DIGITS });
  let exactValue: string | undefined;
  // Exact rationals only for numbers of sane size: 2^(10^9) has a fine BigNumber but a BigInt of 10^9 bits.
  if (decimal.typeOf(decimalResult) !== 'BigNumber' || Math.abs((decimalResult as { e: number }).e) <= MAX_EXACT_DIGITS) {
    try {
      const r = evaluateLast(exact, input.expression);
      if (exact.typeOf(r) === 'Fraction') exactValue = exact.format(r, { fraction: 'ratio' }).replace(/\/1$/, '');
    } catch {
      // not a rational result (sqrt, trig, e^x, factorial): the decimal answers alone
    }
  }
  const text = exactValue && exactValue !== decimalValue ? `${exactValue} ≈ ${decimalValue}` : decimalValue;
  return { text, data: { exact: exactValue ?? null, decimal: decimalValue } };
}

export const calculatorTool = defineTool<CalculatorInput>({
  name: 'calculator',
  description: ACTION_DESCRIPTIONS.calculator,
  input: calculatorInput,
  timeoutMs: 5_000,
  source: 'builtin',
  run: inWorker(import.meta.url, 'calculate'),
});
