/**
 * The 9 candidate actions of SPaRK (paper §3): 8 tools plus plain chain-of-thought. The paper does not
 * name its tools; ours are chosen to cover the 14 MMLU-Pro categories and to run offline. Every service
 * that names an action (trajectory, judge, trainer, evaluator) uses these constants.
 */
export const TOOL_NAMES = [
  'calculator',
  'python',
  'equation_solver',
  'unit_converter',
  'chemistry',
  'finance',
  'logic',
  'encyclopedia',
] as const;

/** A reasoning step with no tool. */
export const COT_ACTION = 'cot' as const;

export const ACTION_NAMES = [...TOOL_NAMES, COT_ACTION] as const;

export type ToolName = (typeof TOOL_NAMES)[number];
export type ActionName = (typeof ACTION_NAMES)[number];

/** Number of built-in actions; normalised entropy divides by log2 of this. */
export const NUM_ACTIONS = ACTION_NAMES.length;

/** One-line descriptions shown to the model in the SPaRK system prompt. */
export const ACTION_DESCRIPTIONS: Record<ActionName, string> = {
  calculator: 'exact arithmetic with fractions and big numbers, e.g. {"expression": "(3/7) * 2^10"}',
  python: 'run a short Python 3 program in a sandbox and read what it prints, e.g. {"code": "print(sum(range(10)))"}',
  equation_solver: 'solve, simplify, differentiate or integrate symbolically, e.g. {"operation": "solve", "expression": "x^2 - 4 = 0", "variable": "x"}',
  unit_converter: 'convert units and look up physical constants, e.g. {"value": 3, "from": "km/h", "to": "m/s"}',
  chemistry: 'periodic-table data, molar mass of a formula, balancing equations, e.g. {"operation": "molar_mass", "formula": "C6H12O6"}',
  finance: 'time value of money, NPV/IRR, amortisation, elasticities, growth rates, e.g. {"operation": "npv", "rate": 0.05, "cashflows": [-100, 30, 40, 50]}',
  logic: 'propositional logic: truth tables, validity, satisfiability, e.g. {"operation": "valid", "formula": "(p -> q) & p -> q"}',
  encyclopedia: 'look up definitions and facts in a local encyclopedia (BM25 search), e.g. {"query": "mitochondria function"}',
  cot: 'think step by step in plain text without a tool',
};

export function isActionName(name: string): name is ActionName {
  return (ACTION_NAMES as readonly string[]).includes(name);
}

export function isToolName(name: string): name is ToolName {
  return (TOOL_NAMES as readonly string[]).includes(name);
}
