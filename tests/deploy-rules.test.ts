/**
 * deploy/prometheus/rules.yaml: valid for Prometheus (`promtool check rules`), behaving as intended
 * (`promtool test rules` on deploy/prometheus/rules.test.yaml), covering what the dashboards and the
 * issue need, and the very file the chart's PrometheusRule is made from.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../services/common/paths.js';

const RULES = join(REPO_ROOT, 'deploy/prometheus/rules.yaml');

function promtool(args: string[]) {
  const r = spawnSync('promtool', args, { cwd: join(REPO_ROOT, 'deploy/prometheus'), encoding: 'utf8' });
  if (r.error) throw new Error(`promtool not runnable (${r.error.message}): scripts/setup.sh installs Debian's prometheus package`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

interface Rule { record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string> }
const groups = (parseYaml(readFileSync(RULES, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups;
const rules = groups.flatMap((g) => g.rules);

describe('Prometheus rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', 'rules.yaml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('pass their promtool unit tests (alerts fire past their bounds, recordings compute what dashboards plot)', () => {
    const r = promtool(['test', 'rules', 'rules.test.yaml']);
    expect(r.out).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('catch a broken rule (promtool is really checking)', () => {
    const r = spawnSync('promtool', ['check', 'rules'], { input: 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: rate(spark_train_kl[5m]\n', encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });

  it('record accuracy per category, entropy, judge error rate and cost rate', () => {
    const recorded = rules.map((r) => r.record).filter(Boolean);
    for (const name of ['spark:eval_accuracy_ratio:by_model_category', 'spark:eval_tool_entropy_bits:by_model', 'spark:tool_selection_entropy_bits:avg', 'spark:judge_error_ratio:rate5m', 'spark:judge_cost_usd_per_hour:rate1h']) {
      expect(recorded).toContain(name);
    }
  });

  it('alert on KL above bound, clip fraction, entropy collapse, judge errors, failed training Jobs and down services', () => {
    const alerts: Record<string, Rule> = Object.fromEntries(rules.filter((r) => r.alert).map((r) => [r.alert, r]));
    expect(Object.keys(alerts).sort()).toEqual([
      'SparkClipFracHigh', 'SparkJudgeCostHigh', 'SparkJudgeErrorRateHigh', 'SparkKLDivergenceHigh', 'SparkPolicyEntropyCollapse',
      'SparkServiceDown', 'SparkToolSelectionEntropyLow', 'SparkTrainingJobFailed',
    ]);
    expect(alerts.SparkKLDivergenceHigh.expr).toContain('spark_train_kl');
    expect(alerts.SparkClipFracHigh.expr).toContain('spark_train_clipfrac');
    expect(alerts.SparkPolicyEntropyCollapse.expr).toContain('spark_train_entropy');
    expect(alerts.SparkTrainingJobFailed.expr).toContain('kube_job_status_failed');
    for (const a of Object.values(alerts)) expect(['info', 'warning', 'critical']).toContain(a.labels?.severity);
  });

  it('are the chart\'s own file (deploy/ holds the same rules and dashboards as charts/spark/files)', () => {
    const same = (a: string, b: string) => expect(readFileSync(join(REPO_ROOT, a), 'utf8'), `${a} = ${b}`).toBe(readFileSync(join(REPO_ROOT, b), 'utf8'));
    same('deploy/prometheus/rules.yaml', 'charts/spark/files/prometheus/rules.yaml');
    for (const d of ['training', 'rollouts', 'evaluation']) same(`deploy/grafana/spark-${d}.json`, `charts/spark/files/grafana/spark-${d}.json`);
  });
});
