/**
 * The 14 MMLU-Pro categories, spelled as the dataset hub spells them. `computer science` has a space;
 * the reference evaluator (and many result files) write it `computer_science`, so every place that
 * reads a category from outside (data rows, gRPC requests, CLI flags) goes through `normalizeCategory`,
 * which maps underscores to spaces. Inside the product there is only the hub spelling.
 */
import { InvalidArgumentError } from '../common/errors.js';

export const CATEGORIES = [
  'biology',
  'business',
  'chemistry',
  'computer science',
  'economics',
  'engineering',
  'health',
  'history',
  'law',
  'math',
  'other',
  'philosophy',
  'physics',
  'psychology',
] as const;

export type Category = (typeof CATEGORIES)[number];

const KNOWN = new Set<string>(CATEGORIES);

/** The hub spelling of `name` ("computer_science" → "computer science"), or undefined if unknown. */
export function normalizeCategory(name: string): Category | undefined {
  const spelled = name.trim().toLowerCase().replace(/_/g, ' ');
  return KNOWN.has(spelled) ? (spelled as Category) : undefined;
}

/** The hub spelling of `name`, or an InvalidArgumentError naming `field` and the 14 allowed names. */
export function parseCategory(name: string, field: string): Category {
  const category = normalizeCategory(name);
  if (!category) throw new InvalidArgumentError(field, `unknown category ${JSON.stringify(name)}`, CATEGORIES.join(', '));
  return category;
}

/** Parses a list of names (duplicates dropped, hub order kept); `field` is the request field or flag. */
export function parseCategories(names: readonly string[], field: string): Category[] {
  const chosen = new Set(names.map((name, i) => parseCategory(name, `${field}[${i}]`)));
  return CATEGORIES.filter((c) => chosen.has(c));
}
