/**
 * Every metric a Prometheus rule or a Grafana dashboard queries is one the services export, read from a
 * real /metrics scrape of all five services started in-process. The names come from the queries
 * themselves (rules.yaml, deploy/grafana/*.json), so there is no second list to keep in step.
 * deploy/metrics-allowlist.json names the exceptions: `external` metrics other exporters provide
 * (Prometheus, kube-state-metrics, DCGM), and `pending` ones a service does not export yet, each with
 * the issue that adds it. Anything else fails, and so does an allow-list entry that is no longer needed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SERVICE_NAMES } from '../services/common/config.js';
import { REPO_ROOT } from '../services/common/paths.js';
import { SERVICES } from '../services/cli/services.js';
import { scrape } from './helpers/metrics.js';
import { startTestService, type TestService } from './helpers/service.js';

interface AllowList { external: Record<string, string>; pending: Record<string, number> }
const allow = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/metrics-allowlist.json'), 'utf8')) as AllowList;

/** PromQL words that are not metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan']);

/** Metric names a PromQL expression reads (Grafana variables and label_values() queries included). */
export function metricNames(expr: string): string[] {
  const labelValues = [...expr.matchAll(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/g)].map((m) => m[1]);
  if (labelValues.length) return labelValues;
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, ' ') // matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{?\w+\}?/g, ' '); // Grafana variables
  const names = [...stripped.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)\s*(\()?/g)]
    .filter((m) => !m[2] && !KEYWORDS.has(m[1].toLowerCase()))
    .map((m) => m[1]);
  return [...new Set(names)];
}

/** Queryable series names from a scrape: counters and gauges by name, histograms as _bucket/_sum/_count. */
export function exportedNames(body: string): Set<string> {
  const out = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    const [, name, type] = m;
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) out.add(name + s);
    else out.add(name);
  }
  return out;
}

interface Use { name: string; where: string }
function usedMetrics(): Use[] {
  const uses: Use[] = [];
  const rules = parseYaml(readFileSync(join(REPO_ROOT, 'deploy/prometheus/rules.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ record?: string; alert?: string; expr: string }> }> };
  for (const r of rules.groups.flatMap((g) => g.rules)) for (const name of metricNames(r.expr)) uses.push({ name, where: `rules.yaml ${r.record ?? r.alert}` });
  const dir = join(REPO_ROOT, 'deploy/grafana');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    for (const p of d.panels) for (const t of p.targets ?? []) for (const name of metricNames(t.expr)) uses.push({ name, where: `${file} "${p.title}"` });
    for (const v of d.templating.list) if (v.type === 'query') for (const name of metricNames(v.definition)) uses.push({ name, where: `${file} variable ${v.name}` });
  }
  return uses;
}

describe('metrics used by rules and dashboards', () => {
  it('reads metric names out of PromQL', () => {
    expect(metricNames('histogram_quantile(0.95, sum by (tool, le) (rate(spark_tool_call_duration_seconds_bucket{namespace=~"$namespace"}[$__rate_interval])))')).toEqual(['spark_tool_call_duration_seconds_bucket']);
    expect(metricNames('sum(rate(a_total{x="y(z)"}[5m])) / clamp_min(sum(rate(b_total[1h] offset 5m)), 1e-9) > 0.1 unless on (job) up')).toEqual(['a_total', 'b_total', 'up']);
    expect(metricNames('spark:judge_error_ratio:rate5m > 0.1')).toEqual(['spark:judge_error_ratio:rate5m']);
    expect(metricNames('label_values(spark_eval_accuracy_ratio, model)')).toEqual(['spark_eval_accuracy_ratio']);
  });

  describe('against a /metrics scrape of all five services', () => {
    const running: TestService[] = [];
    const exported = new Set<string>();
    beforeAll(async () => {
      for (const name of SERVICE_NAMES) running.push(await startTestService(SERVICES[name]));
      for (const s of running) for (const n of exportedNames(await scrape(s.metricsPort))) exported.add(n);
    });
    afterAll(async () => { await Promise.all(running.map((s) => s.stop())); });

    it('scrapes real metrics from every service', () => {
      expect(exported.has('spark_grpc_requests_total')).toBe(true);
      expect(exported.has('spark_grpc_request_duration_seconds_bucket')).toBe(true);
      expect(exported.has('process_cpu_seconds_total')).toBe(true);
    });

    it('uses only metrics the services export, recorded ones, or allow-listed ones', () => {
      const recorded = new Set((parseYaml(readFileSync(join(REPO_ROOT, 'deploy/prometheus/rules.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ record?: string }> }> })
        .groups.flatMap((g) => g.rules).map((r) => r.record).filter((r): r is string => !!r));
      const uses = usedMetrics();
      expect(uses.length).toBeGreaterThan(40);
      const unknown = uses.filter((u) => !exported.has(u.name) && !recorded.has(u.name) && !(u.name in allow.external) && !(u.name in allow.pending));
      expect(unknown.map((u) => `${u.name} (${u.where})`), 'not exported by any service: fix the query, or allow-list it with the issue that adds it').toEqual([]);
    });

    it('keeps the allow-list honest: pending names are not exported yet, every entry is used, issues are numbers', () => {
      const usedNames = new Set(usedMetrics().map((u) => u.name));
      const nowExported = Object.keys(allow.pending).filter((n) => exported.has(n));
      expect(nowExported, 'exported now: remove them from deploy/metrics-allowlist.json "pending"').toEqual([]);
      const unused = [...Object.keys(allow.pending), ...Object.keys(allow.external)].filter((n) => !usedNames.has(n));
      expect(unused, 'allow-listed but used by no rule or dashboard').toEqual([]);
      for (const [name, issue] of Object.entries(allow.pending)) expect(Number.isInteger(issue), name).toBe(true);
      for (const name of Object.keys(allow.external)) expect(name.startsWith('spark'), `${name}: spark metrics come from the services`).toBe(false);
    });
  });
});
