/**
 * Whole folders written atomically (checkpoints, merged models): the content goes into `<dir>.tmp-<pid>`,
 * every file fsynced by its writer (files.ts, safetensors.ts), the folder fsynced, then renamed into
 * place and the parent fsynced. Readers see the old folder or the complete new one, never a mix; a crash
 * leaves at most a `.tmp-<pid>` / `.old-<pid>` folder, which `removeStaleTemporaries` clears.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Fills a temporary folder with `write`, then swaps it in for `dir` (replacing an existing one). */
export async function writeDirAtomic<R>(dir: string, write: (tmp: string) => Promise<R>): Promise<R> {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  let result: R;
  try {
    result = await write(tmp);
    fsyncDir(tmp);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  if (existsSync(dir)) {
    // rename() cannot replace a non-empty folder: move the old one aside first, then drop it.
    const old = `${dir}.old-${process.pid}`;
    rmSync(old, { recursive: true, force: true });
    renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, dir);
  }
  fsyncDir(parent);
  return result;
}

/** Removes temporary folders a killed writer left in `parent`. */
export function removeStaleTemporaries(parent: string): void {
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    if (/\.(tmp|old)-\d+$/.test(name)) rmSync(join(parent, name), { recursive: true, force: true });
  }
}

/** Whether `name` is a folder `writeDirAtomic` is still writing or dropping. */
export function isTemporary(name: string): boolean {
  return /\.(tmp|old)-\d+$/.test(basename(name));
}
