/**
 * `unit_converter`: unit conversion (mathjs units, https://mathjs.org/docs/datatypes/units.html) and the
 * CODATA 2018 physical constants of constants.ts, three ways:
 *   {"value": 3, "from": "km/h", "to": "m/s"}              convert
 *   {"constant": "electron mass"}                          look up (value, unit, uncertainty, source)
 *   {"expression": "h_P * c / (500 nm) to eV"}             evaluate with units and constants
 * Units mathjs lacks but MMLU-Pro questions use (calorie, dalton, light year, curie, gauss, ...) are
 * added with their defining values. Runs in a worker thread (see isolate.ts).
 */
import { all, create, type MathJsInstance, type Unit } from 'mathjs';
import { z } from 'zod';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';
import { CODATA_2018, findConstant, type PhysicalConstant } from './constants.js';
import { defineTool, formatNumber, inWorker, ToolRunError, type ToolOutput } from './tool.js';

const CODATA_SOURCE = 'CODATA 2018 (Tiesinga et al., Rev. Mod. Phys. 93, 025010 (2021))';

/** Units added to mathjs: name → definition (exact by definition unless noted). */
const EXTRA_UNITS: Record<string, string> = {
  cal: '4.184 J', // thermochemical calorie
  kcal: '4184 J',
  Cal: '4184 J', // food calorie
  u: '1.66053906660e-27 kg', // CODATA 2018 atomic mass constant
  Da: '1.66053906660e-27 kg',
  amu: '1.66053906660e-27 kg',
  ly: '9460730472580800 m', // IAU light year (Julian year × c)
  lightyear: '9460730472580800 m',
  au: '149597870700 m', // IAU 2012 astronomical unit
  pc: '3.0856775814913673e16 m', // parsec = au / tan(1")
  Bq: '1 Hz',
  Ci: '3.7e10 Hz',
  Gy: '1 J/kg',
  Sv: '1 J/kg',
  gauss: '1e-4 T',
  dyne: '1e-5 N',
  erg: '1e-7 J',
};

/** How people write units → how mathjs spells them. */
const UNIT_ALIASES: Array<[RegExp, string]> = [
  [/°\s*C\b|\bcelsius\b|\bdegrees? C\b/gi, 'degC'],
  [/°\s*F\b|\bfahrenheit\b|\bdegrees? F\b/gi, 'degF'],
  [/\bkelvins?\b/gi, 'K'],
  [/Å/g, 'angstrom'],
  [/µ|μ/g, 'u'],
  [/\bmph\b/g, 'mi/h'],
  [/\bkph\b/g, 'km/h'],
  [/·/g, ' '],
];

function normaliseUnit(text: string): string {
  return UNIT_ALIASES.reduce((s, [re, to]) => s.replace(re, to), text.trim());
}

let math: MathJsInstance | undefined;
let scope: Map<string, unknown> | undefined;

function instance(): { math: MathJsInstance; scope: Map<string, unknown> } {
  if (!math || !scope) {
    const m = create(all);
    for (const [name, definition] of Object.entries(EXTRA_UNITS)) {
      if (!m.Unit.isValuelessUnit(name)) m.createUnit(name, definition);
    }
    // Constants whose symbol is also a unit (h = hour, F = farad) are reachable as h_P, F_const, ...
    const s = new Map<string, unknown>();
    for (const c of CODATA_2018) s.set(expressionSymbol(m, c), c.unit ? m.unit(c.value, c.unit) : c.value);
    math = m;
    scope = s;
  }
  return { math, scope };
}

/** The name of a constant in expressions: its symbol, unless mathjs already uses it for a unit. */
function expressionSymbol(m: MathJsInstance, c: PhysicalConstant): string {
  if (!m.Unit.isValuelessUnit(c.symbol)) return c.symbol;
  return { h: 'h_P', hbar: 'hbar_P', F: 'F_const', eV: 'eV_J' }[c.symbol] ?? `${c.symbol}_const`;
}

export const unitConverterInput = z.object({
  value: z.number().optional().describe('convert: the quantity to convert'),
  from: z.string().min(1).max(100).optional().describe('convert: its unit, e.g. "km/h", "degC", "atm", "kcal/mol"'),
  to: z.string().min(1).max(100).optional().describe('convert: the unit wanted'),
  constant: z.string().min(1).max(100).optional().describe('look up a physical constant by name or symbol, e.g. "Planck constant", "N_A"'),
  expression: z.string().min(1).max(1_000).optional()
    .describe('evaluate an expression with units and CODATA constants (c, h_P, hbar_P, e_charge, k_B, N_A, R, F_const, G, m_e, m_p, ...), e.g. "h_P * c / (500 nm) to eV"'),
}).strict().superRefine((v, ctx) => {
  const modes = [v.from !== undefined || v.to !== undefined || v.value !== undefined, v.constant !== undefined, v.expression !== undefined].filter(Boolean).length;
  if (modes !== 1) ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of: value+from+to (convert), constant (look up), expression (evaluate)' });
  else if (v.constant === undefined && v.expression === undefined) {
    for (const f of ['value', 'from', 'to'] as const) if (v[f] === undefined) ctx.addIssue({ code: 'custom', path: [f], message: 'required to convert' });
  }
});
export type UnitConverterInput = z.infer<typeof unitConverterInput>;

function show(m: MathJsInstance, x: unknown): { text: string; value: number | null; unit: string } {
  if (m.typeOf(x) === 'Unit') {
    const u = x as Unit;
    const value = Number(u.toNumber().toPrecision(15)); // 5.499999999999999 → 5.5: float noise off, precision kept
    const unit = u.formatUnits();
    return { text: `${formatNumber(value)} ${unit}`.trim(), value, unit };
  }
  if (typeof x === 'number') return { text: formatNumber(x), value: x, unit: '' };
  return { text: m.format(x, { precision: 10 }), value: null, unit: '' };
}

/** The converter itself (worker-side). */
export function convertUnits(input: UnitConverterInput): ToolOutput {
  const { math: m, scope: s } = instance();
  if (input.constant !== undefined) {
    const c = findConstant(input.constant);
    if (!c) throw new ToolRunError(`no constant matches ${JSON.stringify(input.constant)}; known: ${CODATA_2018.map((k) => k.name).join(', ')}`);
    const uncertainty = c.uncertainty === 0 ? 'exact' : `± ${c.uncertainty} ${c.unit}`.trim();
    return {
      text: `${c.name} (${expressionSymbol(m, c)}) = ${c.value} ${c.unit} (${uncertainty}; ${CODATA_SOURCE})`.replace('  ', ' '),
      data: { ...c, expressionSymbol: expressionSymbol(m, c), source: CODATA_SOURCE },
    };
  }
  try {
    if (input.expression !== undefined) {
      const r = show(m, m.evaluate(normaliseUnit(input.expression), new Map(s)));
      return { text: r.text, data: r };
    }
    const from = normaliseUnit(input.from!);
    const to = normaliseUnit(input.to!);
    const converted = m.unit(input.value!, from).to(to);
    const r = show(m, converted);
    return { text: `${formatNumber(input.value!)} ${from} = ${r.text}`, data: r };
  } catch (err) {
    throw new ToolRunError(`cannot convert: ${(err as Error).message}`);
  }
}

export const unitConverterTool = defineTool<UnitConverterInput>({
  name: 'unit_converter',
  description: ACTION_DESCRIPTIONS.unit_converter,
  input: unitConverterInput,
  timeoutMs: 5_000,
  source: 'builtin',
  run: inWorker(import.meta.url, 'convertUnits'),
});
