/** Types for the parts of logic-solver (MiniSat in JavaScript, https://github.com/meteor/logic-solver) used here. */
declare module 'logic-solver' {
  export interface Formula { readonly __formula: true }
  export type Operand = Formula | string;
  export interface Solution {
    getMap(): Record<string, boolean>;
    getTrueVars(): string[];
    getFormula(): Formula;
    evaluate(formula: Operand): boolean;
  }
  export class Solver {
    require(...formulas: Operand[]): void;
    forbid(...formulas: Operand[]): void;
    solve(): Solution | null;
    getVarNum(name: string): number;
  }
  export const TRUE: string;
  export const FALSE: string;
  export function not(operand: Operand): Formula;
  export function and(...operands: Operand[]): Formula;
  export function or(...operands: Operand[]): Formula;
  export function xor(...operands: Operand[]): Formula;
  export function implies(a: Operand, b: Operand): Formula;
  export function equiv(a: Operand, b: Operand): Formula;
  const Logic: {
    Solver: typeof Solver;
    TRUE: string;
    FALSE: string;
    not: typeof not;
    and: typeof and;
    or: typeof or;
    xor: typeof xor;
    implies: typeof implies;
    equiv: typeof equiv;
  };
  export default Logic;
}
