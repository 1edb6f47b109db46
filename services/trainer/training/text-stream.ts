/**
 * Turns a row's generated tokens into text pieces for streaming, with the same result as decoding the
 * whole row at the end (model/generate.ts): stop tokens add no text, and the text ends before the first
 * stop string. A piece is held back while it could still be the start of a stop string (as vLLM does),
 * or while it ends in an incomplete UTF-8 sequence (the decoder shows those bytes as U+FFFD until the
 * next token completes them), so a client never receives text it must take back. The row's text grows
 * incrementally (model/incremental-decode.ts): a new token does not decode the whole row again.
 */
import { IncrementalDecoder } from '../model/incremental-decode.js';

export class TextStreamer {
  private readonly row: IncrementalDecoder;
  private emitted = 0;
  private stoppedByString = false;
  /** True once a stop token or stop string ended the row. */
  stopped = false;

  constructor(
    decode: (ids: number[]) => string,
    private readonly stops: readonly string[],
    private readonly stopIds: ReadonlySet<number>,
  ) {
    this.row = new IncrementalDecoder(decode);
  }

  /** Adds one token; returns the text that can be shown now ('' while held back or after the end). */
  push(token: number): string {
    if (this.stopped) return '';
    if (this.stopIds.has(token)) {
      this.stopped = true;
      return this.finish();
    }
    const text = this.row.push(token);
    const cut = Math.min(...this.stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(cut)) {
      this.stopped = true;
      this.stoppedByString = true;
      return this.take(text, Math.max(cut, this.emitted));
    }
    let safe = text.length;
    while (safe > this.emitted && text[safe - 1] === '\uFFFD') safe--;
    let hold = safe;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, safe - this.emitted); k > 0; k--) {
        if (text.slice(safe - k, safe) === s.slice(0, k)) {
          hold = Math.min(hold, safe - k);
          break;
        }
      }
    }
    return this.take(text, hold);
  }

  /** The text still held back when the row ends (none after a stop string). */
  finish(): string {
    if (this.stoppedByString) return '';
    return this.take(this.row.text, Infinity);
  }

  private take(text: string, upTo: number): string {
    const end = Math.min(upTo, text.length);
    if (end <= this.emitted) return '';
    const piece = text.slice(this.emitted, end);
    this.emitted = end;
    return piece;
  }
}
