/**
 * The Dockerfiles under deploy/docker and scripts/build-images.sh, checked without a Docker engine or
 * hadolint (neither Debian nor npm ships a runnable hadolint): dockerfile-utils' linter (the validator of
 * VS Code's Dockerfile support) finds no problem, and the images follow the rules the issue sets —
 * multi-stage builds, bases pinned to exact releases, a non-root numeric USER, OCI labels, a
 * .dockerignore that lets in only what the build copies — and the build script tags what the chart pulls.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../services/common/paths.js';

interface Instruction { keyword: string; args: string }

/** Instructions of a Dockerfile: continuation lines joined, comments and blank lines dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (!pending && /^\s*(#|$)/.test(line)) continue;
    if (line.endsWith('\\')) { pending += `${line.slice(0, -1)} `; continue; }
    const full = (pending + line).trim();
    pending = '';
    const [keyword, ...rest] = full.split(/\s+/);
    out.push({ keyword: keyword.toUpperCase(), args: rest.join(' ') });
  }
  return out;
}

/** Instructions after the last FROM: what the shipped image is made of. */
const finalStage = (ins: Instruction[]) => ins.slice(ins.map((i) => i.keyword).lastIndexOf('FROM'));
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

const IMAGES = {
  services: { file: 'deploy/docker/services.Dockerfile', base: /^node:20\.\d+\.\d+-bookworm-slim$/ },
  trainer: { file: 'deploy/docker/trainer.Dockerfile', base: /^pytorch\/pytorch:\d+\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-(devel|runtime)$/ },
} as const;

describe.each(Object.entries(IMAGES))('%s image', (name, { file, base }) => {
  const text = read(file);
  const ins = instructions(text);

  it('lints clean', () => {
    expect(lintDockerfile(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('is a multi-stage build on bases pinned to exact releases or digests', () => {
    const froms = ins.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const defaults = Object.fromEntries(ins.filter((i) => i.keyword === 'ARG' && i.args.includes('=')).map((i) => i.args.split('=') as [string, string]));
    const images = froms.map((f) => f.args.split(/\s+/)[0]).map((ref) => ref.replace(/^\$\{(\w+)\}$/, (_m, arg: string) => defaults[arg] ?? `unresolved ${arg}`));
    const stages = froms.map((f) => f.args.match(/\bAS\s+(\S+)/i)?.[1]).filter(Boolean);
    const external = images.filter((i) => !stages.includes(i));
    expect(external.length).toBeGreaterThan(0);
    for (const ref of external) {
      expect(ref, 'pinned: an exact version tag or a digest').toMatch(/@sha256:[0-9a-f]{64}$|:\d+\.\d+\.\d+[\w.-]*$/);
      expect(ref).not.toMatch(/:latest$/);
    }
    expect(external.some((ref) => base.test(ref)), `a ${base} base`).toBe(true);
    // The final stage is a runtime image, not the build stage.
    expect(froms.at(-1)!.args).not.toMatch(/\bAS\s+build\b/i);
  });

  it('runs as a numeric non-root user with an exec-form entrypoint into bin/spark.js', () => {
    const final = finalStage(ins);
    const user = final.filter((i) => i.keyword === 'USER').at(-1);
    expect(user?.args).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    // The chart's securityContext runs as this uid.
    const values = parseYaml(read('charts/spark/values.yaml'));
    expect(user!.args.split(':')[0]).toBe(String(values.securityContext.runAsUser));
    const entrypoint = final.find((i) => i.keyword === 'ENTRYPOINT');
    expect(JSON.parse(entrypoint!.args)).toEqual(['/usr/bin/tini', '--', 'node', '/app/bin/spark.js']);
  });

  it('carries OCI labels', () => {
    const labels = finalStage(ins).filter((i) => i.keyword === 'LABEL').map((i) => i.args).join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'licenses', 'source']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
  });

  it('installs Debian packages without recommends and drops the package lists in the same layer', () => {
    const installs = ins.filter((i) => i.keyword === 'RUN' && i.args.includes('apt-get install'));
    expect(installs.length).toBeGreaterThan(0);
    for (const r of installs) {
      expect(r.args).toContain('--no-install-recommends');
      expect(r.args).toContain('rm -rf /var/lib/apt/lists/*');
    }
  });

  it('copies only files its .dockerignore lets into the context, and they exist', () => {
    const ignore = read(`${file}.dockerignore`).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    expect(ignore).toContain('services/trainer/native/build/');
    for (const copy of ins.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from'))) {
      const sources = copy.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const src of sources) {
        expect(allowed, `${src} is let in`).toContain(src);
        expect(existsSync(join(REPO_ROOT, src)), `${src} exists`).toBe(true);
      }
    }
  });

  it('builds the libtorch addon with scripts/build-native.sh', () => {
    expect(existsSync(join(REPO_ROOT, 'scripts/build-native.sh'))).toBe(true);
    const build = ins.filter((i) => i.keyword === 'RUN' && i.args.includes('scripts/build-native.sh'));
    expect(build).toHaveLength(1);
    if (name === 'trainer') expect(build[0].args).toMatch(/LIBTORCH_DIR="\$\(python3 -c .*torch.__file__/);
    else expect(text).toContain('libtorch-dev');
  });
});

describe('scripts/build-images.sh', () => {
  const run = (args: string[]) => spawnSync('bash', [join(REPO_ROOT, 'scripts/build-images.sh'), ...args], { encoding: 'utf8' });

  it('builds and pushes both images under the names and tag the chart pulls', () => {
    const r = run(['--dry-run', '--registry', 'registry.example:5000/ml', '--push']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const values = parseYaml(read('charts/spark/values.yaml'));
    const chart = parseYaml(read('charts/spark/Chart.yaml'));
    const expected = [
      ['deploy/docker/services.Dockerfile', `registry.example:5000/ml/${values.image.repository}:${chart.appVersion}`],
      ['deploy/docker/trainer.Dockerfile', `registry.example:5000/ml/${values.trainer.job.image.repository}:${chart.appVersion}`],
    ];
    expect(lines).toHaveLength(2);
    lines.forEach((line, i) => {
      expect(line).toMatch(/^docker buildx build /);
      expect(line).toContain(`--file ${expected[i][0]}`);
      expect(line).toContain(`--tag ${expected[i][1]}`);
      expect(line).toContain('--push');
      expect(line).toMatch(/ \.\s*$/);
    });
  });

  it('refuses bad arguments with a message naming them', () => {
    const only = run(['--only', 'gpu']);
    expect(only.status).toBe(2);
    expect(only.stderr).toContain("--only must be services or trainer (got 'gpu')");
    const push = run(['--push', '--dry-run']);
    expect(push.status).toBe(2);
    expect(push.stderr).toContain('--push needs --registry');
    expect(run(['--only', 'trainer', '--dry-run', '--tag', 'v1']).stdout).toContain('spark-ts/spark-trainer:v1 ');
  });
});
