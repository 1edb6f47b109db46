/**
 * `finance`: time value of money, NPV/IRR, amortisation, elasticities, growth rates.
 *
 * Time value of money follows the spreadsheet convention (Excel/LibreOffice FV, PV, PMT, NPER, RATE;
 * OpenFormula, ISO/IEC 26300-2 §6.12): cash paid out is negative, received is positive, and
 *     pv·(1+r)^n + pmt·(1+r·due)·((1+r)^n − 1)/r + fv = 0        (r ≠ 0)
 *     pv + pmt·n + fv = 0                                         (r = 0)
 * `rate` is per period (0.05 = 5 %); `due` = payments at the start of each period. NPV here takes the
 * first cash flow at t = 0 (textbook NPV, unlike the spreadsheet NPV function, which discounts it).
 * Elasticity: arc (midpoint) and point formulas. Runs in a worker thread (see isolate.ts).
 */
import { z } from 'zod';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';
import { defineTool, formatNumber, inWorker, ToolRunError, type ToolOutput } from './tool.js';

const rate = z.number().gt(-1).lt(100).describe('interest rate per period as a decimal (0.05 = 5 %)');
const periods = z.number().positive().max(10_000).describe('number of periods');
const money = z.number().finite();
const cashflows = z.array(money).min(2).max(1_000).describe('cash flows per period, the first at t = 0 (investments negative)');

/** Rows of an amortisation schedule kept in the structured data. */
const MAX_SCHEDULE_ROWS = 1_000;

export const financeInput = z.discriminatedUnion('operation', [
  z.object({ operation: z.literal('fv'), rate, periods, pv: money.default(0), pmt: money.default(0), due: z.boolean().default(false) }).strict()
    .describe('future value'),
  z.object({ operation: z.literal('pv'), rate, periods, fv: money.default(0), pmt: money.default(0), due: z.boolean().default(false) }).strict()
    .describe('present value'),
  z.object({ operation: z.literal('pmt'), rate, periods, pv: money.default(0), fv: money.default(0), due: z.boolean().default(false) }).strict()
    .describe('payment per period'),
  z.object({ operation: z.literal('nper'), rate, pmt: money, pv: money.default(0), fv: money.default(0), due: z.boolean().default(false) }).strict()
    .describe('number of periods'),
  z.object({ operation: z.literal('rate'), periods, pmt: money.default(0), pv: money, fv: money.default(0), due: z.boolean().default(false) }).strict()
    .describe('interest rate per period'),
  z.object({ operation: z.literal('npv'), rate, cashflows }).strict().describe('net present value'),
  z.object({ operation: z.literal('irr'), cashflows }).strict().describe('internal rate of return'),
  z.object({ operation: z.literal('amortization'), principal: z.number().positive(), rate, periods: z.number().int().positive().max(10_000) }).strict()
    .describe('level-payment loan schedule'),
  z.object({ operation: z.literal('elasticity'), method: z.enum(['arc', 'point']).default('arc'),
    q1: z.number(), q2: z.number().optional(), p1: z.number(), p2: z.number().optional(),
    slope: z.number().optional().describe('point: dQ/dP at (p1, q1)') }).strict()
    .describe('price (or income, cross) elasticity: arc uses (q1,p1)→(q2,p2) midpoints; point uses slope·p1/q1'),
  z.object({ operation: z.literal('cagr'), begin: z.number().positive(), end: z.number().positive(), years: z.number().positive() }).strict()
    .describe('compound annual growth rate'),
  z.object({ operation: z.literal('growth'), begin: z.number().refine((x) => x !== 0, 'must not be 0'), end: z.number() }).strict()
    .describe('simple growth rate (end − begin) / begin'),
  z.object({ operation: z.literal('effective_rate'), nominal: z.number().gt(-1), compounding: z.union([z.number().int().positive(), z.literal('continuous')]) }).strict()
    .describe('effective annual rate of a nominal rate compounded m times a year (or continuously)'),
]);
export type FinanceInput = z.infer<typeof financeInput>;

