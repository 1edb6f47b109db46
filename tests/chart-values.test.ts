/**
 * values.schema.json: the chart's defaults and both deploy/ values files pass it; a wrong type, an
 * unknown key or an unquoted `off` fails with a message naming the key, in Node (ajv) and at render
 * time (the same check `helm install` makes).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../services/common/paths.js';
import { CHART_DIR, formatAjvErrors, renderRaw } from './helpers/chart.js';

const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
const check = (values: unknown) => (validate(values) ? '' : formatAjvErrors(validate.errors));
const yamlFile = (path: string) => parseYaml(readFileSync(join(REPO_ROOT, path), 'utf8'));

describe('values.schema.json', () => {
  it('accepts the chart defaults and the local and GPU values files', () => {
    for (const file of ['charts/spark/values.yaml', 'deploy/values-local.yaml', 'deploy/values-gpu.yaml']) expect(check(yamlFile(file)), file).toBe('');
  });

  it('rejects a wrong type with the key path and the expected type (ajv)', () => {
    expect(check({ services: { judge: { replicas: 'two' } } })).toBe('/services/judge/replicas must be integer');
    expect(check({ trainer: { job: { gpus: 1.5 } } })).toBe('/trainer/job/gpus must be integer');
    expect(check({ mode: 'serverless' })).toBe('/mode must be equal to one of the allowed values');
    expect(check({ trainer: { job: { shmSize: 16 } } })).toBe('/trainer/job/shmSize must be string');
  });

  it('rejects unknown keys, so a typo does not silently fall back to a default', () => {
    expect(check({ services: { judge: { replicass: 2 } } })).toBe('/services/judge must NOT have additional properties (replicass)');
    expect(check({ monitoring: { enable: false } })).toBe('/monitoring must NOT have additional properties (enable)');
  });

  it('rejects an unquoted off (a YAML boolean) for tls.mode', () => {
    expect(check(parseYaml('tls:\n  mode: off\n', { version: '1.1' }))).toBe('/tls/mode must be string; /tls/mode must be equal to one of the allowed values');
  });

  it('stops rendering (as helm install does) with the key, what was expected and what was given', () => {
    const wrongType = renderRaw(['--set', 'services.judge.replicas=two']);
    expect(wrongType.code).not.toBe(0);
    expect(wrongType.stderr).toContain("values don't meet the specifications of the schema(s)");
    expect(wrongType.stderr).toMatch(/services\.judge\.replicas: Invalid type\. Expected: integer, given: string/);
    const dir = mkdtempSync(join(tmpdir(), 'spark-values-'));
    writeFileSync(join(dir, 'bad.yaml'), 'tls:\n  mode: off\nmonitoring:\n  enable: false\n');
    const fromFile = renderRaw(['-f', join(dir, 'bad.yaml')]);
    expect(fromFile.code).not.toBe(0);
    expect(fromFile.stderr).toMatch(/tls\.mode: Invalid type\. Expected: string, given: boolean/);
    expect(fromFile.stderr).toMatch(/monitoring: Additional property enable is not allowed/);
  });
});
