/**
 * `equation_solver`: solve, simplify, differentiate, integrate, factor, expand, take limits.
 *
 * Two engines, each where it is strong:
 *  - mathjs (https://mathjs.org/docs/reference/functions/simplify.html, derivative.html) for `simplify`
 *    and `differentiate`: pure JS, milliseconds, run in a worker thread.
 *  - SymPy for `solve`, `integrate`, `factor`, `expand`, `limit`: mathjs has no symbolic solver or
 *    integrator. SymPy's parser calls `eval`, so it runs in the same bubblewrap sandbox as the `python`
 *    tool (Debian's python3-sympy); the request travels as base64 JSON inside a fixed script, never as
 *    code. Costs ~0.5 s per call (SymPy's import).
 */
import { all, create, type MathJsInstance } from 'mathjs';
import { z } from 'zod';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';
import type { PythonSandbox } from './python.js';
import { defineTool, inWorker, ToolRunError, type ToolDefinition, type ToolOutput } from './tool.js';

export const SOLVER_OPERATIONS = ['solve', 'simplify', 'differentiate', 'integrate', 'factor', 'expand', 'limit'] as const;
const MATHJS_OPERATIONS = new Set(['simplify', 'differentiate']);
const MAX_EXPRESSION_CHARS = 2_000;

const expressionText = z.string().min(1).max(MAX_EXPRESSION_CHARS);

export const equationSolverInput = z.object({
  operation: z.enum(SOLVER_OPERATIONS).describe('What to do with the expression'),
  expression: z.union([expressionText, z.array(expressionText).min(1).max(10)])
    .describe('An expression or equation ("x^2 - 4 = 0"); for solve, a list of equations is a system'),
  variable: z.union([z.string().min(1).max(20), z.array(z.string().min(1).max(20)).min(1).max(10)]).optional()
    .describe('Variable(s) to solve for / differentiate or integrate by (default: the free symbols)'),
  order: z.number().int().min(1).max(10).optional().describe('differentiate: order of the derivative (default 1)'),
  lower: z.union([z.string(), z.number()]).optional().describe('integrate: lower bound (definite integral; "-oo" for minus infinity)'),
  upper: z.union([z.string(), z.number()]).optional().describe('integrate: upper bound'),
  point: z.union([z.string(), z.number()]).optional().describe('limit: the point the variable tends to ("oo" for infinity)'),
}).strict().superRefine((v, ctx) => {
  if ((v.lower === undefined) !== (v.upper === undefined)) ctx.addIssue({ code: 'custom', path: [v.lower === undefined ? 'lower' : 'upper'], message: 'give both lower and upper, or neither' });
  if (v.operation === 'limit' && v.point === undefined) ctx.addIssue({ code: 'custom', path: ['point'], message: 'required for operation limit' });
  if (Array.isArray(v.expression) && v.operation !== 'solve') ctx.addIssue({ code: 'custom', path: ['expression'], message: `a list of equations only makes sense for solve, not ${v.operation}` });
});
export type EquationSolverInput = z.infer<typeof equationSolverInput>;

let math: MathJsInstance | undefined;

/** simplify / differentiate with mathjs (worker-side). */
export function solveWithMathjs(input: EquationSolverInput): ToolOutput {
  math ??= create(all);
  const text = Array.isArray(input.expression) ? input.expression[0] : input.expression;
  try {
    if (input.operation === 'simplify') {
      const result = math.simplify(text).toString();
      return { text: result, data: { result } };
    }
    const variable = (Array.isArray(input.variable) ? input.variable[0] : input.variable) ?? guessVariable(math, text);
    let node = math.parse(text);
    for (let i = 0; i < (input.order ?? 1); i++) node = math.derivative(node, variable);
    const result = math.simplify(node).toString();
    return { text: `d${input.order && input.order > 1 ? `^${input.order}` : ''}/d${variable}: ${result}`, data: { result, variable } };
  } catch (err) {
    throw new ToolRunError(`cannot ${input.operation} ${JSON.stringify(text)}: ${(err as Error).message}`);
  }
}

/** The only free symbol of the expression, or an error asking for `variable`. */
function guessVariable(m: MathJsInstance, text: string): string {
  const symbols = new Set<string>();
  m.parse(text).traverse((node, _path, parent) => {
    const isFunctionName = parent?.type === 'FunctionNode' && (parent as unknown as { fn: unknown }).fn === node;
    const name = (node as unknown as { name: string }).name;
    if (node.type === 'SymbolNode' && !isFunctionName && !(name in CONSTANT_SYMBOLS)) symbols.add(name);
  });
  if (symbols.size === 1) return [...symbols][0];
  throw new Error(`say which variable: the expression has ${symbols.size ? [...symbols].join(', ') : 'no variables'}`);
}