const pct = (x: number) => `${formatNumber(100 * x, 8)} %`;
const amount = (x: number) => formatNumber(Math.round(x * 1e6) / 1e6, 12);

/** Growth factor (1+r)^n and the annuity factor (1+r·due)·((1+r)^n − 1)/r (n when r = 0). */
function factors(r: number, n: number, due: boolean): { g: number; a: number } {
  const g = (1 + r) ** n;
  return { g, a: r === 0 ? n : ((1 + r * (due ? 1 : 0)) * (g - 1)) / r };
}

export function fv(r: number, n: number, pmt: number, pv: number, due = false): number {
  const { g, a } = factors(r, n, due);
  return -(pv * g + pmt * a);
}
export function pv(r: number, n: number, pmt: number, fvValue: number, due = false): number {
  const { g, a } = factors(r, n, due);
  return -(fvValue + pmt * a) / g;
}
export function pmt(r: number, n: number, pvValue: number, fvValue: number, due = false): number {
  const { g, a } = factors(r, n, due);
  return -(fvValue + pvValue * g) / a;
}
export function nper(r: number, payment: number, pvValue: number, fvValue: number, due = false): number {
  if (r === 0) return -(pvValue + fvValue) / payment;
  const p = payment * (1 + r * (due ? 1 : 0));
  const n = Math.log((p - fvValue * r) / (p + pvValue * r)) / Math.log(1 + r);
  if (!Number.isFinite(n)) throw new ToolRunError('no number of periods solves this (check the signs: money paid out is negative)');
  return n;
}

/** NPV with the first cash flow at t = 0. */
export function npv(r: number, flows: readonly number[]): number {
  return flows.reduce((s, cf, t) => s + cf / (1 + r) ** t, 0);
}

/**
 * A root of f on (-0.9999, 99): look for a sign change on a grid of intervals, nearest to 0 first, then
 * bisect (robust where Newton diverges; with several sign changes the root nearest 0 is returned).
 */
function findRate(f: (r: number) => number, what: string): number {
  const grid = [-0.9999, -0.99, -0.9, -0.75, -0.5, -0.35, -0.2, -0.1, -0.05, -0.01, 0, 0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 25, 50, 99];
  const intervals = grid.slice(1).map((hi, k) => [grid[k], hi] as const)
    .sort((x, y) => Math.abs(x[0] + x[1]) - Math.abs(y[0] + y[1]));
  for (const [a, b] of intervals) {
    let lo = a;
    let hi = b;
    let flo = f(lo);
    const fhi = f(hi);
    if (flo === 0) return lo;
    if (fhi === 0) return hi;
    if (Math.sign(flo) === Math.sign(fhi)) continue;
    for (let k = 0; k < 200 && hi - lo > 1e-14; k++) {
      const mid = (lo + hi) / 2;
      const fm = f(mid);
      if (Math.sign(fm) === Math.sign(flo)) { lo = mid; flo = fm; } else hi = mid;
    }
    return (lo + hi) / 2;
  }
  throw new ToolRunError(`no ${what} between -99.99 % and 9900 % solves this (the cash flows need a sign change)`);
}

export function irr(flows: readonly number[]): number {
  return findRate((r) => npv(r, flows), 'IRR');
}

function elasticity(i: Extract<FinanceInput, { operation: 'elasticity' }>): ToolOutput {
  let e: number;
  if (i.method === 'point') {
    if (i.slope === undefined) throw new ToolRunError('point elasticity needs slope (dQ/dP) with p1 and q1');
    e = (i.slope * i.p1) / i.q1;
  } else {
    if (i.q2 === undefined || i.p2 === undefined) throw new ToolRunError('arc elasticity needs q1, q2, p1, p2');
    const dq = (i.q2 - i.q1) / ((i.q1 + i.q2) / 2);
    const dp = (i.p2 - i.p1) / ((i.p1 + i.p2) / 2);
    if (dp === 0) throw new ToolRunError('p1 equals p2: elasticity is undefined');
    e = dq / dp;
  }
  const mag = Math.abs(e);
  const kind = mag > 1 ? 'elastic' : mag < 1 ? 'inelastic' : 'unit elastic';
  return { text: `${i.method} elasticity = ${formatNumber(e, 8)} (|e| ${mag > 1 ? '>' : mag < 1 ? '<' : '='} 1: ${kind})`, data: { elasticity: e, classification: kind } };
}

