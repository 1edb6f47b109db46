/**
 * The periodic table: 118 elements with symbol, name, atomic number and standard atomic weight.
 *
 * Weights: CIAAW standard atomic weights (https://www.ciaaw.org/atomic-weights.htm, 2021 table); for the
 * elements whose standard weight is an interval (H, Li, B, C, N, O, Mg, Si, S, Cl, Ar, Br, Tl, Pb) the
 * IUPAC conventional value. Elements with no stable isotope and no characteristic terrestrial
 * composition carry, in brackets, the mass number of their longest-lived isotope (as on the IUPAC
 * periodic table); `radioactiveMassNumber` marks them. Names are IUPAC's (aluminium, caesium, sulfur).
 * Period, group and block are derived from the atomic number (La and Ac in group 3; Ce–Lu and Th–Lr:
 * f-block, no group).
 */

/** Row per element in atomic-number order: "Symbol Name weight", a bracketed weight = mass number. */
const TABLE = [
  'H Hydrogen 1.008 | He Helium 4.002602 | Li Lithium 6.94 | Be Beryllium 9.0121831 | B Boron 10.81 | C Carbon 12.011',
  'N Nitrogen 14.007 | O Oxygen 15.999 | F Fluorine 18.998403162 | Ne Neon 20.1797 | Na Sodium 22.98976928 | Mg Magnesium 24.305',
  'Al Aluminium 26.9815384 | Si Silicon 28.085 | P Phosphorus 30.973761998 | S Sulfur 32.06 | Cl Chlorine 35.45 | Ar Argon 39.95',
  'K Potassium 39.0983 | Ca Calcium 40.078 | Sc Scandium 44.955907 | Ti Titanium 47.867 | V Vanadium 50.9415 | Cr Chromium 51.9961',
  'Mn Manganese 54.938043 | Fe Iron 55.845 | Co Cobalt 58.933194 | Ni Nickel 58.6934 | Cu Copper 63.546 | Zn Zinc 65.38',
  'Ga Gallium 69.723 | Ge Germanium 72.630 | As Arsenic 74.921595 | Se Selenium 78.971 | Br Bromine 79.904 | Kr Krypton 83.798',
  'Rb Rubidium 85.4678 | Sr Strontium 87.62 | Y Yttrium 88.905838 | Zr Zirconium 91.222 | Nb Niobium 92.90637 | Mo Molybdenum 95.95',
  'Tc Technetium [97] | Ru Ruthenium 101.07 | Rh Rhodium 102.90549 | Pd Palladium 106.42 | Ag Silver 107.8682 | Cd Cadmium 112.414',
  'In Indium 114.818 | Sn Tin 118.710 | Sb Antimony 121.760 | Te Tellurium 127.60 | I Iodine 126.90447 | Xe Xenon 131.293',
  'Cs Caesium 132.90545196 | Ba Barium 137.327 | La Lanthanum 138.90547 | Ce Cerium 140.116 | Pr Praseodymium 140.90766 | Nd Neodymium 144.242',
  'Pm Promethium [145] | Sm Samarium 150.36 | Eu Europium 151.964 | Gd Gadolinium 157.249 | Tb Terbium 158.925354 | Dy Dysprosium 162.500',
  'Ho Holmium 164.930329 | Er Erbium 167.259 | Tm Thulium 168.934219 | Yb Ytterbium 173.045 | Lu Lutetium 174.9668 | Hf Hafnium 178.486',
  'Ta Tantalum 180.94788 | W Tungsten 183.84 | Re Rhenium 186.207 | Os Osmium 190.23 | Ir Iridium 192.217 | Pt Platinum 195.084',
  'Au Gold 196.966570 | Hg Mercury 200.592 | Tl Thallium 204.38 | Pb Lead 207.2 | Bi Bismuth 208.98040 | Po Polonium [209]',
  'At Astatine [210] | Rn Radon [222] | Fr Francium [223] | Ra Radium [226] | Ac Actinium [227] | Th Thorium 232.0377',
  'Pa Protactinium 231.03588 | U Uranium 238.02891 | Np Neptunium [237] | Pu Plutonium [244] | Am Americium [243] | Cm Curium [247]',
  'Bk Berkelium [247] | Cf Californium [251] | Es Einsteinium [252] | Fm Fermium [257] | Md Mendelevium [258] | No Nobelium [259]',
  'Lr Lawrencium [262] | Rf Rutherfordium [267] | Db Dubnium [268] | Sg Seaborgium [269] | Bh Bohrium [270] | Hs Hassium [269]',
  'Mt Meitnerium [278] | Ds Darmstadtium [281] | Rg Roentgenium [282] | Cn Copernicium [285] | Nh Nihonium [286] | Fl Flerovium [289]',
  'Mc Moscovium [290] | Lv Livermorium [293] | Ts Tennessine [294] | Og Oganesson [294]',
].join(' | ');

