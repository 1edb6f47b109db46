/**
 * Physical constants: CODATA 2018 recommended values.
 * Source: E. Tiesinga, P. J. Mohr, D. B. Newell, B. N. Taylor, "CODATA recommended values of the
 * fundamental physical constants: 2018", Rev. Mod. Phys. 93, 025010 (2021); https://physics.nist.gov/cuu/Constants/
 * Since the 2019 SI redefinition, c, h, e, k, N_A (and so R, F, σ, eV, ...) are exact. `uncertainty` is
 * the standard uncertainty in the same unit (0 = exact). `unit` is written so mathjs parses it.
 */

export interface PhysicalConstant {
  /** Symbol used in expressions (an identifier). */
  symbol: string;
  name: string;
  value: number;
  /** mathjs unit string; '' for dimensionless. */
  unit: string;
  uncertainty: number;
  /** Other names people search for. */
  aliases?: string[];
}

export const CODATA_2018: readonly PhysicalConstant[] = [
  { symbol: 'c', name: 'speed of light in vacuum', value: 299_792_458, unit: 'm/s', uncertainty: 0, aliases: ['speed of light', 'light speed'] },
  { symbol: 'h', name: 'Planck constant', value: 6.626_070_15e-34, unit: 'J s', uncertainty: 0, aliases: ['planck'] },
  { symbol: 'hbar', name: 'reduced Planck constant', value: 1.054_571_817e-34, unit: 'J s', uncertainty: 0, aliases: ['h bar', 'dirac constant'] },
  { symbol: 'e_charge', name: 'elementary charge', value: 1.602_176_634e-19, unit: 'C', uncertainty: 0, aliases: ['electron charge', 'charge of electron', 'e'] },
  { symbol: 'k_B', name: 'Boltzmann constant', value: 1.380_649e-23, unit: 'J/K', uncertainty: 0, aliases: ['boltzmann', 'k'] },
  { symbol: 'N_A', name: 'Avogadro constant', value: 6.022_140_76e23, unit: 'mol^-1', uncertainty: 0, aliases: ['avogadro', 'avogadro number', 'avogadros number'] },
  { symbol: 'R', name: 'molar gas constant', value: 8.314_462_618, unit: 'J/(mol K)', uncertainty: 0, aliases: ['gas constant', 'ideal gas constant', 'universal gas constant'] },
  { symbol: 'F', name: 'Faraday constant', value: 96_485.332_12, unit: 'C/mol', uncertainty: 0, aliases: ['faraday'] },
  { symbol: 'sigma_SB', name: 'Stefan-Boltzmann constant', value: 5.670_374_419e-8, unit: 'W/(m^2 K^4)', uncertainty: 0, aliases: ['stefan boltzmann', 'stefan-boltzmann'] },
  { symbol: 'G', name: 'Newtonian constant of gravitation', value: 6.674_30e-11, unit: 'm^3/(kg s^2)', uncertainty: 0.000_15e-11, aliases: ['gravitational constant', 'newton constant', 'big g'] },
  { symbol: 'g_n', name: 'standard acceleration of gravity', value: 9.806_65, unit: 'm/s^2', uncertainty: 0, aliases: ['standard gravity', 'g', 'acceleration due to gravity'] },
  { symbol: 'atm_std', name: 'standard atmosphere', value: 101_325, unit: 'Pa', uncertainty: 0, aliases: ['atmosphere', 'standard pressure (atm)'] },
  { symbol: 'p_std', name: 'standard-state pressure', value: 100_000, unit: 'Pa', uncertainty: 0, aliases: ['standard state pressure', 'bar pressure'] },
  { symbol: 'mu_0', name: 'vacuum magnetic permeability', value: 1.256_637_062_12e-6, unit: 'N/A^2', uncertainty: 0.000_000_000_19e-6, aliases: ['permeability of free space', 'magnetic constant', 'mu0'] },
  { symbol: 'epsilon_0', name: 'vacuum electric permittivity', value: 8.854_187_812_8e-12, unit: 'F/m', uncertainty: 0.000_000_001_3e-12, aliases: ['permittivity of free space', 'electric constant', 'epsilon0'] },
  { symbol: 'k_e', name: 'Coulomb constant 1/(4 pi epsilon_0)', value: 8.987_551_792_3e9, unit: 'N m^2/C^2', uncertainty: 0.000_000_001_4e9, aliases: ['coulomb constant', 'coulombs constant', 'electrostatic constant'] },
  { symbol: 'm_e', name: 'electron mass', value: 9.109_383_701_5e-31, unit: 'kg', uncertainty: 0.000_000_002_8e-31, aliases: ['mass of electron', 'electron rest mass'] },
  { symbol: 'm_p', name: 'proton mass', value: 1.672_621_923_69e-27, unit: 'kg', uncertainty: 0.000_000_000_51e-27, aliases: ['mass of proton', 'proton rest mass'] },
  { symbol: 'm_n', name: 'neutron mass', value: 1.674_927_498_04e-27, unit: 'kg', uncertainty: 0.000_000_000_95e-27, aliases: ['mass of neutron', 'neutron rest mass'] },
  { symbol: 'm_mu', name: 'muon mass', value: 1.883_531_627e-28, unit: 'kg', uncertainty: 0.000_000_042e-28, aliases: ['mass of muon'] },
  { symbol: 'm_d', name: 'deuteron mass', value: 3.343_583_772_4e-27, unit: 'kg', uncertainty: 0.000_000_001_0e-27, aliases: ['mass of deuteron'] },
  { symbol: 'm_alpha', name: 'alpha particle mass', value: 6.644_657_335_7e-27, unit: 'kg', uncertainty: 0.000_000_002_0e-27, aliases: ['mass of alpha particle'] },
  { symbol: 'm_u', name: 'atomic mass constant', value: 1.660_539_066_60e-27, unit: 'kg', uncertainty: 0.000_000_000_50e-27, aliases: ['atomic mass unit', 'dalton', 'amu', 'u'] },
  { symbol: 'mp_over_me', name: 'proton-electron mass ratio', value: 1_836.152_673_43, unit: '', uncertainty: 0.000_000_11, aliases: ['proton electron mass ratio'] },
  { symbol: 'alpha', name: 'fine-structure constant', value: 7.297_352_569_3e-3, unit: '', uncertainty: 0.000_000_001_1e-3, aliases: ['fine structure constant'] },
  { symbol: 'R_inf', name: 'Rydberg constant', value: 10_973_731.568_160, unit: 'm^-1', uncertainty: 0.000_021, aliases: ['rydberg'] },
  { symbol: 'Ry_eV', name: 'Rydberg energy (R_inf h c)', value: 13.605_693_122_994, unit: 'eV', uncertainty: 0.000_000_000_026, aliases: ['rydberg energy', 'hydrogen ionization energy'] },
  { symbol: 'a_0', name: 'Bohr radius', value: 5.291_772_109_03e-11, unit: 'm', uncertainty: 0.000_000_000_80e-11, aliases: ['bohr radius'] },
  { symbol: 'E_h', name: 'Hartree energy', value: 4.359_744_722_207_1e-18, unit: 'J', uncertainty: 0.000_000_000_008_5e-18, aliases: ['hartree'] },
  { symbol: 'mu_B', name: 'Bohr magneton', value: 9.274_010_078_3e-24, unit: 'J/T', uncertainty: 0.000_000_002_8e-24, aliases: ['bohr magneton'] },
  { symbol: 'mu_N', name: 'nuclear magneton', value: 5.050_783_746_1e-27, unit: 'J/T', uncertainty: 0.000_000_001_5e-27, aliases: ['nuclear magneton'] },
  { symbol: 'r_e', name: 'classical electron radius', value: 2.817_940_326_2e-15, unit: 'm', uncertainty: 0.000_000_001_3e-15, aliases: ['electron radius'] },
  { symbol: 'lambda_C', name: 'Compton wavelength (electron)', value: 2.426_310_238_67e-12, unit: 'm', uncertainty: 0.000_000_000_73e-12, aliases: ['compton wavelength'] },
  { symbol: 'sigma_e', name: 'Thomson cross section', value: 6.652_458_732_1e-29, unit: 'm^2', uncertainty: 0.000_000_006_0e-29, aliases: ['thomson cross section'] },
  { symbol: 'b_Wien', name: 'Wien wavelength displacement law constant', value: 2.897_771_955e-3, unit: 'm K', uncertainty: 0, aliases: ['wien constant', 'wien displacement constant'] },
  { symbol: 'c_1', name: 'first radiation constant', value: 3.741_771_852e-16, unit: 'W m^2', uncertainty: 0, aliases: ['first radiation constant'] },
  { symbol: 'c_2', name: 'second radiation constant', value: 1.438_776_877e-2, unit: 'm K', uncertainty: 0, aliases: ['second radiation constant'] },
  { symbol: 'eV', name: 'electron volt', value: 1.602_176_634e-19, unit: 'J', uncertainty: 0, aliases: ['electron volt', 'electronvolt'] },
  { symbol: 'Phi_0', name: 'magnetic flux quantum', value: 2.067_833_848e-15, unit: 'Wb', uncertainty: 0, aliases: ['flux quantum'] },
  { symbol: 'G_0', name: 'conductance quantum', value: 7.748_091_729e-5, unit: 'S', uncertainty: 0, aliases: ['conductance quantum'] },
  { symbol: 'K_J', name: 'Josephson constant', value: 483_597.848_4e9, unit: 'Hz/V', uncertainty: 0, aliases: ['josephson'] },
  { symbol: 'R_K', name: 'von Klitzing constant', value: 25_812.807_45, unit: 'ohm', uncertainty: 0, aliases: ['von klitzing', 'klitzing'] },
  { symbol: 'V_m', name: 'molar volume of ideal gas (273.15 K, 101.325 kPa)', value: 22.413_969_54e-3, unit: 'm^3/mol', uncertainty: 0, aliases: ['molar volume', 'molar volume stp', 'molar volume of ideal gas'] },
  { symbol: 'n_0', name: 'Loschmidt constant (273.15 K, 101.325 kPa)', value: 2.686_780_111e25, unit: 'm^-3', uncertainty: 0, aliases: ['loschmidt'] },
];

/** Lower-case, spaces for punctuation: how names and aliases are compared. */
function key(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
}

const INDEX = new Map<string, PhysicalConstant>();
for (const c of CODATA_2018) {
  INDEX.set(c.symbol.toLowerCase(), c);
  for (const n of [c.name, ...(c.aliases ?? [])]) if (!INDEX.has(key(n))) INDEX.set(key(n), c);
}

/** A constant by symbol (`m_e`), name (`electron mass`) or alias (`mass of electron`); else the closest names. */
export function findConstant(query: string): PhysicalConstant | undefined {
  return INDEX.get(query.toLowerCase()) ?? INDEX.get(key(query)) ?? CODATA_2018.find((c) => key(c.name).includes(key(query)));
}
