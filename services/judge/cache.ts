/**
 * The judge's verdict cache: content-addressed, on disk, append-only, shared by every process that points
 * at the same artifact root. A key is the sha256 of everything the verdict depends on (backend and model,
 * prompt version and text hash, the question, the steps so far, the judged step), so a rerun of the same
 * job costs zero judge calls, and changing any of those simply misses.
 *
 * Two writers: the records of one request are one `write()` of whole lines on a file opened with O_APPEND,
 * so lines from two processes interleave whole; a reader skips any line it cannot parse (a torn line from a process killed
 * mid-write) instead of failing. On a miss the file is re-read from where this process last stopped, so
 * verdicts another process wrote meanwhile are found.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../common/logging.js';
import type { Verdict } from './verdict.js';

/** One line of the cache file. Short field names: the file holds ~10⁵ lines for a full run. */
interface CacheRecord {
  /** Key (hex sha256). */
  k: string;
  /** Score, 0..10. */
  s: number;
  /** Rationale. */
  r: string;
  /** Backend that produced it, for people reading the file. */
  b: string;
  /** Written at (ISO time). */
  t: string;
}

/** Reads are done in blocks of this size so a large cache never needs one huge buffer. */
const READ_BLOCK_BYTES = 1 << 20;

/** Everything a verdict depends on. `subject` is the rendered step (or final answer) being judged. */
export interface CacheKeyParts {
  backend: string;
  promptVersion: string;
  promptSha256: string;
  kind: 'candidate' | 'answer';
  question: unknown;
  steps: unknown;
  subject: unknown;
}

/** Hex sha256 of the parts in a fixed order (JSON of an array, so no key-order ambiguity). */
export function cacheKey(p: CacheKeyParts): string {
  return createHash('sha256')
    .update(JSON.stringify([p.backend, p.promptVersion, p.promptSha256, p.kind, p.question, p.steps, p.subject]))
    .digest('hex');
}

export class VerdictCache {
  private readonly entries = new Map<string, Verdict>();
  /** Bytes of the file already read into `entries` (always at a line boundary). */
  private readOffset = 0;
  private skippedLines = 0;

  constructor(readonly path: string, log?: Logger) {
    mkdirSync(dirname(path), { recursive: true });
    this.refresh();
    if (this.skippedLines) log?.warn({ path, skippedLines: this.skippedLines }, 'judge cache: skipped unreadable lines');
    log?.debug({ path, entries: this.entries.size }, 'judge cache loaded');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached verdict for `key`, looking at lines other processes appended since the last read. */
  get(key: string): Verdict | undefined {
    return this.getMany([key])[0];
  }

  /** Verdicts for `keys` (undefined where missing); re-reads the file at most once, only on a miss. */
  getMany(keys: readonly string[]): Array<Verdict | undefined> {
    if (keys.some((k) => !this.entries.has(k)) && this.fileSize() > this.readOffset) this.refresh();
    return keys.map((k) => this.entries.get(k));
  }

  /** Records verdicts: one append of whole lines. */
  putMany(items: ReadonlyArray<{ key: string; verdict: Verdict }>, backend: string): void {
    if (!items.length) return;
    const t = new Date().toISOString();
    let lines = '';
    for (const { key, verdict } of items) {
      this.entries.set(key, verdict);
      const record: CacheRecord = { k: key, s: verdict.score, r: verdict.rationale, b: backend, t };
      lines += `${JSON.stringify(record)}\n`;
    }
    appendFileSync(this.path, lines);
  }

  put(key: string, verdict: Verdict, backend: string): void {
    this.putMany([{ key, verdict }], backend);
  }

  private fileSize(): number {
    return existsSync(this.path) ? statSync(this.path).size : 0;
  }

  /** Reads complete lines appended since `readOffset`; a partial last line waits for the next refresh. */
  private refresh(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'r');
    try {
      let pending = Buffer.alloc(0);
      for (;;) {
        const block = Buffer.alloc(READ_BLOCK_BYTES);
        const n = readSync(fd, block, 0, block.length, this.readOffset + pending.length);
        if (n === 0) break;
        pending = Buffer.concat([pending, block.subarray(0, n)]);
        const lastNewline = pending.lastIndexOf(0x0a);
        if (lastNewline < 0) continue;
        for (const line of pending.subarray(0, lastNewline).toString('utf8').split('\n')) this.ingest(line);
        this.readOffset += lastNewline + 1;
        pending = pending.subarray(lastNewline + 1);
      }
    } finally {
      closeSync(fd);
    }
  }

  private ingest(line: string): void {
    if (!line.trim()) return;
    try {
      const r = JSON.parse(line) as Partial<CacheRecord>;
      if (typeof r.k === 'string' && typeof r.s === 'number' && r.s >= 0 && r.s <= 10) {
        this.entries.set(r.k, { score: r.s, rationale: typeof r.r === 'string' ? r.r : '' });
        return;
      }
    } catch {
      // counted below
    }
    this.skippedLines += 1;
  }
}
