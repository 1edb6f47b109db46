/**
 * Balancing chemical equations as linear algebra: each species is a column of a matrix whose rows are
 * the elements (and the charge), reactant columns positive, product columns negative. The balanced
 * coefficients span the matrix's null space; it is computed by Gauss–Jordan elimination over exact
 * rationals (BigInt), then scaled to the smallest positive integers. A null space of dimension 0 means
 * no balancing exists; dimension > 1 means independent reactions are mixed and the answer is not unique.
 * Coefficients written in front of species are kept (as fixed ratios between those species): that is
 * how a question pins down one balancing among several ("2Sr(NO3)2 + 3C + 2S -> ...").
 */
import { FormulaError, parseFormula, type ParsedFormula } from './formula.js';

/** Exact rational n/d with d > 0, in lowest terms. */
class Rational {
  static readonly ZERO = new Rational(0n, 1n);
  readonly n: bigint;
  readonly d: bigint;
  constructor(n: bigint, d = 1n) {
    if (d === 0n) throw new RangeError('division by zero');
    const g = gcd(n < 0n ? -n : n, d < 0n ? -d : d) || 1n;
    const sign = d < 0n ? -1n : 1n;
    this.n = (sign * n) / g;
    this.d = (sign * d) / g;
  }
  isZero(): boolean { return this.n === 0n; }
  sub(o: Rational): Rational { return new Rational(this.n * o.d - o.n * this.d, this.d * o.d); }
  mul(o: Rational): Rational { return new Rational(this.n * o.n, this.d * o.d); }
  div(o: Rational): Rational { return new Rational(this.n * o.d, this.d * o.n); }
  neg(): Rational { return new Rational(-this.n, this.d); }
}

function gcd(a: bigint, b: bigint): bigint {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** Null-space basis of `m` (rows × cols), exact. */
export function nullSpace(m: Rational[][], cols: number): Rational[][] {
  const a = m.map((row) => row.slice());
  const pivotCols: number[] = [];
  let r = 0;
  for (let c = 0; c < cols && r < a.length; c++) {
    const p = a.findIndex((row, i) => i >= r && !row[c].isZero());
    if (p < 0) continue;
    [a[r], a[p]] = [a[p], a[r]];
    const pivot = a[r][c];
    a[r] = a[r].map((x) => x.div(pivot));
    for (let i = 0; i < a.length; i++) {
      if (i === r || a[i][c].isZero()) continue;
      const f = a[i][c];
      a[i] = a[i].map((x, j) => x.sub(f.mul(a[r][j])));
    }
    pivotCols.push(c);
    r++;
  }
  const free = [...Array(cols).keys()].filter((c) => !pivotCols.includes(c));
  return free.map((f) => {
    const v = Array.from({ length: cols }, () => Rational.ZERO);
    v[f] = new Rational(1n);
    pivotCols.forEach((pc, row) => { v[pc] = a[row][f].neg(); });
    return v;
  });
}

/** Smallest integers proportional to `v`, sign chosen so the first non-zero is positive. */
function toIntegers(v: Rational[]): bigint[] {
  const lcm = v.reduce((acc, x) => (acc * x.d) / gcd(acc, x.d), 1n);
  let ints = v.map((x) => (x.n * lcm) / x.d);
  const g = ints.reduce((acc, x) => gcd(acc, x < 0n ? -x : x), 0n) || 1n;
  ints = ints.map((x) => x / g);
  const first = ints.find((x) => x !== 0n) ?? 1n;
  return first < 0n ? ints.map((x) => -x) : ints;
}

export interface Species { text: string; formula: ParsedFormula; given?: number }
export interface BalancedEquation {
  reactants: Array<{ formula: string; coefficient: number }>;
  products: Array<{ formula: string; coefficient: number }>;
  equation: string;
}

const ARROW = /\s*(?:<=>|<->|⇌|→|⟶|->|=>|=)\s*/;
/** Species are separated by a "+" with spaces around it, so a charge like "Fe^3+" is not a separator. */
const PLUS = /\s+\+\s+/;

function parseSide(side: string): Species[] {
  return side.split(PLUS).map((raw) => {
    const m = /^(\d+)\s*(.*)$/.exec(raw.trim());
    const text = (m ? m[2] : raw).trim();
    if (!text) throw new FormulaError('empty species in the equation');
    return { text, formula: parseFormula(text), given: m ? Number(m[1]) : undefined };
  });
}

/** Balances "KMnO4 + HCl -> KCl + MnCl2 + H2O + Cl2". Throws FormulaError when it cannot. */
export function balanceEquation(equation: string): BalancedEquation {
  const sides = equation.split(ARROW);
  if (sides.length !== 2) throw new FormulaError('write the equation as "reactants -> products" (one arrow: ->, =, →, <=>)');
  const [left, right] = sides.map(parseSide);
  const species = [...left, ...right];
  const elements = [...new Set(species.flatMap((s) => [...s.formula.atoms.keys()]))];
  const rows = elements.map((el) => species.map((s, j) => new Rational(BigInt((s.formula.atoms.get(el) ?? 0) * (j < left.length ? 1 : -1)))));
  if (species.some((s) => s.formula.charge !== 0)) {
    rows.push(species.map((s, j) => new Rational(BigInt(s.formula.charge * (j < left.length ? 1 : -1)))));
  }
  for (const el of elements) {
    const inLeft = left.some((s) => s.formula.atoms.has(el));
    const inRight = right.some((s) => s.formula.atoms.has(el));
    if (inLeft !== inRight) throw new FormulaError(`${el} appears only on the ${inLeft ? 'left' : 'right'} side: the equation cannot be balanced`);
  }
  // Given coefficients: c_first·x_j − c_j·x_first = 0 for every other species with a given coefficient.
  const fixed = species.map((s, j) => [j, s.given] as const).filter((e): e is readonly [number, number] => e[1] !== undefined);
  for (const [j, c] of fixed.slice(1)) {
    const [j0, c0] = fixed[0];
    rows.push(species.map((_, k) => new Rational(k === j ? BigInt(c0) : k === j0 ? BigInt(-c) : 0n)));
  }
  const basis = nullSpace(rows, species.length);
  if (basis.length === 0) throw new FormulaError(fixed.length > 1 ? 'no balancing exists with the coefficients given (remove them to let the tool choose)' : 'no balancing exists (check the formulas)');
  if (basis.length > 1) throw new FormulaError(`the balancing is not unique (${basis.length} independent reactions are combined); split the equation`);
  let coefficients = toIntegers(basis[0]);
  if (fixed.length) {
    // Scale so that the given coefficients come out as written when they can.
    const [j0, c0] = fixed[0];
    const at = coefficients[j0];
    if (at > 0n && BigInt(c0) % at === 0n) coefficients = coefficients.map((x) => (x * BigInt(c0)) / at);
  }
  if (coefficients.some((c) => c <= 0n)) throw new FormulaError('no balancing with positive coefficients exists (a species is on the wrong side?)');
  const term = (s: Species, c: bigint) => ({ formula: s.text, coefficient: Number(c) });
  const reactants = left.map((s, i) => term(s, coefficients[i]));
  const products = right.map((s, i) => term(s, coefficients[left.length + i]));
  const show = (ts: typeof reactants) => ts.map((t) => `${t.coefficient === 1 ? '' : t.coefficient}${t.formula}`).join(' + ');
  return { reactants, products, equation: `${show(reactants)} -> ${show(products)}` };
}

export { Rational };
