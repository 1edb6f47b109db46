/** The `spark` command as a process: config errors, graceful SIGTERM, `spark start`, help. */
import { describe, expect, it } from 'vitest';
import { spawnService } from '../services/common/launcher.js';
import { runSpark } from './helpers/cli.js';
import { tempDir } from './helpers/service.js';

describe('spark serve', () => {
  it('exits non-zero naming the variable and the allowed values for a bad enum', () => {
    const r = runSpark(['serve', 'judge', '--port', '0', '--metrics-port', '0'], { SPARK_TLS: 'maybe' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SPARK_TLS: not one of the allowed values; allowed: off, tls, mtls \(got "maybe"\)/);
  });

  it('exits non-zero naming the variable for a bad number', () => {
    const r = runSpark(['serve', 'dataset'], { SPARK_PORT: '99999' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/SPARK_PORT: .*65535/);
  });

  it('names the flag when the bad value came from a flag', () => {
    const r = runSpark(['serve', 'dataset', '--metrics-port', 'eighty']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--metrics-port');
  });

  it('names the missing files when TLS is on without them', () => {
    const r = runSpark(['serve', 'trainer', '--port', '0', '--metrics-port', '0'], { SPARK_TLS: 'mtls' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('SPARK_TLS_CERT_FILE');
    expect(r.stderr).toContain('SPARK_TLS_CA_FILE');
  });

  it('rejects an unknown service naming the allowed ones', () => {
    const r = runSpark(['serve', 'oracle']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('allowed: dataset, judge, trajectory, trainer, evaluator');
  });

  it('shuts down gracefully on SIGTERM and exits 0', async () => {
    const s = await spawnService('evaluator', { env: { SPARK_ARTIFACT_ROOT: tempDir() } });
    expect(s.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const code = await s.stop();
    expect(code).toBe(0);
    expect(s.recentLogs.join('\n')).toMatch(/"msg":"stopped"/);
  });
});

describe('spark start', () => {
  it('starts the five services on loopback and reports each SERVING', () => {
    const r = runSpark(['start', '--exit-when-healthy', '--artifact-root', tempDir()]);
    expect(r.code).toBe(0);
    for (const name of ['dataset', 'judge', 'trajectory', 'trainer', 'evaluator']) {
      expect(r.stdout).toMatch(new RegExp(`^${name}\\s+127\\.0\\.0\\.1:\\d+\\s+SERVING\\s+http://127\\.0\\.0\\.1:\\d+/metrics$`, 'm'));
    }
  });
});

describe('spark --help', () => {
  it('lists serve, start and the subcommands later milestones add', () => {
    const r = runSpark(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['serve', 'start', 'dataset', 'judge', 'tools', 'trajectory', 'model', 'train', 'eval', 'pipeline', 'doctor']) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
    }
  });
});
