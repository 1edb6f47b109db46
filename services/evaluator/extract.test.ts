/** Answer extraction against the MMLU-Pro reference: a table of real-looking responses, the literal patterns, and Python itself. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createRng } from '../common/random.js';
import { extractAnswer, PY_WORD, PY_WS, stripMarkdownBold } from './extract.js';

/** [what it shows, response, expected letter (undefined = no answer), rule] */
const TABLE: Array<[string, string, string | undefined, string | undefined]> = [
  ['answer at the end (5-shot CoT)', "Let's think step by step. The force is F = ma = 2 kg × 3 m/s² = 6 N, which is option C. The answer is (C).", 'C', 'answer_is'],
  ['answer without parentheses', 'Both premises hold, so the answer is B', 'B', 'answer_is'],
  ['the first "answer is" wins (re.search)', 'The answer is (B). Wait, I misread the units; the answer is (D).', 'B', 'answer_is'],
  ['"answer is" followed by a word starting with A–J', "The answer is Bernoulli's principle.", 'B', 'answer_is'],
  ['"Answer: C"', 'We compute the molar mass: 12 + 2×1 + 16 = 30 g/mol.\nAnswer: C', 'C', 'answer_colon'],
  ['lowercase "answer:" and whitespace across a newline', 'final answer:\n\n   E', 'E', 'answer_colon'],
  ['several "Answer:" in one line: the last of that line', 'Answer: A or maybe Answer: B\nAnswer: C', 'B', 'answer_colon'],
  ['"Answer:" lines: the first line that has one', 'Step 1 done.\nAnswer: G\nOn reflection, Answer: H', 'G', 'answer_colon'],
  ['bare letter at the end', 'Eliminating the others leaves only one choice: D.', 'D', 'last_letter'],
  ['bare letter, then the pronoun "I" counts as a letter', 'D looks right to me, but I am not sure', 'I', 'last_letter'],
  ['lowercase answer is not extracted by rules 1-2', 'the answer is (c)', undefined, undefined],
  ['lowercase answer falls through to a stray capital', 'I believe the answer is (c)', 'I', 'last_letter'],
  ['no answer at all', 'The velocity is 42 m/s, which matches none of the options exactly.', undefined, undefined],
  ['several letters: the last standalone one', 'Options A and B are wrong; between C and F, F fits better.', 'F', 'last_letter'],
  ['letters inside words do not count', 'ABCDEFGHIJ BAD CAFE', undefined, undefined],
  ['Unicode word boundary: "éA" is one word in Python', 'The option marked éA', undefined, undefined],
  ['Python \\s includes U+0085', 'Answer:\u0085C, though D is close', 'C', 'answer_colon'],
  ['Python \\s excludes U+FEFF', 'Answer:\ufeffC, though D is close', 'D', 'last_letter'],
  ['Python "." crosses U+2028 (no "\\n")', 'Some Answer: A\u2028final Answer: B', 'B', 'answer_colon'],
  ['Python "." crosses "\\r"', 'Answer: A\r\nAnswer: B\rAnswer: C', 'A', 'answer_colon'],
  ['truncated generation (K is not a choice letter)', 'To find the equilibrium constant we first write the expression K = [NO2]^2 / [N2O4] and', undefined, undefined],
];

describe('extractAnswer (MMLU-Pro reference rules)', () => {
  for (const [what, response, letter, rule] of TABLE) {
    it(what, () => {
      const got = extractAnswer(response);
      expect(got.letter).toBe(letter);
      expect(got.rule).toBe(rule);
    });
  }

  it('strips Markdown bold as the reference API runner does', () => {
    // Bold between "answer is" and the letter hides rule 1; only the stray-letter rule finds it.
    expect(extractAnswer('The answer is **(E)**. Not G, as I first thought')).toEqual({ letter: 'I', rule: 'last_letter' });
    expect(extractAnswer(stripMarkdownBold('The answer is **(E)**. Not G, as I first thought'))).toEqual({ letter: 'E', rule: 'answer_is' });
  });
});

/** The reference patterns translated literally (slow, quadratic): the oracle for the linear scans. */
function literalReference(text: string): string | undefined {
  const first = /answer is \(?([A-J])\)?/.exec(text);
  if (first) return first[1];
  const second = new RegExp(`[^\\n]*[aA]nswer:${PY_WS}*([A-J])`, 'u').exec(text);
  if (second) return second[1];
  const standalone = `(?<!${PY_WORD})[A-J](?!${PY_WORD})`;
  const final = new RegExp(`${standalone}(?![\\s\\S]*${standalone})`, 'u').exec(text);
  return final?.[0];
}

/** Random responses built from the pieces the patterns care about. */
function randomResponses(count: number, seed: number): string[] {
  const pieces = ['answer is ', 'Answer:', 'answer: ', 'The answer is (', ')', 'A', 'B', 'C', 'J', 'K', 'a', 'I', 'é', '_', '1',
    ' ', ' ', '\n', '\r', '\t', '\u2028', '\u0085', '\ufeff', '\u00a0', '.', '(', 'so ', 'option ', 'x'];
  const rng = createRng(seed);
  return Array.from({ length: count }, () => Array.from({ length: 1 + rng.int(24) }, () => rng.pick(pieces)).join(''));
}

describe('extractAnswer equals the literal reference patterns', () => {
  it('on 3,000 random responses', () => {
    for (const text of randomResponses(3_000, 7)) expect(extractAnswer(text).letter, JSON.stringify(text)).toBe(literalReference(text));
  });
});

const PYTHON_REFERENCE = String.raw`
import json, re, sys
# TIGER-AI-Lab/MMLU-Pro f418b11, evaluate_from_api.py: extract_answer / extract_again / extract_final
def extract_answer(text):
    match = re.search(r"answer is \(?([A-J])\)?", text)
    return match.group(1) if match else extract_again(text)
def extract_again(text):
    match = re.search(r'.*[aA]nswer:\s*([A-J])', text)
    return match.group(1) if match else extract_final(text)
def extract_final(text):
    match = re.search(r"\b[A-J]\b(?!.*\b[A-J]\b)", text, re.DOTALL)
    return match.group(0) if match else None
print(json.dumps([extract_answer(t) for t in json.load(sys.stdin)]))
`;

const hasPython = spawnSync('python3', ['--version']).status === 0;

describe('extractAnswer equals the reference code run by Python', () => {
  it.skipIf(!hasPython)('on the table and 2,000 random responses (python3 on PATH)', () => {
    const texts = [...TABLE.map((row) => row[1]), ...randomResponses(2_000, 11)];
    const run = spawnSync('python3', ['-c', PYTHON_REFERENCE], { input: JSON.stringify(texts), encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(run.status, run.stderr).toBe(0);
    const expected = JSON.parse(run.stdout) as Array<string | null>;
    texts.forEach((text, i) => expect(extractAnswer(text).letter ?? null, JSON.stringify(text)).toBe(expected[i]));
  });
});
