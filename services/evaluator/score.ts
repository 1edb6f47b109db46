/**
 * Accuracy the way the MMLU-Pro reference counts it: extract a letter from each response
 * (`extract.ts`), compare it with the key, and sum per category and overall (micro average: correct /
 * questions, so large categories weigh more, as the reference's "total" line does).
 *
 * When no letter is found, `strict` (the default) counts the question wrong; `random` guesses one of
 * the ten letters A–J with a seeded RNG, as `compute_accuracy.py` does (`random.seed(12345)` once, then
 * `random.choice(["A", ..., "J"])` per miss). Our generator is services/common/random.ts, not Python's
 * Mersenne Twister, so random mode matches the reference in distribution, not guess for guess. Either
 * way the number of responses with no extractable answer is reported.
 */
import { InvalidArgumentError } from '../common/errors.js';
import { createRng, type Rng } from '../common/random.js';
import { ANSWER_LETTERS, extractAnswer, type ExtractionRule } from './extract.js';

export const EXTRACTION_MODES = ['strict', 'random'] as const;
export type ExtractionMode = (typeof EXTRACTION_MODES)[number];

/** The reference's seed (`random.seed(12345)`), the default of random mode. */
export const REFERENCE_SEED = 12_345;

/** One response to score: the `spark eval score` line and the ScoreResponses record. */
export interface ResponseRecord {
  questionId: number;
  category: string;
  /** The key, "A".."J". */
  answer: string;
  response: string;
}

/** Accuracy of a group of responses (the proto's AccuracyResult). */
export interface AccuracyFigures {
  /** correct / n; 0 when n is 0. */
  accuracy: number;
  n: number;
  /** Responses with no extractable letter. */
  noAnswer: number;
}

export interface ScoreSummary {
  overall: AccuracyFigures;
  /** Keyed by category, in alphabetical order (which is MMLU-Pro's own order of the 14). */
  categories: Record<string, AccuracyFigures>;
}

/** The outcome of one response. */
export interface ScoredResponse {
  /** The letter used: extracted, or guessed in random mode; undefined when strict found none. */
  predicted?: string;
  rule?: ExtractionRule;
  /** True when `predicted` is a random-mode guess. */
  guessed: boolean;
  correct: boolean;
}

/**
 * The category as MMLU-Pro spells it: result files of the reference write "computer_science" where
 * the hub writes "computer science".
 */
export function canonicalCategory(category: string): string {
  return category.trim().replace(/_/g, ' ');
}

/** Checks one record; `field` names it in errors (`responses[3]`, `line 4`). */
export function validateRecord(r: ResponseRecord, field: string): ResponseRecord {
  if (!(ANSWER_LETTERS as readonly string[]).includes(r.answer)) {
    throw new InvalidArgumentError(`${field}.answer`, `must be one capital letter A..J (got ${JSON.stringify(r.answer)})`, ANSWER_LETTERS.join(', '));
  }
  if (typeof r.category !== 'string' || !canonicalCategory(r.category)) throw new InvalidArgumentError(`${field}.category`, 'must be a non-empty category name', 'one of the 14 MMLU-Pro categories, e.g. "computer science"');
  if (typeof r.response !== 'string') throw new InvalidArgumentError(`${field}.response`, 'must be a string (the model\'s full response)');
  return { ...r, category: canonicalCategory(r.category) };
}

/** Scores one response; `rng` is consulted only in random mode when no letter is found. */
export function scoreOne(response: string, answer: string, mode: ExtractionMode, rng?: Rng): ScoredResponse {
  const { letter, rule } = extractAnswer(response);
  if (letter) return { predicted: letter, rule, guessed: false, correct: letter === answer };
  if (mode === 'strict') return { guessed: false, correct: false };
  if (!rng) throw new Error('scoreOne: random mode needs an rng');
  const guess = rng.pick(ANSWER_LETTERS);
  return { predicted: guess, guessed: true, correct: guess === answer };
}

/** Running totals per category; turns into a ScoreSummary at any time (live metrics, partial reports). */
export class AccuracyTally {
  private readonly perCategory = new Map<string, { correct: number; n: number; noAnswer: number }>();

  add(category: string, correct: boolean, noAnswer: boolean): void {
    const c = this.perCategory.get(category) ?? { correct: 0, n: 0, noAnswer: 0 };
    c.n += 1;
    if (correct) c.correct += 1;
    if (noAnswer) c.noAnswer += 1;
    this.perCategory.set(category, c);
  }

  /** Figures of one category (zeros when it has none yet). */
  category(name: string): AccuracyFigures {
    return figures(this.perCategory.get(name) ?? { correct: 0, n: 0, noAnswer: 0 });
  }

  summary(): ScoreSummary {
    const total = { correct: 0, n: 0, noAnswer: 0 };
    const categories: Record<string, AccuracyFigures> = {};
    for (const name of [...this.perCategory.keys()].sort()) {
      const c = this.perCategory.get(name)!;
      total.correct += c.correct;
      total.n += c.n;
      total.noAnswer += c.noAnswer;
      categories[name] = figures(c);
    }
    return { overall: figures(total), categories };
  }
}

function figures(c: { correct: number; n: number; noAnswer: number }): AccuracyFigures {
  return { accuracy: c.n ? c.correct / c.n : 0, n: c.n, noAnswer: c.noAnswer };
}

export interface ScoreOptions {
  /** @default 'strict' */
  mode?: ExtractionMode;
  /** Random mode's seed. @default 12345 (the reference's) */
  seed?: number;
}

/** Scores responses made elsewhere. Records are validated first; errors name `responses[i]`. */
export function scoreResponses(records: readonly ResponseRecord[], opts: ScoreOptions = {}): ScoreSummary {
  const mode = opts.mode ?? 'strict';
  const rng = createRng(opts.seed ?? REFERENCE_SEED);
  const tally = new AccuracyTally();
  records.forEach((raw, i) => {
    const r = validateRecord(raw, `responses[${i}]`);
    const scored = scoreOne(r.response, r.answer, mode, rng);
    tally.add(r.category, scored.correct, !scored.rule);
  });
  return tally.summary();
}