const CONSTANT_SYMBOLS: Record<string, true> = { e: true, pi: true, i: true, E: true, PI: true };

/** The SymPy program: reads the request from REQUEST (base64 JSON), prints one JSON object. */
const SYMPY_SCRIPT = `
import base64, json, sympy as sp
from sympy.parsing.sympy_parser import parse_expr, standard_transformations, implicit_multiplication_application, convert_xor
T = standard_transformations + (implicit_multiplication_application, convert_xor)
req = json.loads(base64.b64decode(REQUEST))
def P(s):
    return parse_expr(str(s).replace('−', '-'), transformations=T)
def eq(s):
    s = str(s).replace('==', '=')
    if '=' in s:
        lhs, rhs = s.split('=', 1)
        return sp.Eq(P(lhs), P(rhs))
    return P(s)
def num(x):
    try:
        v = complex(sp.N(x, 15))
        return v.real if abs(v.imag) < 1e-12 else str(sp.N(x, 15))
    except Exception:
        return None
exprs = req['expression'] if isinstance(req['expression'], list) else [req['expression']]
parsed = [eq(e) for e in exprs]
free = sorted(set().union(*[p.free_symbols for p in parsed]), key=str)
vs = req.get('variable')
vs = [sp.Symbol(v) for v in ([vs] if isinstance(vs, str) else vs)] if vs else free
op = req['operation']
out = {}
if op == 'solve':
    sols = sp.solve(parsed, vs, dict=True)
    out['solutions'] = [{str(k): str(v) for k, v in s.items()} for s in sols]
    out['numeric'] = [{str(k): num(v) for k, v in s.items()} for s in sols]
    out['result'] = '; '.join(', '.join(f'{k} = {v}' for k, v in s.items()) for s in out['solutions']) or 'no solution'
elif op == 'integrate':
    e, v = parsed[0], vs[0]
    if 'lower' in req:
        r = sp.integrate(e, (v, P(req['lower']), P(req['upper'])))
        out['numeric'] = num(r)
    else:
        r = sp.integrate(e, v)
    out['result'] = str(r) + ('' if 'lower' in req else ' + C')
    out['unevaluated'] = r.has(sp.Integral)
elif op == 'factor':
    out['result'] = str(sp.factor(parsed[0]))
elif op == 'expand':
    out['result'] = str(sp.expand(parsed[0]))
elif op == 'limit':
    r = sp.limit(parsed[0], vs[0], P(req['point']))
    out['result'] = str(r)
    out['numeric'] = num(r)
print(json.dumps(out))
`;

interface SympyAnswer { result: string; numeric?: unknown; solutions?: unknown; unevaluated?: boolean }

export function equationSolverTool(sandbox: PythonSandbox): ToolDefinition<EquationSolverInput> {
  const mathjs = inWorker<EquationSolverInput>(import.meta.url, 'solveWithMathjs');
  return defineTool<EquationSolverInput>({
    name: 'equation_solver',
    description: ACTION_DESCRIPTIONS.equation_solver,
    input: equationSolverInput,
    timeoutMs: sandbox.limits.wallMs,
    source: 'builtin',
    async run(input, ctx) {
      if (MATHJS_OPERATIONS.has(input.operation)) return mathjs(input, ctx);
      const request = Buffer.from(JSON.stringify(input)).toString('base64');
      const r = await sandbox.runOrThrow(`REQUEST = '${request}'\n${SYMPY_SCRIPT}`, { signal: ctx.signal, wallMs: ctx.timeoutMs });
      const answer = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as SympyAnswer;
      let text = answer.result;
      if (typeof answer.numeric === 'number') text += ` ≈ ${answer.numeric}`;
      else if (Array.isArray(answer.numeric) && input.operation === 'solve') {
        const approx = (answer.numeric as Array<Record<string, unknown>>)
          .map((s) => Object.entries(s).map(([k, v]) => `${k} ≈ ${typeof v === 'number' ? Number(v.toPrecision(12)) : v}`).join(', '));
        if (approx.length) text += `\nnumerically: ${approx.join('; ')}`;
      }
      if (answer.unevaluated) text += '\n(SymPy found no closed form: the integral is left unevaluated)';
      return { text, data: answer };
    },
  });
}
