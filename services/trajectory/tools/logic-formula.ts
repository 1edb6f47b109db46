/**
 * Propositional formulas: a tokenizer and precedence-climbing parser for the notations MMLU-Pro's
 * logic questions use (Hurley's `~ · ∨ ⊃ ≡`, the textbook `¬ ∧ ∨ → ↔`, ASCII `~ & | -> <->`, words
 * `not and or implies iff xor`), an evaluator, and the variable list.
 * Precedence, tightest first: not, and, or, xor, implies (right-associative), iff.
 */

export type Formula =
  | { op: 'var'; name: string }
  | { op: 'const'; value: boolean }
  | { op: 'not'; arg: Formula }
  | { op: 'and' | 'or' | 'xor' | 'implies' | 'iff'; left: Formula; right: Formula };

type BinaryOp = 'and' | 'or' | 'xor' | 'implies' | 'iff';

export class FormulaSyntaxError extends Error {
  override readonly name = 'FormulaSyntaxError';
}

/** Symbol → operator, longest symbols first so "<->" wins over "->". */
const SYMBOLS: Array<[string, BinaryOp | 'not' | '(' | ')']> = [
  ['<->', 'iff'], ['<=>', 'iff'], ['↔', 'iff'], ['≡', 'iff'], ['⇔', 'iff'],
  ['->', 'implies'], ['=>', 'implies'], ['→', 'implies'], ['⊃', 'implies'], ['⇒', 'implies'],
  ['&&', 'and'], ['&', 'and'], ['∧', 'and'], ['·', 'and'], ['•', 'and'], ['*', 'and'], ['.', 'and'],
  ['||', 'or'], ['|', 'or'], ['∨', 'or'], ['+', 'or'],
  ['^', 'xor'], ['⊕', 'xor'],
  ['~', 'not'], ['¬', 'not'], ['!', 'not'], ['−', 'not'], ['-', 'not'],
  ['(', '('], ['[', '('], ['{', '('], [')', ')'], [']', ')'], ['}', ')'],
];
const WORDS: Record<string, BinaryOp | 'not' | 'const'> = { not: 'not', and: 'and', or: 'or', xor: 'xor', implies: 'implies', iff: 'iff', true: 'const', false: 'const' };

type Token = { kind: BinaryOp | 'not' | '(' | ')' | 'var' | 'const'; text: string; pos: number };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    if (/\s/.test(src[i])) { i++; continue; }
    const sym = SYMBOLS.find(([s]) => src.startsWith(s, i));
    if (sym) { tokens.push({ kind: sym[1], text: sym[0], pos: i }); i += sym[0].length; continue; }
    if (src[i] === '⊤' || src[i] === '⊥') { tokens.push({ kind: 'const', text: src[i] === '⊤' ? 'true' : 'false', pos: i }); i++; continue; }
    const m = /^[A-Za-z][A-Za-z0-9_']*/.exec(src.slice(i));
    if (!m) throw new FormulaSyntaxError(`unexpected ${JSON.stringify(src[i])} at position ${i + 1}`);
    const word = WORDS[m[0]];
    tokens.push({ kind: word ?? 'var', text: m[0], pos: i });
    i += m[0].length;
  }
  return tokens;
}

/** Binding power of each binary operator; implies is right-associative. */
const POWER: Record<BinaryOp, number> = { iff: 1, implies: 2, xor: 3, or: 4, and: 5 };

export function parseFormula(src: string): Formula {
  const tokens = tokenize(src);
  let k = 0;
  const peek = () => tokens[k];
  const where = () => (peek() ? `at position ${peek().pos + 1}` : 'at the end');
  const primary = (): Formula => {
    const t = tokens[k++];
    if (!t) throw new FormulaSyntaxError('the formula ends too early');
    if (t.kind === 'not') return { op: 'not', arg: primary() };
    if (t.kind === 'var') return { op: 'var', name: t.text };
    if (t.kind === 'const') return { op: 'const', value: t.text === 'true' };
    if (t.kind === '(') {
      const inner = binary(0);
      if (peek()?.kind !== ')') throw new FormulaSyntaxError(`missing closing bracket ${where()}`);
      k++;
      return inner;
    }
    throw new FormulaSyntaxError(`unexpected ${JSON.stringify(t.text)} at position ${t.pos + 1}`);
  };
  const binary = (minPower: number): Formula => {
    let left = primary();
    for (;;) {
      const t = peek();
      if (!t || !(t.kind in POWER)) return left;
      const op = t.kind as BinaryOp;
      const power = POWER[op];
      if (power < minPower) return left;
      k++;
      const right = binary(op === 'implies' ? power : power + 1);
      left = { op, left, right };
    }
  };
  if (tokens.length === 0) throw new FormulaSyntaxError('empty formula');
  const f = binary(0);
  if (k < tokens.length) throw new FormulaSyntaxError(`unexpected ${JSON.stringify(tokens[k].text)} at position ${tokens[k].pos + 1}`);
  return f;
}

export function evaluate(f: Formula, env: ReadonlyMap<string, boolean>): boolean {
  switch (f.op) {
    case 'var': return env.get(f.name) ?? false;
    case 'const': return f.value;
    case 'not': return !evaluate(f.arg, env);
    case 'and': return evaluate(f.left, env) && evaluate(f.right, env);
    case 'or': return evaluate(f.left, env) || evaluate(f.right, env);
    case 'xor': return evaluate(f.left, env) !== evaluate(f.right, env);
    case 'implies': return !evaluate(f.left, env) || evaluate(f.right, env);
    case 'iff': return evaluate(f.left, env) === evaluate(f.right, env);
  }
}

/** Variables in order of first appearance. */
export function variables(...fs: Formula[]): string[] {
  const seen = new Set<string>();
  const walk = (f: Formula): void => {
    if (f.op === 'var') seen.add(f.name);
    else if (f.op === 'not') walk(f.arg);
    else if (f.op !== 'const') { walk(f.left); walk(f.right); }
  };
  fs.forEach(walk);
  return [...seen];
}

const SHOW: Record<BinaryOp, string> = { and: '&', or: '|', xor: '^', implies: '->', iff: '<->' };

/** ASCII form with full brackets, so the parse can be checked by eye. */
export function show(f: Formula): string {
  switch (f.op) {
    case 'var': return f.name;
    case 'const': return f.value ? 'true' : 'false';
    case 'not': return `~${show(f.arg)}`;
    default: return `(${show(f.left)} ${SHOW[f.op]} ${show(f.right)})`;
  }
}
