/**
 * `spark pipeline --preset smoke` end to end over real gRPC (five service processes): every stage's
 * artifacts exist and parse, the table has 14 categories × 3 models, a second run resumes without
 * redoing work, and a trainer killed mid-run gives one clear error and a non-zero exit.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJsonl } from '../services/common/files.js';
import { SPARK_BIN } from '../services/common/launcher.js';
import { runSparkAsync } from './helpers/cli.js';
import { tempDir } from './helpers/service.js';

const CATEGORIES = ['biology', 'business', 'chemistry', 'computer science', 'economics', 'engineering', 'health', 'history', 'law', 'math', 'other', 'philosophy', 'physics', 'psychology'];

describe('spark pipeline --preset smoke', () => {
  const run = join(tempDir('spark-pipeline-'), 'run');

  it('runs SPaRK end to end and prints the results table', async () => {
    const r = await runSparkAsync(['pipeline', '--preset', 'smoke', '--out', run], { SPARK_OBSERVE_TARGETS: join(run, '..', 'targets.json') });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // Stage artifacts.
    expect(readJsonl(join(run, 'rollouts', 'trajectories.jsonl'))).toHaveLength(42);
    expect(readJsonl(join(run, 'rollouts', 'steps.jsonl')).length).toBeGreaterThan(42);
    for (const stage of ['pretrain', 'sft', 'spark']) {
      const adapter = join(run, 'train', stage, 'final');
      expect(JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LORA' });
      expect(existsSync(join(adapter, 'adapter_model.safetensors'))).toBe(true);
    }
    expect(existsSync(join(run, 'models', 'base', 'config.json'))).toBe(true);
    expect(readJsonl(join(run, 'eval', 'results.jsonl'))).toHaveLength(28 * 3 * 2);
    const html = readFileSync(join(run, 'eval', 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    // The table: 14 categories, each with a column per model and mode, and the entropy lines.
    const header = r.stdout.split('\n').find((l) => l.startsWith('accuracy'))!;
    expect(header.split(/\s+/).slice(1).sort()).toEqual(['base/cot', 'base/tools', 'sft/cot', 'sft/tools', 'spark/cot', 'spark/tools']);
    for (const c of CATEGORIES) expect(r.stdout).toMatch(new RegExp(`^${c}(\\s+\\d+\\.\\d%){6}$`, 'm'));
    for (const m of ['base', 'sft', 'spark']) expect(r.stdout).toMatch(new RegExp(`^\\s+${m}\\s+\\d+\\.\\d{3} bits`, 'm'));
    expect(r.stdout).toMatch(/SPaRK's tool-selection entropy is (NOT )?above/);
    expect(r.stdout).toMatch(/^report: .*eval\/report\.html$/m);
    const config = JSON.parse(readFileSync(join(run, 'pipeline-config.json'), 'utf8'));
    expect(config).toMatchObject({ config: { preset: 'smoke' }, versions: { node: process.version } });
  }, 900_000);

  it('resumes finished stages instead of redoing them', async () => {
    const before = readFileSync(join(run, 'rollouts', 'trajectories.jsonl'), 'utf8');
    const r = await runSparkAsync(['pipeline', '--preset', 'smoke', '--out', run], { SPARK_OBSERVE_TARGETS: join(run, '..', 'targets.json') });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    for (const stage of ['data', 'rollouts', 'base', 'sft', 'spark', 'eval']) expect(r.stderr).toContain(`✓ ${stage} (done in an earlier run)`);
    expect(r.stderr).not.toMatch(/"progress":/);
    expect(readFileSync(join(run, 'rollouts', 'trajectories.jsonl'), 'utf8')).toBe(before);
  }, 300_000);
});

describe('a service dying mid-run', () => {
  it('stops the pipeline with one line naming the trainer and a non-zero exit', async () => {
    const run = join(tempDir('spark-pipeline-kill-'), 'run');
    const child = spawn(process.execPath, [SPARK_BIN, 'pipeline', '--preset', 'smoke', '--out', run], { env: { ...process.env, SPARK_OBSERVE_TARGETS: join(run, '..', 'targets.json') } });
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!killed && stderr.includes('"progress":"pretrain"')) {
        killed = true;
        // The trainer is the `spark serve trainer` child of this pipeline process.
        const pid = execFileSync('pgrep', ['-P', String(child.pid), '-f', 'serve trainer'], { encoding: 'utf8' }).trim();
        process.kill(Number(pid), 'SIGKILL');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(killed).toBe(true);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/spark: the trainer service was killed by SIGKILL during the run; its last log lines:/);
  }, 300_000);
});
