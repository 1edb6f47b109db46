/**
 * equation_solver on MMLU-Pro inputs: the roots of 2x² + 15x + 16 (question_id 9020), d/dx of
 * (1 + e^(−2x)) / (x + tan 12x) at 1 (7867), and H'(1) for H(z) = ∫₀¹ e^(−z²t²) dt as a definite integral (7971).
 * mathjs answers simplify/differentiate; SymPy in the sandbox answers solve/integrate/factor/limit.
 */
import { all, create } from 'mathjs';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/logging.js';
import { equationSolverInput, equationSolverTool, solveWithMathjs } from './equation-solver.js';
import { WorkerPool } from './isolate.js';
import { PythonSandbox } from './python.js';
import { ToolRegistry } from './registry.js';

const math = create(all);
const workers = new WorkerPool(1);
const tools = new ToolRegistry([equationSolverTool(new PythonSandbox())], { workers, log: createLogger('test', 'silent') });
const solve = async (input: Record<string, unknown>) => {
  const call = await tools.run('equation_solver', input);
  expect(call.error).toBe('');
  return { text: call.output, data: JSON.parse(call.structuredJson) as Record<string, unknown> };
};

afterAll(() => workers.close());

describe('equation_solver (MMLU-Pro)', () => {
  it('question_id 9020: solves 2x^2 + 15x + 16 = 0; 1/m + 1/n = -0.9375 (option G)', async () => {
    const out = await solve({ operation: 'solve', expression: '2x^2 + 15x + 16 = 0', variable: 'x' });
    const roots = (out.data.numeric as Array<{ x: number }>).map((s) => s.x);
    expect(roots).toHaveLength(2);
    expect(1 / roots[0] + 1 / roots[1]).toBeCloseTo(-0.9375, 10);
    expect(out.text).toMatch(/x = -15\/4 - sqrt\(97\)\/4; x = -15\/4 \+ sqrt\(97\)\/4/);
  });

  it('question_id 7867: d/dx (1 + e^(-2x)) / (x + tan(12x)) at x = 1 is -153.59 (option J)', () => {
    const out = solveWithMathjs(equationSolverInput.parse({ operation: 'differentiate', expression: '(1 + e^(-2x)) / (x + tan(12x))' }));
    const derivative = (out.data as { result: string }).result;
    expect(math.evaluate(derivative, { x: 1 })).toBeCloseTo(-153.59, 2);
    expect(out.text).toMatch(/^d\/dx: /);
  });

  it('question_id 7971: H\'(1) = ∫₀¹ -2t² e^(-t²) dt = -0.3789 (option C)', async () => {
    const out = await solve({ operation: 'integrate', expression: '-2 t^2 exp(-t^2)', variable: 't', lower: 0, upper: 1 });
    expect(out.data.numeric).toBeCloseTo(-0.3789, 4);
    expect(out.text).toMatch(/erf\(1\)/);
  });

  it('solves systems, factors, expands, takes limits and indefinite integrals', async () => {
    const system = await solve({ operation: 'solve', expression: ['x + y = 10', 'x - y = 2'] });
    expect(system.data.solutions).toEqual([{ x: '6', y: '4' }]);
    expect((await solve({ operation: 'factor', expression: 'x^2 - 5x + 6' })).text).toBe('(x - 3)*(x - 2)');
    expect((await solve({ operation: 'expand', expression: '(a + b)^3' })).text).toBe('a**3 + 3*a**2*b + 3*a*b**2 + b**3');
    expect((await solve({ operation: 'limit', expression: 'sin(x)/x', variable: 'x', point: 0 })).text).toBe('1 ≈ 1');
    expect((await solve({ operation: 'integrate', expression: 'x^2', variable: 'x' })).text).toBe('x**3/3 + C');
  });

  it('simplifies with mathjs and asks for the variable when it is ambiguous', async () => {
    expect((await solve({ operation: 'simplify', expression: '2x + 3x - x' })).text).toBe('4 * x');
    const ambiguous = await tools.run('equation_solver', { operation: 'differentiate', expression: 'a * x^2' });
    expect(ambiguous.error).toMatch(/say which variable: the expression has a, x/);
  });

  it('reports unsolvable input as the tool\'s error, and bad fields as invalid input', async () => {
    const bad = await tools.run('equation_solver', { operation: 'solve', expression: 'x +* = 2' });
    expect(bad.error).toMatch(/python exited with code 1[\s\S]*(SyntaxError|TokenError)/);
    await expect(tools.run('equation_solver', { operation: 'limit', expression: 'x' })).rejects.toThrow(/input_json: equation_solver input: point: required for operation limit/);
  });
});
