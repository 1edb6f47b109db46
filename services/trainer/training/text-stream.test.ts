import { describe, expect, it } from 'vitest';
import { TextStreamer } from './text-stream.js';

/** A toy vocabulary: token id → text; id 99 is a stop token, 50 one half of a two-byte character. */
const VOCAB: Record<number, string> = { 1: 'The', 2: ' answer', 3: ' is', 4: ' (', 5: 'B', 6: ')', 7: '\n', 8: 'Question', 9: ':', 10: 'é' };
const decode = (ids: number[]) => ids.map((i) => (i === 50 ? '\uFFFD' : VOCAB[i] ?? '')).join('').replace('\uFFFD\uFFFD', 'é');

function stream(ids: number[], stops: string[]) {
  const s = new TextStreamer(decode, stops, new Set([99]));
  const pieces = ids.map((id) => s.push(id));
  return { pieces, rest: s.finish(), stopped: s.stopped };
}

describe('TextStreamer', () => {
  it('streams the same text a whole-row decode gives, ending before a stop string', () => {
    const r = stream([1, 2, 3, 4, 5, 6, 7, 8, 9, 1], ['\nQuestion:']);
    expect(r.stopped).toBe(true);
    expect(r.pieces.join('') + r.rest).toBe('The answer is (B)');
    // "\n" might begin the stop string: it is held back, then dropped when the stop string completes.
    expect(r.pieces[6]).toBe('');
    expect(r.pieces.slice(0, 6)).toEqual(['The', ' answer', ' is', ' (', 'B', ')']);
  });

  it('releases held-back text that turned out not to be a stop string', () => {
    const r = stream([1, 7, 2], ['\nQuestion:']);
    expect(r.pieces).toEqual(['The', '', '\n answer']);
    expect(r.stopped).toBe(false);
    const end = stream([1, 7], ['\nQuestion:']);
    expect(end.pieces.join('') + end.rest).toBe('The\n');
  });

  it('adds no text for a stop token and holds incomplete characters', () => {
    const r = stream([1, 50, 50, 99, 2], []);
    expect(r.pieces).toEqual(['The', '', 'é', '', '']);
    expect(r.stopped).toBe(true);
  });
});
