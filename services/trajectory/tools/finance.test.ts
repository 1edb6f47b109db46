/**
 * Finance on MMLU-Pro inputs: NPV (question_id 5913), PV of a single sum (695) and of a deferred annuity
 * (446), FV with semiannual compounding (377), arc elasticity (7346), plus the identities that tie
 * FV/PV/PMT/NPER/RATE together and an amortisation schedule that ends at zero.
 */
import { describe, expect, it } from 'vitest';
import { financeInput, fv, irr, nper, npv, pmt, pv, runFinance } from './finance.js';

const fin = (input: unknown) => runFinance(financeInput.parse(input));
const value = (input: unknown, key: string) => (fin(input).data as Record<string, number>)[key];

describe('finance (MMLU-Pro)', () => {
  it('question_id 5913: NPV of -11,000 then 3,000 a year for 5 years at 10 % is $370 (option H)', () => {
    const out = fin({ operation: 'npv', rate: 0.1, cashflows: [-11_000, 3_000, 3_000, 3_000, 3_000, 3_000] });
    expect(out.text).toBe('NPV at 10 % = 372.360308');
    expect(Math.round(value({ operation: 'npv', rate: 0.1, cashflows: [-11_000, 3_000, 3_000, 3_000, 3_000, 3_000] }, 'npv') / 10) * 10).toBe(370);
  });

  it('question_id 695: $100 in 5 years at 5 % is worth 78.3526 today (option A)', () => {
    expect(value({ operation: 'pv', rate: 0.05, periods: 5, fv: 100 }, 'pv')).toBeCloseTo(-78.3526, 4);
  });

  it('question_id 446: three $1,000 payments from the end of year 5 at 7 % are worth 2002.0781 (option G)', () => {
    expect(value({ operation: 'npv', rate: 0.07, cashflows: [0, 0, 0, 0, 0, 1_000, 1_000, 1_000] }, 'npv')).toBeCloseTo(2002.0781, 4);
  });

  it('question_id 377: $200 at 4 % compounded semiannually for 2 years grows to $216.49 (option E)', () => {
    expect(value({ operation: 'fv', rate: 0.04 / 2, periods: 4, pv: -200 }, 'fv').toFixed(2)).toBe('216.49');
  });

  it('question_id 7346: 500 → 1,000 frisbees with elasticity -3 (midpoints) means a $4 price (option C)', () => {
    const out = fin({ operation: 'elasticity', method: 'arc', q1: 500, q2: 1_000, p1: 5, p2: 4 });
    expect((out.data as { elasticity: number }).elasticity).toBeCloseTo(-3, 10);
    expect(out.text).toContain('elastic');
  });
});

describe('time value of money identities', () => {
  it('matches the spreadsheet convention (a 30-year $200,000 mortgage at 6 %/12)', () => {
    const payment = pmt(0.005, 360, 200_000, 0);
    expect(payment).toBeCloseTo(-1199.1010503, 6);
    expect(pv(0.005, 360, payment, 0)).toBeCloseTo(200_000, 6);
    expect(nper(0.005, payment, 200_000, 0)).toBeCloseTo(360, 8);
    expect(fv(0.005, 360, payment, 200_000)).toBeCloseTo(0, 6);
    expect(value({ operation: 'rate', periods: 360, pmt: payment, pv: 200_000 }, 'rate')).toBeCloseTo(0.005, 10);
    expect(fv(0, 10, -100, 0)).toBe(1_000);
    expect(pmt(0.01, 12, 1_000, 0, true)).toBeCloseTo(pmt(0.01, 12, 1_000, 0) / 1.01, 10);
  });

  it('finds the IRR where NPV is zero, and says when there is none', () => {
    const flows = [-1_000, 300, 400, 500];
    const r = irr(flows);
    expect(npv(r, flows)).toBeCloseTo(0, 8);
    expect(r).toBeCloseTo(0.0889633947, 8);
    expect(() => fin({ operation: 'irr', cashflows: [100, 200] })).toThrow(/sign change/);
  });

  it('builds an amortisation schedule that pays the loan off', () => {
    const out = fin({ operation: 'amortization', principal: 10_000, rate: 0.01, periods: 12 });
    const data = out.data as { payment: number; totalInterest: number; schedule: Array<{ principal: number; balance: number }> };
    expect(data.schedule).toHaveLength(12);
    expect(data.schedule.at(-1)!.balance).toBe(0);
    expect(data.schedule.reduce((s, r) => s + r.principal, 0)).toBeCloseTo(10_000, 8);
    expect(data.payment).toBeCloseTo(888.4878868, 6);
    expect(out.text).toMatch(/^payment per period = 888\.487887/);
  });

  it('computes CAGR, growth and effective rates', () => {
    expect(value({ operation: 'cagr', begin: 100, end: 200, years: 10 }, 'cagr')).toBeCloseTo(2 ** 0.1 - 1, 12);
    expect(value({ operation: 'growth', begin: 80, end: 100 }, 'growth')).toBe(0.25);
    expect(value({ operation: 'effective_rate', nominal: 0.12, compounding: 12 }, 'effectiveRate')).toBeCloseTo(0.126825, 6);
    expect(value({ operation: 'effective_rate', nominal: 0.1, compounding: 'continuous' }, 'effectiveRate')).toBeCloseTo(Math.exp(0.1) - 1, 12);
  });

  it('names the missing or wrong field', () => {
    const r = financeInput.safeParse({ operation: 'npv', rate: 0.1 });
    expect(r.error?.issues[0]?.path).toEqual(['cashflows']);
    const bad = financeInput.safeParse({ operation: 'depreciation' });
    expect(bad.success).toBe(false);
  });
});
