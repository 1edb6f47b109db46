/**
 * Chemistry on MMLU-Pro inputs: molar masses (question_id 3757 nitroglycerin, 3952 iron(III) sulfate and
 * barium chloride), equation balancing (3952, 4059 with the reactant coefficients the question fixes),
 * a charged half-reaction (3805: bromate → bromine), plus the periodic table itself.
 */
import { describe, expect, it } from 'vitest';
import { balanceEquation } from './balance.js';
import { chemistryInput, runChemistry } from './chemistry.js';
import { ELEMENTS, findElement } from './elements.js';
import { FormulaError, hillFormula, parseFormula } from './formula.js';

const chem = (input: unknown) => runChemistry(chemistryInput.parse(input));
const molar = (formula: string) => (chem({ operation: 'molar_mass', formula }).data as { molarMass: number }).molarMass;

describe('periodic table', () => {
  it('has 118 elements in order with IUPAC names and CIAAW weights', () => {
    expect(ELEMENTS).toHaveLength(118);
    expect(ELEMENTS.map((e) => e.number)).toEqual([...Array(118).keys()].map((i) => i + 1));
    expect(new Set(ELEMENTS.map((e) => e.symbol)).size).toBe(118);
    expect(findElement('Fe')).toMatchObject({ number: 26, name: 'Iron', atomicWeight: 55.845, period: 4, group: 8, block: 'd' });
    expect(findElement('aluminum')?.symbol).toBe('Al');
    expect(findElement(92)).toMatchObject({ symbol: 'U', atomicWeight: 238.02891, group: null, block: 'f' });
    expect(findElement('Tc')).toMatchObject({ atomicWeight: 97, radioactiveMassNumber: true });
    expect(findElement('Og')).toMatchObject({ number: 118, period: 7, group: 18, block: 'p' });
    expect(findElement('La')).toMatchObject({ group: 3, period: 6 });
    // Weights increase with Z except at the known inversions (Ar/K, Co/Ni, Te/I, Th/Pa, U/Np, ...).
    const inversions = ELEMENTS.slice(1).filter((e, i) => e.atomicWeight < ELEMENTS[i].atomicWeight).map((e) => e.symbol);
    expect(inversions).toEqual(expect.arrayContaining(['K', 'Ni', 'I', 'Pa']));
  });

  it('answers element questions as text', () => {
    expect(chem({ operation: 'element', element: 'sodium' }).text).toBe('Sodium (Na), atomic number 11, atomic weight 22.98976928 g/mol, period 3, group 1, s-block');
  });
});

describe('formula parser', () => {
  it('reads parentheses, brackets, hydrates and charges', () => {
    expect(Object.fromEntries(parseFormula('C3H5(NO3)3').atoms)).toEqual({ C: 3, H: 5, N: 3, O: 9 });
    expect(Object.fromEntries(parseFormula('K4[Fe(CN)6]').atoms)).toEqual({ K: 4, Fe: 1, C: 6, N: 6 });
    expect(Object.fromEntries(parseFormula('CuSO4·5H2O').atoms)).toEqual({ Cu: 1, S: 1, O: 9, H: 10 });
    expect(parseFormula('SO4^2-')).toMatchObject({ charge: -2 });
    expect(parseFormula('NH4^+(aq)')).toMatchObject({ charge: 1 });
    expect(hillFormula(parseFormula('CH3COOH').atoms)).toBe('C2H4O2');
  });

  it('reports what is wrong', () => {
    expect(() => parseFormula('Xy2')).toThrow(FormulaError);
    expect(() => parseFormula('Ca(OH2')).toThrow(/missing "\)"/);
    expect(() => parseFormula('NaCl)')).toThrow(/unbalanced/);
  });
});

describe('molar mass (MMLU-Pro)', () => {
  it('question_id 3757: nitroglycerin C3H5(NO3)3 is 227 g/mol', () => {
    expect(molar('C3H5(NO3)3')).toBeCloseTo(227.085, 2);
  });

  it('question_id 3952: 10 g of Fe2(SO4)3 needs 15.62 g of BaCl2 (option H)', () => {
    const balanced = balanceEquation('Fe2(SO4)3 + BaCl2 -> BaSO4 + FeCl3');
    expect(balanced.equation).toBe('Fe2(SO4)3 + 3BaCl2 -> 3BaSO4 + 2FeCl3');
    const grams = (10 / molar('Fe2(SO4)3')) * 3 * molar('BaCl2');
    expect(grams.toFixed(2)).toBe('15.62');
  });

  it('converts grams to moles and shows the composition', () => {
    const out = chem({ operation: 'molar_mass', formula: 'H2O', grams: 36.03 });
    expect(out.text).toContain('molar mass of H2O (H2O) = 18.015 g/mol');
    expect((out.data as { moles: number }).moles).toBeCloseTo(2, 3);
    expect(out.text).toMatch(/O: 1 × 15.999 = 15.999 g\/mol \(88\.81 %\)/);
  });
});

describe('equation balancing', () => {
  it('balances a redox equation', () => {
    expect(balanceEquation('KMnO4 + HCl -> KCl + MnCl2 + H2O + Cl2').equation).toBe('2KMnO4 + 16HCl -> 2KCl + 2MnCl2 + 8H2O + 5Cl2');
  });

  it('question_id 4059: the flare equation, with the reactant coefficients the question gives (option I)', () => {
    expect(() => balanceEquation('Sr(NO3)2 + C + S -> SrO + N2 + CO2 + SO2')).toThrow(/not unique/);
    expect(balanceEquation('2Sr(NO3)2 + 3C + 2S -> SrO + N2 + CO2 + SO2').equation).toBe('2Sr(NO3)2 + 3C + 2S -> 2SrO + 2N2 + 3CO2 + 2SO2');
  });

  it('question_id 3805: bromate to bromine in acid takes 10 electrons on the left (option D)', () => {
    const r = balanceEquation('BrO3^- + H^+ + e^- -> Br2 + H2O');
    expect(r.equation).toBe('2BrO3^- + 12H^+ + 10e^- -> Br2 + 6H2O');
  });

  it('refuses what cannot be balanced, naming why', () => {
    expect(() => balanceEquation('H2 + O2 -> NaCl')).toThrow(/appears only on/);
    expect(() => balanceEquation('2H2 + 2O2 -> 2H2O')).toThrow(/coefficients given/);
    expect(() => chem({ operation: 'balance', equation: 'H2 O2 H2O' })).toThrow(/one arrow/);
  });

  it('validates input fields by operation', () => {
    const r = chemistryInput.safeParse({ operation: 'molar_mass' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]).toMatchObject({ path: ['formula'] });
  });
});
