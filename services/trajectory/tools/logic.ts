/**
 * `logic`: propositional logic. Formulas are parsed by logic-formula.ts; validity, satisfiability,
 * argument checking and pairwise comparison are decided by a SAT solver (logic-solver: MiniSat compiled
 * to JavaScript, https://github.com/meteor/logic-solver), so they scale past what a truth table can
 * enumerate; truth tables themselves are enumerated (up to MAX_TABLE_VARIABLES variables).
 *   truth_table  {formula | formulas}          every row
 *   valid        {formula}                     tautology? else a falsifying row
 *   satisfiable  {formula | formulas}          a model of them all (consistency of a set)
 *   argument     {premises, conclusion}        valid? else counterexamples (rows with true premises, false conclusion)
 *   compare      {formulas: [a, b]}            equivalent / contradictory / consistent / inconsistent
 * Runs in a worker thread (see isolate.ts).
 */
import Logic, { type Formula as SatFormula, type Operand } from 'logic-solver';
import { z } from 'zod';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';
import { evaluate, parseFormula, show, variables, type Formula } from './logic-formula.js';
import { defineTool, inWorker, ToolRunError, type ToolOutput } from './tool.js';

export const LOGIC_OPERATIONS = ['truth_table', 'valid', 'satisfiable', 'argument', 'compare'] as const;
export const MAX_TABLE_VARIABLES = 12;
/** Rows printed for the model (the structured data has all of them). */
const SHOWN_ROWS = 64;
const MAX_COUNTEREXAMPLES = 16;

const formulaText = z.string().min(1).max(2_000);

export const logicInput = z.object({
  operation: z.enum(LOGIC_OPERATIONS).describe('What to decide'),
  formula: formulaText.optional().describe('One formula: letters are variables; ~ & | -> <-> (also ¬ ∧ ∨ → ↔, Hurley\'s · ⊃ ≡, and/or/not)'),
  formulas: z.array(formulaText).min(1).max(20).optional().describe('Several formulas (truth_table, satisfiable, compare: exactly two)'),
  premises: z.array(formulaText).max(64).optional().describe('argument: the premises'),
  conclusion: formulaText.optional().describe('argument: the conclusion'),
}).strict().superRefine((v, ctx) => {
  const need = (field: 'formula' | 'formulas' | 'premises' | 'conclusion', ok: boolean, msg: string) => {
    if (!ok) ctx.addIssue({ code: 'custom', path: [field], message: msg });
  };
  if (v.operation === 'argument') {
    need('premises', v.premises !== undefined, 'required for operation argument');
    need('conclusion', v.conclusion !== undefined, 'required for operation argument');
  } else if (v.operation === 'compare') {
    need('formulas', v.formulas?.length === 2, 'compare needs exactly two formulas');
  } else if (v.operation === 'valid') {
    need('formula', v.formula !== undefined, 'required for operation valid');
  } else {
    need('formula', v.formula !== undefined || v.formulas !== undefined, `give formula or formulas for ${v.operation}`);
  }
});
export type LogicInput = z.infer<typeof logicInput>;

function toSat(f: Formula): Operand {
  switch (f.op) {
    case 'var': return f.name;
    case 'const': return f.value ? Logic.TRUE : Logic.FALSE;
    case 'not': return Logic.not(toSat(f.arg));
    case 'and': return Logic.and(toSat(f.left), toSat(f.right));
    case 'or': return Logic.or(toSat(f.left), toSat(f.right));
    case 'xor': return Logic.xor(toSat(f.left), toSat(f.right));
    case 'implies': return Logic.implies(toSat(f.left), toSat(f.right));
    case 'iff': return Logic.equiv(toSat(f.left), toSat(f.right));
  }
}

/** Up to `limit` assignments (over `vars`) satisfying every formula; [] when unsatisfiable. */
function models(required: Operand[], vars: string[], limit: number): Array<Record<string, boolean>> {
  const solver = new Logic.Solver();
  for (const v of vars) solver.getVarNum(v); // every variable appears in the answer, constrained or not
  for (const r of required) solver.require(r);
  const found: Array<Record<string, boolean>> = [];
  for (let s = solver.solve(); s && found.length < limit; s = solver.solve()) {
    const map = s.getMap();
    found.push(Object.fromEntries(vars.map((v) => [v, map[v] ?? false])));
    solver.forbid(Logic.and(...vars.map((v): Operand => (map[v] ? v : Logic.not(v)))) as SatFormula);
  }
  return found;
}

const row = (m: Record<string, boolean>) => Object.entries(m).map(([k, v]) => `${k}=${v ? 'T' : 'F'}`).join(' ');
const listTrue = (m: Record<string, boolean>) => {
  const t = Object.keys(m).filter((k) => m[k]);
  const f = Object.keys(m).filter((k) => !m[k]);
  return `${t.length ? `${t.join(', ')} true` : ''}${t.length && f.length ? ' and ' : ''}${f.length ? `${f.join(', ')} false` : ''}`;
};

