/**
 * Paths that requests name relative to the artifact root (DESIGN §2: artifacts are addressed by relative
 * URIs). One check for every service: the resolved path must stay inside the root, so a request cannot
 * read or write elsewhere with `../` or an absolute path.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError } from './errors.js';

/** `relPath` resolved under `artifactRoot`; throws InvalidArgumentError naming `field` if it escapes. */
export function resolveInArtifactRoot(artifactRoot: string, relPath: string, field: string): string {
  const root = resolve(artifactRoot);
  const out = resolve(root, relPath);
  if (out !== root && !out.startsWith(`${root}/`)) {
    throw new InvalidArgumentError(field, `${JSON.stringify(relPath)} leaves the artifact root`, 'a relative path under the artifact root');
  }
  return out;
}
