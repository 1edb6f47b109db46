/**
 * The registry and the worker isolation: declarations, validation errors naming the field, unknown
 * tools, every pure-JS tool through its worker, a runaway loop and a memory bomb stopped at their
 * limits with the service still answering, caller cancellation, the rollout's runner view, metrics.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { TOOL_NAMES } from '../../common/actions.js';
import { InvalidArgumentError } from '../../common/errors.js';
import { createLogger } from '../../common/logging.js';
import { toolsConfigSchema } from './config.js';
import { createTools } from './index.js';
import { WorkerPool } from './isolate.js';
import { ToolRegistry, UnknownToolError } from './registry.js';
import { defineTool, inWorker } from './tool.js';

const log = createLogger('test', 'silent');
const tmp = mkdtempSync(join(tmpdir(), 'spark-registry-'));
const metrics = new Registry();
let tools: ToolRegistry;

beforeAll(async () => {
  tools = await createTools(toolsConfigSchema.parse({ encyclopediaIndexDir: join(tmp, 'no-index') }), { log, metrics });
});
afterAll(async () => {
  await tools.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('declarations', () => {
  it('lists the 8 built-in tools in the shared order, each with a JSON schema and a time limit', () => {
    const specs = tools.list();
    expect(specs.map((s) => s.name)).toEqual([...TOOL_NAMES]);
    for (const s of specs) {
      const schema = JSON.parse(s.inputSchemaJson) as { type?: string; properties?: object; oneOf?: unknown[]; anyOf?: unknown[] };
      expect(schema.type === 'object' || Array.isArray(schema.oneOf) || Array.isArray(schema.anyOf)).toBe(true);
      expect(s.timeoutMs).toBeGreaterThan(0);
      expect(s.source).toBe('builtin');
      expect(s.description.length).toBeGreaterThan(20);
    }
    const calc = JSON.parse(specs[0]!.inputSchemaJson) as { properties: { expression: { type: string } }; required: string[] };
    expect(calc.properties.expression.type).toBe('string');
    expect(calc.required).toEqual(['expression']);
  });
});

describe('validation', () => {
  it('names the field of bad input, and the tools when the name is unknown', async () => {
    await expect(tools.run('chemistry', { operation: 'molar_mass' })).rejects.toThrow(new InvalidArgumentError('input_json', 'chemistry input: formula: required for operation molar_mass'));
    await expect(tools.run('finance', { operation: 'npv', rate: 'ten' as unknown as number, cashflows: [1, 2] })).rejects.toThrow(/input_json: finance input: rate: Invalid input: expected number/);
    await expect(tools.run('calculator', '{"expression": ')).rejects.toThrow(/input_json: not valid JSON/);
    await expect(tools.run('calculator', { expression: '1', extra: 2 })).rejects.toThrow(/Unrecognized key: "extra"/);
    const unknown = tools.run('abacus', {});
    await expect(unknown).rejects.toBeInstanceOf(UnknownToolError);
    await expect(unknown).rejects.toThrow(`tool "abacus" not found; available tools: ${TOOL_NAMES.join(', ')}`);
  });

  it('reports bad input and unknown tools as the call\'s error in the rollout view', async () => {
    const runner = tools.asRunner();
    const bad = await runner.run('chemistry', { operation: 'balance' }, new AbortController().signal);
    expect(bad.error).toBe('invalid input: input_json: chemistry input: equation: required for operation balance');
    const unknown = await runner.run('abacus', { x: 1 }, new AbortController().signal);
    expect(unknown).toMatchObject({ name: 'abacus', inputJson: '{"x":1}', output: '' });
    expect(unknown.error).toMatch(/^tool "abacus" not found/);
  });
});

describe('pure-JS tools run in worker threads', () => {
  it('answers through the workers exactly as the functions do', async () => {
    const calls = await Promise.all([
      tools.run('calculator', { expression: '3462.20 / 35' }),
      tools.run('chemistry', { operation: 'molar_mass', formula: 'C3H5(NO3)3' }),
      tools.run('finance', { operation: 'npv', rate: 0.1, cashflows: [-11_000, 3_000, 3_000, 3_000, 3_000, 3_000] }),
      tools.run('logic', { operation: 'argument', premises: ['E ⊃ F', 'G ⊃ ~F'], conclusion: '~G ∨ ~E' }),
      tools.run('unit_converter', { value: 68, from: 'degF', to: 'degC' }),
      tools.run('equation_solver', { operation: 'simplify', expression: 'x + x' }),
    ]);
    expect(calls.map((c) => c.error)).toEqual(['', '', '', '', '', '']);
    expect(calls.map((c) => c.output.split('\n')[0])).toEqual([
      '2473/25 ≈ 98.92',
      'molar mass of C3H5(NO3)3 (C3H5N3O9) = 227.085 g/mol',
      'NPV at 10 % = 372.360308',
      'valid: no row makes every premise true and the conclusion false',
      '68 degF = 20 degC',
      '2 * x',
    ]);
    expect(JSON.parse(calls[0]!.structuredJson)).toEqual({ exact: '2473/25', decimal: '98.92' });
    expect(calls.every((c) => c.durationMs > 0)).toBe(true);
  });

  it('stops a runaway loop and a memory bomb at their limits, and keeps serving', async () => {
    const fixture = join(tmp, 'runaway.mjs');
    writeFileSync(fixture, [
      'export function spin() { for (;;) {} }',
      'export function hog() { const keep = []; for (;;) keep.push(new Array(1e6).fill(Math.random())); }',
      'export function fail() { throw new Error("formula too odd"); }',
    ].join('\n'));
    const url = pathToFileURL(fixture).href;
    const workers = new WorkerPool(1);
    const empty = z.object({}).strict();
    const registry = new ToolRegistry([
      defineTool({ name: 'spin', description: 'loops forever', input: empty, timeoutMs: 500, source: 'builtin', run: inWorker(url, 'spin') }),
      defineTool({ name: 'hog', description: 'eats memory', input: empty, timeoutMs: 60_000, source: 'builtin', run: inWorker(url, 'hog') }),
      defineTool({ name: 'fail', description: 'throws', input: empty, timeoutMs: 5_000, source: 'builtin', run: inWorker(url, 'fail') }),
    ], { workers, log });
    try {
      expect((await registry.run('spin', {})).error).toBe('spin timed out after 500 ms');
      expect((await registry.run('hog', {})).error).toMatch(/memory limit exceeded \(worker heap capped at 256 MiB\)/);
      expect((await registry.run('fail', {})).error).toBe('formula too odd');
      expect((await registry.run('spin', {}, { timeoutMs: 200 })).error).toBe('spin timed out after 200 ms');
    } finally {
      await registry.close();
    }
    expect((await tools.run('calculator', { expression: '6 * 7' })).output).toBe('42');
  });

  it('throws the caller\'s cancellation instead of reporting it as the tool\'s error', async () => {
    const controller = new AbortController();
    const pending = tools.run('python', { code: 'import time\ntime.sleep(30)' }, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('caller went away')), 300);
    await expect(pending).rejects.toThrow('caller went away');
  });
});

describe('metrics', () => {
  it('counts calls by tool and outcome and times them', async () => {
    await tools.run('calculator', { expression: '1 + 1' });
    await tools.run('calculator', { expression: '1 +' });
    await tools.run('calculator', '{}').catch(() => undefined);
    const text = await metrics.metrics();
    expect(text).toMatch(/spark_tool_calls_total\{tool="calculator",outcome="ok"\} \d+/);
    expect(text).toMatch(/spark_tool_calls_total\{tool="calculator",outcome="error"\} [1-9]/);
    expect(text).toMatch(/spark_tool_calls_total\{tool="calculator",outcome="invalid_input"\} [1-9]/);
    expect(text).toMatch(/spark_tool_calls_total\{tool="python",outcome="cancelled"\} 1/);
    expect(text).toMatch(/spark_tool_call_duration_seconds_count\{tool="calculator"\} [1-9]/);
  });
});
