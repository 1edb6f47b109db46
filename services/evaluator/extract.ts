/**
 * Answer extraction exactly as the MMLU-Pro reference evaluation does it: TIGER-AI-Lab/MMLU-Pro at
 * f418b11, `evaluate_from_api.py` / `evaluate_from_local.py` / `compute_accuracy.py` (identical copies):
 *
 *   extract_answer: re.search(r"answer is \(?([A-J])\)?", text)           -> group(1)
 *   extract_again:  re.search(r'.*[aA]nswer:\s*([A-J])', text)             -> group(1)
 *   extract_final:  re.search(r"\b[A-J]\b(?!.*\b[A-J]\b)", text, re.DOTALL) -> group(0)
 *   none of them:   None (counted wrong in strict mode, a seeded guess in random mode)
 *
 * Python `re` on str and JavaScript RegExp differ in three places these patterns touch, so each Python
 * class is spelled out below rather than trusting the JS shorthand:
 * - `.` without DOTALL excludes only "\n" in Python; JS `.` also excludes "\r", U+2028 and U+2029.
 *   Lines end at "\n" only here.
 * - `\s` is Unicode whitespace per `str.isspace` in Python: it includes U+001C..U+001F and U+0085,
 *   which JS `\s` lacks, and lacks U+FEFF, which JS `\s` has. Written as the explicit Python set.
 * - `\b` is a Unicode word boundary in Python (letters and digits of any script are word characters,
 *   so the "A" in "éA" is not standalone); JS `\b` is ASCII-only even with the `u` flag. Written as
 *   lookarounds over `[\p{L}\p{N}_]`, Python's `\w` (alphanumerics per `str.isalnum`, plus "_").
 * `re.search` finds the leftmost match like `RegExp.exec`, and backtracking is the same, so the first
 * pattern is used verbatim. The other two are computed by equivalent linear scans, because their
 * literal forms are quadratic (12,032 real responses: 35 s in V8 for `.*[aA]nswer:` alone, over 4 min
 * in CPython; the scans take milliseconds):
 * - `.*[aA]nswer:\s*([A-J])`: the leading `.*` stops at "\n" and backtracks greedily, so re.search
 *   returns, in the first line holding an "answer:" match, the last one in that line (its `\s*` may
 *   run on into later lines). `extract.test.ts` checks this against the literal pattern.
 * - `\b[A-J]\b(?!.*\b[A-J]\b)` with DOTALL: no standalone letter may follow, so the match is the
 *   last standalone letter in the text.
 */

/** The letters the reference extracts (MMLU-Pro has at most 10 options). */
export const ANSWER_LETTERS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'] as const;

/** Python `\s` for str patterns: the characters for which `str.isspace()` is true (Python 3.11). */
export const PY_WS = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
/** Python `\w` for str patterns. */
export const PY_WORD = '[\\p{L}\\p{N}_]';

/** extract_answer's pattern, verbatim. */
const ANSWER_IS = /answer is \(?([A-J])\)?/;
/** extract_again's pattern without its leading `.*` (see the scan in `extractAgain`), Python's `\s`. */
const ANSWER_COLON = new RegExp(`[aA]nswer:${PY_WS}*([A-J])`);
/** extract_final's `\b[A-J]\b` with Python's Unicode `\b`; the last match is the reference's match. */
const STANDALONE_LETTER = new RegExp(`(?<!${PY_WORD})[A-J](?!${PY_WORD})`, 'gu');

/** Which reference rule found the letter. */
export type ExtractionRule = 'answer_is' | 'answer_colon' | 'last_letter';

export interface Extraction {
  /** "A".."J", or undefined when no rule matched. */
  letter?: string;
  rule?: ExtractionRule;
}

/** The reference's `extract_answer(text)`, reporting which of its three rules matched. */
export function extractAnswer(text: string): Extraction {
  const first = ANSWER_IS.exec(text);
  if (first) return { letter: first[1], rule: 'answer_is' };
  const second = extractAgain(text);
  if (second) return { letter: second, rule: 'answer_colon' };
  let last: string | undefined;
  for (const m of text.matchAll(STANDALONE_LETTER)) last = m[0];
  return last ? { letter: last, rule: 'last_letter' } : {};
}

/** `re.search(r'.*[aA]nswer:\s*([A-J])', text).group(1)`: the last match in the first line that has one. */
function extractAgain(text: string): string | undefined {
  // Matches may overlap ("answer: Answer:C" matches at both "a" and "A"), so resume one past each start.
  const pattern = new RegExp(ANSWER_COLON.source, 'g');
  let found: RegExpExecArray | undefined;
  let lineEnd = Infinity;
  for (let m = pattern.exec(text); m; pattern.lastIndex = m.index + 1, m = pattern.exec(text)) {
    if (m.index > lineEnd) break; // a later line: the first line's last match stands
    if (!found) {
      const nl = text.indexOf('\n', m.index);
      lineEnd = nl === -1 ? Infinity : nl;
    }
    found = m;
  }
  return found?.[1];
}

/**
 * What the reference's API runner does to a response before extracting (`single_request` in
 * evaluate_from_api.py: `response.replace('**', '')`), so Markdown bold around the letter does not
 * hide it. Applied to responses the evaluator generates; `spark eval score` scores text as given, as
 * compute_accuracy.py does.
 */
export function stripMarkdownBold(response: string): string {
  return response.replaceAll('**', '');
}
