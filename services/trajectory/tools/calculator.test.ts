/**
 * Calculator and unit converter on MMLU-Pro inputs: a car paid in 35 months (question_id 100), the
 * reciprocal-root sum of 2x²+15x+16 (9020), 68 °F in °C (9072), 30 mph in 8 s in ft/s² (9095), a bullet's
 * kinetic energy in ergs (9390), a kilogram's rest energy lighting a bulb (9494) and photons from a
 * falling gram (9074), the last two with CODATA 2018 constants.
 */
import { describe, expect, it } from 'vitest';
import { calculate, calculatorInput } from './calculator.js';
import { CODATA_2018, findConstant } from './constants.js';
import { convertUnits, unitConverterInput } from './unit-converter.js';

const calc = (expression: string) => calculate(calculatorInput.parse({ expression }));
const units = (input: unknown) => convertUnits(unitConverterInput.parse(input));
const quantity = (input: unknown) => units(input).data as { value: number; unit: string };

describe('calculator', () => {
  it('question_id 100: $3,462.20 over 35 months is $98.92 a month (option E)', () => {
    const out = calc('3462.20 / 35');
    expect(out.text).toBe('2473/25 ≈ 98.92');
    expect(out.data).toEqual({ exact: '2473/25', decimal: '98.92' });
  });

  it('question_id 9020: 1/m + 1/n = -(15/2)/(16/2) = -15/16 exactly (option G, -0.9375)', () => {
    expect(calc('-(15/2) / (16/2)').text).toBe('-15/16 ≈ -0.9375');
  });

  it('keeps big integers and fractions exact, and gives decimals for irrational results', () => {
    expect(calc('2^100').text).toBe('1267650600228229401496703205376 ≈ 1.26765060022822940149670320538e+30');
    expect(calc('1/3 + 1/6').text).toBe('1/2 ≈ 0.5');
    expect(calc('sqrt(2)').text).toBe('1.41421356237309504880168872421');
    expect(calc('x = 3; y = x^2; y + 1').text).toBe('10');
    expect(calc('20!').data).toMatchObject({ decimal: '2432902008176640000' });
  });

  it('reports what it cannot evaluate, and refuses to redefine itself', () => {
    expect(() => calc('2 +* 3')).toThrow(/cannot evaluate/);
    expect(() => calc('import({pi: 3})')).toThrow(/disabled/);
    expect(calc('pi').text).toBe('3.14159265358979323846264338328');
  });
});

describe('unit converter', () => {
  it('question_id 9072: 68 °F is 20 °C (option F)', () => {
    expect(quantity({ value: 68, from: '°F', to: 'celsius' }).value).toBeCloseTo(20, 10);
  });

  it('question_id 9095: 30 mi/h reached in 8 s is 5.5 ft/s² (option C)', () => {
    expect(quantity({ expression: '30 mph / 8 s to ft/s^2' }).value).toBeCloseTo(5.5, 10);
  });

  it('question_id 9390: a 50 g bullet at 40,000 cm/s carries 4 × 10^10 erg (option F)', () => {
    expect(quantity({ expression: '0.5 * 50 g * (40000 cm/s)^2 to erg' })).toMatchObject({ unit: 'erg' });
    expect(quantity({ expression: '0.5 * 50 g * (40000 cm/s)^2 to erg' }).value).toBeCloseTo(4e10, 0);
  });

  it('question_id 9494: 1 kg of rest energy lights a 100 W bulb for 2.9 × 10^7 years (option H)', () => {
    const years = quantity({ expression: '1 kg * c^2 / (100 W) to years' }).value;
    expect(years / 1e7).toBeCloseTo(2.848, 3);
  });

  it('question_id 9074: 1 g falling 1 cm as 600 nm light is 3 × 10^14 photons (option H)', () => {
    const photons = quantity({ expression: '1 g * g_n * 1 cm / (h_P * c / (6e-5 cm))' }).value;
    expect(photons / 1e14).toBeCloseTo(2.96, 2);
  });

  it('looks up CODATA 2018 constants by name, alias or symbol', () => {
    expect(units({ constant: 'Planck constant' }).text).toBe('Planck constant (h_P) = 6.62607015e-34 J s (exact; CODATA 2018 (Tiesinga et al., Rev. Mod. Phys. 93, 025010 (2021)))');
    expect(units({ constant: 'mass of electron' }).data).toMatchObject({ value: 9.1093837015e-31, unit: 'kg', uncertainty: 2.8e-40 });
    expect(findConstant('N_A')?.value).toBe(6.02214076e23);
    expect(findConstant('gas constant')?.value).toBe(8.314462618);
    expect(() => units({ constant: 'flux capacitor' })).toThrow(/no constant matches/);
    // Every constant's unit parses in mathjs (the evaluate scope builds them all).
    expect(quantity({ expression: 'N_A * k_B to J/(mol K)' }).value).toBeCloseTo(8.314462618, 8);
    expect(CODATA_2018.length).toBeGreaterThan(40);
  });

  it('adds units mathjs lacks and reports unknown ones', () => {
    expect(quantity({ value: 1, from: 'kcal', to: 'J' }).value).toBe(4184);
    expect(quantity({ value: 12, from: 'Da', to: 'kg' }).value).toBeCloseTo(1.99264687992e-26, 36);
    expect(quantity({ value: 1, from: 'ly', to: 'km' }).value).toBeCloseTo(9.4607304725808e12, 0);
    expect(() => units({ value: 1, from: 'furlongs', to: 'm' })).toThrow(/cannot convert/);
    expect(unitConverterInput.safeParse({ value: 1, from: 'm' }).error?.issues[0]?.path).toEqual(['to']);
    expect(unitConverterInput.safeParse({ constant: 'c', expression: 'c' }).success).toBe(false);
  });
});