function parseAll(texts: string[]): Formula[] {
  return texts.map((t, i) => {
    try { return parseFormula(t); } catch (err) { throw new ToolRunError(`formula ${i + 1} (${JSON.stringify(t)}): ${(err as Error).message}`); }
  });
}

function truthTable(texts: string[]): ToolOutput {
  const fs = parseAll(texts);
  const vars = variables(...fs);
  if (vars.length > MAX_TABLE_VARIABLES) throw new ToolRunError(`${vars.length} variables make ${2 ** vars.length} rows; truth tables stop at ${MAX_TABLE_VARIABLES} variables (use valid/satisfiable instead)`);
  const rows: Array<{ assignment: Record<string, boolean>; values: boolean[] }> = [];
  for (let bits = 0; bits < 2 ** vars.length; bits++) {
    // First variable is the most significant bit, and rows start all-true (the textbook order).
    const assignment = Object.fromEntries(vars.map((v, i) => [v, !((bits >> (vars.length - 1 - i)) & 1)]));
    const env = new Map(Object.entries(assignment));
    rows.push({ assignment, values: fs.map((f) => evaluate(f, env)) });
  }
  const header = [...vars, ...texts.map((t) => `| ${t}`)].join(' ');
  const lines = rows.slice(0, SHOWN_ROWS).map((r) => [...vars.map((v) => (r.assignment[v] ? 'T' : 'F')), ...r.values.map((x) => `| ${x ? 'T' : 'F'}`)].join(' '));
  if (rows.length > SHOWN_ROWS) lines.push(`… ${rows.length - SHOWN_ROWS} more rows`);
  const summary = fs.map((_, i) => {
    const trues = rows.filter((r) => r.values[i]).length;
    return `formula ${i + 1}: ${trues === rows.length ? 'tautology' : trues === 0 ? 'contradiction' : 'contingent'} (true in ${trues} of ${rows.length} rows)`;
  });
  return { text: [header, ...lines, ...summary].join('\n'), data: { variables: vars, parsed: fs.map(show), rows } };
}

/** The logic tool itself (worker-side). */
export function runLogic(input: LogicInput): ToolOutput {
  switch (input.operation) {
    case 'truth_table': return truthTable(input.formulas ?? [input.formula!]);
    case 'valid': {
      const [f] = parseAll([input.formula!]);
      const counter = models([Logic.not(toSat(f))], variables(f), 1);
      return counter.length
        ? { text: `not valid: false when ${listTrue(counter[0])} (${row(counter[0])})`, data: { valid: false, counterexample: counter[0], parsed: show(f) } }
        : { text: `valid (a tautology): ${show(f)}`, data: { valid: true, parsed: show(f) } };
    }
    case 'satisfiable': {
      const fs = parseAll(input.formulas ?? [input.formula!]);
      const found = models(fs.map(toSat), variables(...fs), 1);
      return found.length
        ? { text: `satisfiable (consistent): true when ${listTrue(found[0])} (${row(found[0])})`, data: { satisfiable: true, model: found[0] } }
        : { text: 'unsatisfiable (inconsistent): no row makes them all true', data: { satisfiable: false } };
    }
    case 'argument': {
      const premises = parseAll(input.premises!);
      const [conclusion] = parseAll([input.conclusion!]);
      const vars = variables(...premises, conclusion);
      const counter = models([...premises.map(toSat), Logic.not(toSat(conclusion))], vars, MAX_COUNTEREXAMPLES);
      if (!counter.length) return { text: 'valid: no row makes every premise true and the conclusion false', data: { valid: true, counterexamples: [] } };
      const lines = counter.map((m) => `  counterexample: ${listTrue(m)}`);
      return { text: [`invalid (${counter.length}${counter.length === MAX_COUNTEREXAMPLES ? '+' : ''} counterexamples):`, ...lines].join('\n'), data: { valid: false, counterexamples: counter } };
    }
    case 'compare': {
      const [a, b] = parseAll(input.formulas!);
      const vars = variables(a, b);
      const sa = toSat(a);
      const sb = toSat(b);
      const equivalent = models([Logic.not(Logic.equiv(sa, sb))], vars, 1).length === 0;
      const contradictory = models([Logic.equiv(sa, sb)], vars, 1).length === 0;
      const bothTrue = models([sa, sb], vars, 1);
      const consistent = bothTrue.length > 0;
      const verdict = equivalent ? 'logically equivalent' : contradictory ? 'contradictory' : 'neither equivalent nor contradictory';
      const text = `${verdict}; ${consistent ? `consistent (both true when ${listTrue(bothTrue[0])})` : 'inconsistent (never both true)'}`;
      return { text, data: { equivalent, contradictory, consistent, parsed: [show(a), show(b)] } };
    }
  }
}

export const logicTool = defineTool<LogicInput>({
  name: 'logic',
  description: ACTION_DESCRIPTIONS.logic,
  input: logicInput,
  timeoutMs: 5_000,
  source: 'builtin',
  run: inWorker(import.meta.url, 'runLogic'),
});
