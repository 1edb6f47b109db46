/**
 * Coalesces concurrent generation calls for one model into batched calls: TrainerService.Generate
 * decodes all conversations of a request as one batch with one KV cache, so N questions in flight take
 * about one call's decoding steps instead of N calls' worth. Calls with identical sampling settings queue together; a queue
 * goes as one batch once `maxBatch` calls wait, or `windowMs` after its first call arrived — but while a
 * batch of the same settings is still running, the queue keeps filling until `windowMs` after it ends.
 * (Otherwise calls arriving one by one during a long batch would each go alone, side by side.) Each
 * caller gets its own row, demultiplexed by the row index, as soon as that row finishes.
 *
 * A caller that is cancelled leaves: it is rejected at once and its row is ignored (when every caller of
 * a batch has left, the call is cancelled too). A failed call fails every caller still waiting on it.
 * Calls marked `alone` go at once in a batch of their own.
 */
import { CancelledError } from '../common/errors.js';

export interface BatchingOptions {
  /** Calls per batch at most (1 = no batching). */
  maxBatch: number;
  /** How long the first waiting call waits for others, ms. */
  windowMs: number;
}

/** One streamed piece of a batch: a row's next text, and whether the row is done. */
export interface BatchPiece {
  index: number;
  text: string;
  finished: boolean;
}

/** A row's result: its text and its completion tokens. */
export interface BatchRow {
  text: string;
  tokens: number;
}

/** Sends one batch (settings shared, one conversation per row) and streams its pieces. */
export type SendBatch<C, S> = (conversations: C[], settings: S, signal: AbortSignal) => AsyncIterable<BatchPiece>;

export interface BatchStats {
  /** generate() calls. */
  calls: number;
  /** Batches sent (each one upstream call). */
  batches: number;
  /** Rows of the largest batch so far. */
  largestBatch: number;
}

interface Waiter<C> {
  conversation: C;
  text: string;
  tokens: number;
  settled: boolean;
  resolve(row: BatchRow): void;
  reject(err: unknown): void;
  /** Takes the waiter out of its queue or batch when its caller is cancelled. */
  onAbort(): void;
}

interface Queue<C, S> {
  settings: S;
  waiting: Waiter<C>[];
  /** Batches of these settings still streaming. */
  running: number;
  timer?: NodeJS.Timeout;
}

export class GenerateBatcher<C, S> {
  private readonly queues = new Map<string, Queue<C, S>>();
  private readonly counts: BatchStats = { calls: 0, batches: 0, largestBatch: 0 };

  constructor(private readonly send: SendBatch<C, S>, private readonly options: BatchingOptions) {}

  get stats(): BatchStats {
    return { ...this.counts };
  }

  /** Generates one conversation's continuation, batched with concurrent calls of the same settings. */
  generate(conversation: C, settings: S, signal: AbortSignal, opts: { alone?: boolean } = {}): Promise<BatchRow> {
    if (signal.aborted) return Promise.reject(signal.reason ?? new CancelledError());
    this.counts.calls += 1;
    return new Promise<BatchRow>((resolve, reject) => {
      const waiter: Waiter<C> = {
        conversation, text: '', tokens: 0, settled: false,
        resolve: (row) => settle(() => resolve(row)),
        reject: (err) => settle(() => reject(err)),
        onAbort: () => undefined,
      };
      const settle = (finish: () => void) => {
        if (waiter.settled) return;
        waiter.settled = true;
        signal.removeEventListener('abort', abort);
        finish();
      };
      const abort = () => {
        waiter.onAbort();
        waiter.reject(signal.reason ?? new CancelledError());
      };
      signal.addEventListener('abort', abort, { once: true });
      if (opts.alone || this.options.maxBatch <= 1) this.dispatch([waiter], settings, () => undefined);
      else this.enqueue(waiter, settings);
    });
  }

  private enqueue(waiter: Waiter<C>, settings: S): void {
    // Identical settings, identical key: the settings are plain data built by one code path.
    const key = JSON.stringify(settings);
    let q = this.queues.get(key);
    if (!q) {
      q = { settings, waiting: [], running: 0 };
      this.queues.set(key, q);
    }
    const queue = q;
    queue.waiting.push(waiter);
    waiter.onAbort = () => {
      queue.waiting = queue.waiting.filter((w) => w !== waiter);
      this.schedule(key, queue);
    };
    this.schedule(key, queue);
  }

  /** Sends a full batch now, or times the next one; forgets a queue with nothing waiting or running. */
  private schedule(key: string, q: Queue<C, S>): void {
    while (q.waiting.length >= this.options.maxBatch) this.flush(key, q);
    if (q.waiting.length === 0) {
      clearTimeout(q.timer);
      q.timer = undefined;
      if (q.running === 0 && this.queues.get(key) === q) this.queues.delete(key);
      return;
    }
    if (q.running === 0 && !q.timer) q.timer = setTimeout(() => this.flush(key, q), this.options.windowMs);
  }

  private flush(key: string, q: Queue<C, S>): void {
    clearTimeout(q.timer);
    q.timer = undefined;
    const batch = q.waiting.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    q.running += 1;
    this.dispatch(batch, q.settings, () => {
      q.running -= 1;
      this.schedule(key, q);
    });
  }

  /** Sends one batch and hands each row to its caller as it finishes; `done` when the call is over. */
  private dispatch(batch: Waiter<C>[], settings: S, done: () => void): void {
    this.counts.batches += 1;
    this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
    const call = new AbortController();
    const open = () => batch.filter((w) => !w.settled);
    for (const w of batch) {
      w.onAbort = () => {
        // The row is ignored from now on; with nobody left, the call itself stops.
        queueMicrotask(() => { if (open().length === 0) call.abort(new CancelledError('every caller of the batch was cancelled')); });
      };
    }
    void (async () => {
      try {
        for await (const piece of this.send(batch.map((w) => w.conversation), settings, call.signal)) {
          const w = batch[piece.index];
          if (!w || w.settled) continue;
          w.text += piece.text;
          // A row's last piece is a token too unless it is only the end marker (a stop token adds no text).
          if (piece.text || !piece.finished) w.tokens += 1;
          if (piece.finished) w.resolve({ text: w.text, tokens: w.tokens });
          if (open().length === 0) break;
        }
        for (const w of open()) w.reject(new Error(`the generation stream ended before row ${batch.indexOf(w)} of ${batch.length} finished`));
      } catch (err) {
        for (const w of open()) w.reject(err);
      } finally {
        done();
      }
    })();
  }
}
