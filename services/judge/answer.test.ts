import { describe, expect, it } from 'vitest';
import { extractAnswer } from './answer.js';

describe('extractAnswer', () => {
  it('reads a well-formed final answer', () => {
    expect(extractAnswer('So 84 it is. The answer is (B)', 4)).toEqual({ letter: 'B', validLetter: true, wellFormed: true });
    expect(extractAnswer('... the answer is (C).', 10)).toMatchObject({ letter: 'C', wellFormed: true });
  });

  it('flags claims in another form, letters outside the options, and claims without a letter', () => {
    expect(extractAnswer('the answer is C, clearly', 4)).toEqual({ letter: 'C', validLetter: true, wellFormed: false });
    expect(extractAnswer('the answer is (H)', 4)).toEqual({ letter: 'H', validLetter: false, wellFormed: false });
    expect(extractAnswer('the answer is 42', 4)).toEqual({ letter: '', validLetter: false, wellFormed: false });
  });

  it('takes the last claim and ignores text without one', () => {
    expect(extractAnswer('the answer is (A)? No: the answer is (D)', 4)?.letter).toBe('D');
    expect(extractAnswer('Multiply 12 by 7 with the calculator.', 4)).toBeUndefined();
  });
});
