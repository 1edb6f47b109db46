/**
 * The text of a growing row of token ids, for work proportional to its newest tokens rather than its
 * length. Decoding the whole row again at every new token costs O(n²): 3 s of main-thread time over one
 * 2,048-token row with the Llama-3 tokenizer, for each consumer (the stop-string check and the streamer).
 *
 * Why a prefix can be kept: byte-level BPE (Llama 3's decoder) turns each token into bytes on its own,
 * and UTF-8 text that ends on a whole character decodes the same whatever bytes follow. So once the
 * decoded text does not end in U+FFFD (what the decoder shows for an unfinished character), the ids so
 * far are settled: later text is their text plus the decoding of the ids after them.
 */

export class IncrementalDecoder {
  private readonly ids: number[] = [];
  /** ids[0, settled) decode to `settledText`, which ends on a whole character. */
  private settled = 0;
  private settledText = '';
  /** The text of every id pushed so far, as decoding them all at once gives it. */
  text = '';

  constructor(private readonly decode: (ids: number[]) => string) {}

  /** Appends one id; returns the text of the whole row. */
  push(id: number): string {
    this.ids.push(id);
    const tail = this.decode(this.ids.slice(this.settled));
    this.text = this.settledText + tail;
    if (!tail.endsWith('\uFFFD')) {
      this.settled = this.ids.length;
      this.settledText = this.text;
    }
    return this.text;
  }
}
