import { describe, expect, it } from 'vitest';
import { resolveInArtifactRoot } from './artifact-path.js';

describe('resolveInArtifactRoot', () => {
  it('resolves relative paths under the root', () => {
    expect(resolveInArtifactRoot('/data/art', 'runs/a/steps.jsonl', 'data.uri')).toBe('/data/art/runs/a/steps.jsonl');
    expect(resolveInArtifactRoot('/data/art', 'runs/../x', 'data.uri')).toBe('/data/art/x');
    expect(resolveInArtifactRoot('/data/art', '.', 'out_dir')).toBe('/data/art');
  });

  it('rejects paths that leave the root, naming the field', () => {
    expect(() => resolveInArtifactRoot('/data/art', '../etc/passwd', 'out_dir')).toThrow('out_dir: "../etc/passwd" leaves the artifact root');
    expect(() => resolveInArtifactRoot('/data/art', '/etc', 'data.uri')).toThrow(/data\.uri/);
    expect(() => resolveInArtifactRoot('/data/art', '../art2/x', 'out_dir')).toThrow(/leaves/);
  });
});
