/** Incremental decoding with the real Llama-3 tokenizer: every prefix reads as decoding it all at once. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/random.js';
import { IncrementalDecoder } from './incremental-decode.js';
import { LlamaTokenizer, PACKAGED_TOKENIZER_DIR } from './tokenizer.js';

const tokenizer = LlamaTokenizer.load(PACKAGED_TOKENIZER_DIR);
const decode = (ids: number[]) => tokenizer.decode(ids);

/** Pushes ids one by one and checks the text after each against a whole decode of the prefix. */
function expectSameAsWhole(ids: readonly number[]) {
  const d = new IncrementalDecoder(decode);
  ids.forEach((id, i) => expect(d.push(id), `after ${i + 1} of ${ids.length} ids`).toBe(decode(ids.slice(0, i + 1))));
}

describe('IncrementalDecoder', () => {
  it('reads like a whole decode over multi-byte characters split across tokens and special tokens', () => {
    const ids = tokenizer.encode('Voilà — 日本語の答えは (B) 🙂🧪 naïve Ωmega<|eot_id|>\n\nQuestion: ¿qué?');
    expect(ids).toContain(128_009);
    // Byte-level tokens: some of them hold only part of a character (decoded alone: U+FFFD).
    expect(ids.some((id) => decode([id]).includes('\uFFFD'))).toBe(true);
    expectSameAsWhole(ids);
  });

  it('reads like a whole decode over random ids, invalid byte sequences included', () => {
    const rng = createRng(7);
    // Mostly single-byte tokens (ids below 256 are the byte alphabet), so characters break everywhere.
    const ids = Array.from({ length: 600 }, () => (rng.float() < 0.7 ? rng.int(256) : rng.int(128_000)));
    expectSameAsWhole(ids);
  });
});
