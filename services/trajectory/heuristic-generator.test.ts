import { describe, expect, it } from 'vitest';
import { ACTION_NAMES } from '../common/actions.js';
import { Question, Step, ToolCall } from '../common/gen/spark/v1/common.js';
import { chooseAnswer, extractEquation, extractFormulas, extractLogicFormula, extractNumbers, extractQuantity, HeuristicGenerator, keyTerms } from './heuristic-generator.js';

// MMLU-Pro test question 333 (business), verbatim.
const q333 = Question.fromPartial({
  questionId: 333, category: 'business', answer: 'B',
  question: 'Jack sells magazine subscriptions door to door after school. He is paid 85 cents commission on every subscription he sells. Last week, he sold 17 subscriptions. What was the amount of his commission?',
  options: ['$19.55', '$14.45', '$15.95', '$18.70', '$17.00', '$13.90', '$12.75', '$10.20', '$20.45', '$16.35'],
});

describe('question readers', () => {
  it('extracts numbers, with thousands separators and powers of ten', () => {
    expect(extractNumbers('paid 85 cents on 1,200 items, density 4.738 × 10^3 kg')).toEqual([85, 1200, 4738]);
  });
  it('finds chemical formulas but not capitalised words', () => {
    expect(extractFormulas('What mass of CaCO3 reacts with HCl to give CO2 and H2O? AND NOT Ok')).toEqual(['CaCO3', 'HCl', 'CO2', 'H2O']);
  });
  it('finds quantities with units', () => {
    expect(extractQuantity('a car travels at 72 km/h for 3 hours')).toEqual({ value: 72, from: 'km/h', to: 'm/s' });
  });
  it('rewrites MMLU-Pro logic notation (question 11117 style)', () => {
    expect(extractLogicFormula('Construct a truth table for: ~G ⊃ H and (G · ~H)')).toBe('~G -> H');
    expect(extractLogicFormula('the argument E ≡ F')).toBe('E <-> F');
  });
  it('finds an equation in one variable', () => {
    expect(extractEquation('Solve 3x + 5 = 20 for x.')).toEqual({ expression: '3x + 5 = 20', variable: 'x' });
  });
  it('keeps the informative words', () => {
    expect(keyTerms('What is the function of the mitochondria in a cell?')).toEqual(['mitochondria', 'function', 'cell']);
  });
});

describe('HeuristicGenerator', () => {
  it('proposes one candidate per action, tool inputs for tools and none for cot', async () => {
    const proposals = await new HeuristicGenerator().propose(q333, [], ACTION_NAMES);
    expect(proposals.map((p) => p.action)).toEqual([...ACTION_NAMES]);
    expect(proposals.find((p) => p.action === 'calculator')!.parameters).toEqual({ expression: '85 * 17' });
    expect(proposals.find((p) => p.action === 'cot')!.parameters).toBeUndefined();
    expect(proposals.filter((p) => p.action !== 'cot').every((p) => p.parameters)).toBe(true);
  });

  it('answers from a tool output that matches an option, else guesses deterministically', () => {
    const step = Step.fromPartial({ action: 'python', toolCall: ToolCall.fromPartial({ name: 'python', output: '0.85 * 17 = 14.45' }) });
    expect(chooseAnswer(q333, [step])).toMatchObject({ letter: 'B' });
    const guess = chooseAnswer(q333, []);
    expect(guess.why).toMatch(/guess/);
    expect(chooseAnswer(q333, []).letter).toBe(guess.letter);
  });
});