export interface Element {
  number: number;
  symbol: string;
  name: string;
  /** Standard atomic weight (g/mol), or the longest-lived isotope's mass number when bracketed. */
  atomicWeight: number;
  /** True when `atomicWeight` is a mass number (no standard atomic weight exists). */
  radioactiveMassNumber: boolean;
  period: number;
  /** 1..18, or null for the lanthanoids Ce–Lu and actinoids Th–Lr (f-block). */
  group: number | null;
  block: 's' | 'p' | 'd' | 'f';
}

/** Atomic numbers of the last element of each period (noble gases). */
const PERIOD_ENDS = [2, 10, 18, 36, 54, 86, 118];

function position(z: number): Pick<Element, 'period' | 'group' | 'block'> {
  const period = PERIOD_ENDS.findIndex((end) => z <= end) + 1;
  const start = period === 1 ? 1 : PERIOD_ENDS[period - 2] + 1;
  const k = z - start + 1; // 1-based position within the period
  if (period === 1) return { period, group: z === 1 ? 1 : 18, block: 's' };
  if (k <= 2) return { period, group: k, block: 's' };
  if (period <= 3) return { period, group: k + 10, block: 'p' };
  if (period <= 5) return { period, group: k, block: k <= 12 ? 'd' : 'p' };
  // periods 6 and 7: La/Ac (k=3) in group 3, Ce..Lu / Th..Lr (k=4..17) the f-block, then d and p
  if (k === 3) return { period, group: 3, block: 'd' };
  if (k <= 17) return { period, group: null, block: 'f' };
  const group = k - 14;
  return { period, group, block: group <= 12 ? 'd' : 'p' };
}

export const ELEMENTS: readonly Element[] = TABLE.split(' | ').map((row, i) => {
  const [symbol, name, weight] = row.split(' ');
  const bracketed = weight.startsWith('[');
  return {
    number: i + 1,
    symbol,
    name,
    atomicWeight: Number(bracketed ? weight.slice(1, -1) : weight),
    radioactiveMassNumber: bracketed,
    ...position(i + 1),
  };
});

const BY_SYMBOL = new Map(ELEMENTS.map((e) => [e.symbol, e]));
/** American and older spellings people type. */
const NAME_ALIASES: Record<string, string> = { aluminum: 'Al', cesium: 'Cs', sulphur: 'S', wolfram: 'W' };
const BY_NAME = new Map<string, Element>(ELEMENTS.map((e) => [e.name.toLowerCase(), e]));
for (const [alias, symbol] of Object.entries(NAME_ALIASES)) BY_NAME.set(alias, BY_SYMBOL.get(symbol)!);

export function elementBySymbol(symbol: string): Element | undefined {
  return BY_SYMBOL.get(symbol);
}

/** By symbol (case as written, then any case), name (any case) or atomic number. */
export function findElement(query: string | number): Element | undefined {
  if (typeof query === 'number' || /^\d+$/.test(query)) return ELEMENTS[Number(query) - 1];
  const q = query.trim();
  return BY_SYMBOL.get(q) ?? BY_SYMBOL.get(q[0].toUpperCase() + q.slice(1).toLowerCase()) ?? BY_NAME.get(q.toLowerCase());
}
