/**
 * File helpers for long jobs: atomic writes (temp file, fsync, rename, fsync the folder) so a crash never
 * leaves a half-written checkpoint or manifest, and append-only JSONL logs read back line by line,
 * ignoring a torn last line left by a kill mid-write.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** Writes `data` to `path` so that readers see either the old file or the whole new one. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dirFd = openSync(dirname(path), 'r');
  try { fsyncSync(dirFd); } finally { closeSync(dirFd); }
}

/** Appends one JSON record as a line. One write call per record keeps concurrent appenders' lines whole. */
export function appendJsonl(path: string, record: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, `${JSON.stringify(record)}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Reads a JSONL file; a torn final line (the process died mid-append) is skipped, other bad lines throw. */
export function readJsonl<T = unknown>(path: string): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      const isTornTail = i === lines.length - 1 && !text.endsWith('\n');
      if (!isTornTail) throw new Error(`${path}:${i + 1}: not valid JSON`, { cause: err });
    }
  });
  return out;
}

/**
 * Makes an append-only JSONL file safe to append to again after a crash: a torn last line (no trailing
 * newline) is cut off, so the next record starts on its own line. Returns the number of bytes removed.
 */
export function repairJsonlTail(path: string): number {
  if (!existsSync(path)) return 0;
  const text = readFileSync(path);
  if (text.length === 0 || text[text.length - 1] === 0x0a) return 0;
  const keep = text.lastIndexOf(0x0a) + 1;
  truncateSync(path, keep);
  return text.length - keep;
}
