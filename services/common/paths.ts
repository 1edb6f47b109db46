/**
 * Where the repository's own files are at run time, whether the code runs from `services/` (vitest,
 * tsx) or from `dist/services/` (the built CLI): walk up from this file to the folder holding `proto/`.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'proto', 'spark', 'v1', 'common.proto'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('spark-ts: cannot find the repository root (a folder holding proto/spark/v1)');
    dir = up;
  }
}

/** The repository (or installed package) root. */
export const REPO_ROOT = findRepoRoot();
/** Root of the .proto files (import paths are relative to it). */
export const PROTO_ROOT = join(REPO_ROOT, 'proto');
