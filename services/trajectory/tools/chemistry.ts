/**
 * `chemistry`: periodic-table data (elements.ts, CIAAW weights), molar mass and mass composition of a
 * formula (formula.ts: parentheses, brackets, hydrates, ions), gram ↔ mole conversion, and equation
 * balancing (balance.ts: exact null space). Runs in a worker thread (see isolate.ts).
 */
import { z } from 'zod';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';
import { balanceEquation } from './balance.js';
import { ELEMENTS, elementBySymbol, findElement } from './elements.js';
import { hillFormula, parseFormula } from './formula.js';
import { defineTool, formatNumber, inWorker, ToolRunError, type ToolOutput } from './tool.js';

export const CHEMISTRY_OPERATIONS = ['element', 'molar_mass', 'balance'] as const;

export const chemistryInput = z.object({
  operation: z.enum(CHEMISTRY_OPERATIONS).describe('element: periodic-table data; molar_mass: molar mass and composition; balance: balance an equation'),
  element: z.union([z.string().min(1).max(30), z.number().int().min(1).max(118)]).optional()
    .describe('element: symbol, name or atomic number'),
  formula: z.string().min(1).max(200).optional().describe('molar_mass: e.g. "C6H12O6", "Ca(OH)2", "CuSO4·5H2O", "SO4^2-"'),
  grams: z.number().positive().optional().describe('molar_mass: also convert this mass to moles'),
  moles: z.number().positive().optional().describe('molar_mass: also convert this amount to grams'),
  equation: z.string().min(3).max(500).optional().describe('balance: e.g. "Fe + O2 -> Fe2O3" (species separated by " + ")'),
}).strict().superRefine((v, ctx) => {
  const needs = { element: 'element', molar_mass: 'formula', balance: 'equation' } as const;
  const field = needs[v.operation];
  if (v[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: `required for operation ${v.operation}` });
});
export type ChemistryInput = z.infer<typeof chemistryInput>;

function describeElement(query: string | number): ToolOutput {
  const el = findElement(query);
  if (!el) throw new ToolRunError(`no element ${JSON.stringify(query)}; give a symbol (Fe), a name (iron) or a number 1..${ELEMENTS.length}`);
  const weight = el.radioactiveMassNumber ? `[${el.atomicWeight}] (mass number of the longest-lived isotope)` : `${el.atomicWeight} g/mol`;
  const where = `period ${el.period}, ${el.group === null ? 'f-block (no group)' : `group ${el.group}, ${el.block}-block`}`;
  return { text: `${el.name} (${el.symbol}), atomic number ${el.number}, atomic weight ${weight}, ${where}`, data: el };
}

function molarMass(formula: string, grams?: number, moles?: number): ToolOutput {
  const parsed = parseFormula(formula);
  const parts = [...parsed.atoms].map(([symbol, count]) => {
    const el = elementBySymbol(symbol)!;
    return { symbol, count, atomicWeight: el.atomicWeight, mass: count * el.atomicWeight, radioactive: el.radioactiveMassNumber };
  });
  const total = parts.reduce((s, p) => s + p.mass, 0);
  const composition = parts.map((p) => ({ ...p, massPercent: (100 * p.mass) / total }));
  const lines = [
    `molar mass of ${formula} (${hillFormula(parsed.atoms)}) = ${formatNumber(total, 8)} g/mol`,
    ...composition.map((p) => `  ${p.symbol}: ${p.count} × ${p.atomicWeight} = ${formatNumber(p.mass, 8)} g/mol (${p.massPercent.toFixed(2)} %)`),
  ];
  const data: Record<string, unknown> = { formula, hill: hillFormula(parsed.atoms), molarMass: total, charge: parsed.charge, composition };
  if (grams !== undefined) { data.moles = grams / total; lines.push(`${grams} g = ${formatNumber(grams / total, 8)} mol`); }
  if (moles !== undefined) { data.grams = moles * total; lines.push(`${moles} mol = ${formatNumber(moles * total, 8)} g`); }
  if (parts.some((p) => p.radioactive)) lines.push('(bracketed elements use the mass number of their longest-lived isotope)');
  return { text: lines.join('\n'), data };
}

/** The chemistry tool itself (worker-side). */
export function runChemistry(input: ChemistryInput): ToolOutput {
  try {
    if (input.operation === 'element') return describeElement(input.element!);
    if (input.operation === 'molar_mass') return molarMass(input.formula!, input.grams, input.moles);
    const balanced = balanceEquation(input.equation!);
    return { text: balanced.equation, data: balanced };
  } catch (err) {
    if (err instanceof ToolRunError) throw err;
    throw new ToolRunError((err as Error).message);
  }
}

export const chemistryTool = defineTool<ChemistryInput>({
  name: 'chemistry',
  description: ACTION_DESCRIPTIONS.chemistry,
  input: chemistryInput,
  timeoutMs: 5_000,
  source: 'builtin',
  run: inWorker(import.meta.url, 'runChemistry'),
});
