/**
 * Propositional logic on MMLU-Pro philosophy questions in Hurley's notation (~ · ∨ ⊃ ≡): arguments
 * (question_id 10815 valid, 10813 and 10780 with counterexamples), a pair of propositions (10775), plus
 * parser precedence and truth tables.
 */
import { describe, expect, it } from 'vitest';
import { logicInput, runLogic } from './logic.js';
import { evaluate, FormulaSyntaxError, parseFormula, show } from './logic-formula.js';

const logic = (input: unknown) => runLogic(logicInput.parse(input));

describe('formula parser', () => {
  it('reads every notation with the usual precedence', () => {
    expect(show(parseFormula('p & q | r -> s <-> t'))).toBe('((((p & q) | r) -> s) <-> t)');
    expect(show(parseFormula('(F ⊃ G) · ~H'))).toBe('((F -> G) & ~H)');
    expect(show(parseFormula('¬A ∧ B → C ↔ D'))).toBe('(((~A & B) -> C) <-> D)');
    expect(show(parseFormula('a -> b -> c'))).toBe('(a -> (b -> c))');
    expect(show(parseFormula('not p or q and r'))).toBe('(~p | (q & r))');
    expect(show(parseFormula('L ⊃ [(M ∨ ~N) ⊃ O]'))).toBe('(L -> ((M | ~N) -> O))');
  });

  it('evaluates and reports syntax errors with a position', () => {
    expect(evaluate(parseFormula('p ≡ ~q'), new Map([['p', true], ['q', false]]))).toBe(true);
    expect(() => parseFormula('(p & q')).toThrow(FormulaSyntaxError);
    expect(() => parseFormula('p & & q')).toThrow(/position 5/);
  });
});

describe('logic (MMLU-Pro)', () => {
  it('question_id 10815: E ⊃ F, G ⊃ ~F / ~G ∨ ~E is valid (option E)', () => {
    const out = logic({ operation: 'argument', premises: ['E ⊃ F', 'G ⊃ ~F'], conclusion: '~G ∨ ~E' });
    expect(out.data).toMatchObject({ valid: true });
  });

  it('question_id 10813: H ≡ (~I ∨ J), H ∨ ~J / ~I is invalid, e.g. when I is true and H, J false (option G)', () => {
    const out = logic({ operation: 'argument', premises: ['H ≡ (~I ∨ J)', 'H ∨ ~J'], conclusion: '~I' });
    const data = out.data as { valid: boolean; counterexamples: Array<Record<string, boolean>> };
    expect(data.valid).toBe(false);
    // Exactly two rows make both premises true and the conclusion false.
    expect(data.counterexamples).toHaveLength(2);
    expect(data.counterexamples).toContainEqual({ H: false, I: true, J: false });
    expect(data.counterexamples).toContainEqual({ H: true, I: true, J: true });
    expect(out.text).toContain('counterexample: I true and H, J false');
  });

  it('question_id 10780: the counterexample of option D is among those found', () => {
    const out = logic({
      operation: 'argument',
      premises: ['L ⊃ [(M ∨ ~N) ⊃ O]', '(N ⊃ O) ⊃ (~P ⊃ Q)', 'R ⊃ ~Q'],
      conclusion: 'L ⊃ (R ⊃ P)',
    });
    const data = out.data as { valid: boolean; counterexamples: Array<Record<string, boolean>> };
    expect(data.valid).toBe(false);
    expect(data.counterexamples).toContainEqual({ L: true, M: false, N: true, O: false, P: false, Q: false, R: true });
  });

  it('question_id 10775: (~M ⊃ ~N) ∨ (O ≡ N) and (~M · N) · [(~O ∨ ~N) · (O ∨ N)] are contradictory (option D)', () => {
    const out = logic({ operation: 'compare', formulas: ['(~M ⊃ ~N) ∨ (O ≡ N)', '(~M · N) · [(~O ∨ ~N) · (O ∨ N)]'] });
    expect(out.data).toMatchObject({ equivalent: false, contradictory: true, consistent: false });
    expect(out.text).toBe('contradictory; inconsistent (never both true)');
  });
});

describe('truth tables, validity, satisfiability', () => {
  it('prints a truth table in textbook order and classifies each formula', () => {
    const out = logic({ operation: 'truth_table', formulas: ['p -> q', 'p | ~p'] });
    expect(out.text.split('\n')).toEqual([
      'p q | p -> q | p | ~p',
      'T T | T | T',
      'T F | F | T',
      'F T | T | T',
      'F F | T | T',
      'formula 1: contingent (true in 3 of 4 rows)',
      'formula 2: tautology (true in 4 of 4 rows)',
    ]);
  });

  it('decides validity and satisfiability with the SAT solver', () => {
    expect(logic({ operation: 'valid', formula: '(p -> q) & p -> q' }).data).toMatchObject({ valid: true });
    expect(logic({ operation: 'valid', formula: 'p -> q' }).data).toMatchObject({ valid: false, counterexample: { p: true, q: false } });
    expect(logic({ operation: 'satisfiable', formulas: ['a | b', '~a', '~b'] }).data).toMatchObject({ satisfiable: false });
    // 30 variables: far past a truth table, instant for the solver.
    const chain = Array.from({ length: 29 }, (_, i) => `x${i} -> x${i + 1}`);
    expect(logic({ operation: 'argument', premises: [...chain, 'x0'], conclusion: 'x29' }).data).toMatchObject({ valid: true });
  });

  it('refuses a truth table too large to print, and names missing fields', () => {
    const vars = Array.from({ length: 13 }, (_, i) => `v${i}`).join(' & ');
    expect(() => logic({ operation: 'truth_table', formula: vars })).toThrow(/stop at 12 variables/);
    expect(logicInput.safeParse({ operation: 'argument', premises: ['p'] }).error?.issues[0]?.path).toEqual(['conclusion']);
  });
});
