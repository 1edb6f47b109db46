/**
 * Chemical formulas: `Ca(OH)2`, `K4[Fe(CN)6]`, `CuSO4·5H2O` (hydrates with ·, •, * or .), ions with a
 * charge written `^2-`, `^{3+}`, `^+` (`SO4^2-`), physical states `(aq)`, `(s)`, `(l)`, `(g)` ignored,
 * and the electron `e^-`. Parsed by a small recursive-descent parser into element counts + charge.
 */
import { elementBySymbol } from './elements.js';

export interface ParsedFormula {
  /** Element symbol → number of atoms. */
  atoms: Map<string, number>;
  charge: number;
}

export class FormulaError extends Error {
  override readonly name = 'FormulaError';
}

const OPEN = '([{';
const CLOSE = ')]}';
const HYDRATE_DOT = /[·•∙*.]/;
const STATE_SUFFIX = /\((aq|s|l|g)\)\s*$/i;

function addInto(into: Map<string, number>, from: Map<string, number>, times: number): void {
  for (const [el, n] of from) into.set(el, (into.get(el) ?? 0) + n * times);
}

/** Parses one formula (no leading stoichiometric coefficient except inside hydrates). */
export function parseFormula(text: string): ParsedFormula {
  let src = text.trim().replace(STATE_SUFFIX, '').trim();
  if (!src) throw new FormulaError('empty formula');
  let charge = 0;
  const chargeMatch = /\^\{?(\d*)([+-])\}?$/.exec(src);
  if (chargeMatch) {
    charge = (chargeMatch[2] === '+' ? 1 : -1) * (chargeMatch[1] ? Number(chargeMatch[1]) : 1);
    src = src.slice(0, chargeMatch.index);
  }
  if (src === 'e') return { atoms: new Map(), charge: charge || -1 }; // the electron
  const atoms = new Map<string, number>();
  for (const [i, part] of src.split(HYDRATE_DOT).entries()) {
    // "5H2O" in a hydrate: a leading count multiplies the part (not allowed on the first part)
    const lead = /^(\d+)/.exec(part);
    if (lead && i === 0) throw new FormulaError(`formula ${JSON.stringify(text)} starts with a number; write the coefficient outside the formula`);
    const times = lead ? Number(lead[1]) : 1;
    addInto(atoms, parseGroup(part.slice(lead ? lead[1].length : 0), text), times);
  }
  if (atoms.size === 0) throw new FormulaError(`no elements in ${JSON.stringify(text)}`);
  return { atoms, charge };
}

/** Element symbols, numbers and nested brackets of one part of a formula. */
function parseGroup(src: string, whole: string): Map<string, number> {
  let pos = 0;
  const count = (): number => {
    const m = /^\d+/.exec(src.slice(pos));
    if (!m) return 1;
    pos += m[0].length;
    return Number(m[0]);
  };
  const parseSeq = (closer?: string): Map<string, number> => {
    const atoms = new Map<string, number>();
    while (pos < src.length) {
      const ch = src[pos];
      if (CLOSE.includes(ch)) {
        if (ch !== closer) throw new FormulaError(`unbalanced ${JSON.stringify(ch)} at position ${pos + 1} of ${JSON.stringify(whole)}`);
        pos++;
        return atoms;
      }
      if (OPEN.includes(ch)) {
        pos++;
        const inner = parseSeq(CLOSE[OPEN.indexOf(ch)]);
        addInto(atoms, inner, count());
        continue;
      }
      const m = /^[A-Z][a-z]?/.exec(src.slice(pos));
      if (!m) throw new FormulaError(`unexpected ${JSON.stringify(ch)} at position ${pos + 1} of ${JSON.stringify(whole)}`);
      // Case decides: Co is cobalt, CO is carbon + oxygen. A two-letter match that is no element ("Cx")
      // falls back to its first letter, and the stray lower-case letter is then reported.
      let symbol = m[0];
      if (!elementBySymbol(symbol) && symbol.length === 2 && elementBySymbol(symbol[0])) symbol = symbol[0];
      if (!elementBySymbol(symbol)) throw new FormulaError(`unknown element ${JSON.stringify(m[0])} in ${JSON.stringify(whole)}`);
      pos += symbol.length;
      atoms.set(symbol, (atoms.get(symbol) ?? 0) + count());
    }
    if (closer) throw new FormulaError(`missing ${JSON.stringify(closer)} in ${JSON.stringify(whole)}`);
    return atoms;
  };
  return parseSeq();
}

/** Hill order (C, H, then alphabetical; alphabetical when no carbon): how formulas are normally written. */
export function hillFormula(atoms: Map<string, number>): string {
  const symbols = [...atoms.keys()];
  const hasC = atoms.has('C');
  symbols.sort((a, b) => {
    if (hasC) for (const first of ['C', 'H']) { if (a === first) return -1; if (b === first) return 1; }
    return a.localeCompare(b);
  });
  return symbols.map((s) => `${s}${atoms.get(s) === 1 ? '' : atoms.get(s)}`).join('');
}
