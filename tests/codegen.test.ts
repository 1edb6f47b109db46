/** The committed generated code must equal what `npm run gen` produces from proto/ now. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../services/common/paths.js';
import { tempDir } from './helpers/service.js';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('generated code', () => {
  it('is current with proto/ (run `npm run gen` when this fails)', () => {
    const out = tempDir('spark-gen-');
    execFileSync('bash', [join(REPO_ROOT, 'scripts/gen.sh'), out], { cwd: REPO_ROOT, stdio: 'pipe' });
    const fresh = join(out, 'services/common/gen');
    const committed = join(REPO_ROOT, 'services/common/gen');
    expect(files(committed)).toEqual(files(fresh));
    for (const f of files(fresh)) {
      expect(readFileSync(join(committed, f), 'utf8'), `services/common/gen/${f} is stale`).toBe(readFileSync(join(fresh, f), 'utf8'));
    }
  });

  it('passes buf lint', () => {
    expect(() => execFileSync('npx', ['buf', 'lint'], { cwd: REPO_ROOT, stdio: 'pipe' })).not.toThrow();
  });
});