function amortization(principal: number, r: number, n: number): ToolOutput {
  const payment = -pmt(r, n, principal, 0);
  const rows: Array<{ period: number; payment: number; interest: number; principal: number; balance: number }> = [];
  let balance = principal;
  let totalInterest = 0;
  for (let t = 1; t <= n; t++) {
    const interest = balance * r;
    const toPrincipal = payment - interest;
    balance = Math.abs(balance - toPrincipal) < 1e-9 ? 0 : balance - toPrincipal;
    totalInterest += interest;
    if (rows.length < MAX_SCHEDULE_ROWS) rows.push({ period: t, payment, interest, principal: toPrincipal, balance });
  }
  const line = (x: (typeof rows)[number]) => `  ${x.period}: interest ${amount(x.interest)}, principal ${amount(x.principal)}, balance ${amount(x.balance)}`;
  const shown = rows.length <= 8 ? rows.map(line) : [...rows.slice(0, 4).map(line), '  …', ...rows.slice(-3).map(line)];
  return {
    text: [`payment per period = ${amount(payment)}; total paid ${amount(payment * n)}; total interest ${amount(totalInterest)}`, ...shown].join('\n'),
    data: { payment, totalPaid: payment * n, totalInterest, schedule: rows },
  };
}

/** The finance tool itself (worker-side). */
export function runFinance(i: FinanceInput): ToolOutput {
  switch (i.operation) {
    case 'fv': { const v = fv(i.rate, i.periods, i.pmt, i.pv, i.due); return { text: `FV = ${amount(v)}`, data: { fv: v } }; }
    case 'pv': { const v = pv(i.rate, i.periods, i.pmt, i.fv, i.due); return { text: `PV = ${amount(v)}`, data: { pv: v } }; }
    case 'pmt': { const v = pmt(i.rate, i.periods, i.pv, i.fv, i.due); return { text: `PMT = ${amount(v)} per period`, data: { pmt: v } }; }
    case 'nper': { const v = nper(i.rate, i.pmt, i.pv, i.fv, i.due); return { text: `NPER = ${formatNumber(v, 8)} periods`, data: { nper: v } }; }
    case 'rate': {
      const v = findRate((r) => -fv(r, i.periods, i.pmt, i.pv, i.due) - i.fv, 'rate');
      return { text: `rate = ${pct(v)} per period`, data: { rate: v } };
    }
    case 'npv': { const v = npv(i.rate, i.cashflows); return { text: `NPV at ${pct(i.rate)} = ${amount(v)}`, data: { npv: v } }; }
    case 'irr': { const v = irr(i.cashflows); return { text: `IRR = ${pct(v)}`, data: { irr: v } }; }
    case 'amortization': return amortization(i.principal, i.rate, i.periods);
    case 'elasticity': return elasticity(i);
    case 'cagr': { const v = (i.end / i.begin) ** (1 / i.years) - 1; return { text: `CAGR = ${pct(v)} per year`, data: { cagr: v } }; }
    case 'growth': { const v = (i.end - i.begin) / i.begin; return { text: `growth = ${pct(v)}`, data: { growth: v } }; }
    case 'effective_rate': {
      const v = i.compounding === 'continuous' ? Math.exp(i.nominal) - 1 : (1 + i.nominal / i.compounding) ** i.compounding - 1;
      return { text: `effective annual rate = ${pct(v)}`, data: { effectiveRate: v } };
    }
  }
}

export const financeTool = defineTool<FinanceInput>({
  name: 'finance',
  description: ACTION_DESCRIPTIONS.finance,
  input: financeInput,
  timeoutMs: 5_000,
  source: 'builtin',
  run: inWorker(import.meta.url, 'runFinance'),
});
