/**
 * TrajectoryService ListTools / RunTool over real gRPC, plus `spark tools` as users run it: every tool on
 * an MMLU-Pro input (question ids cited per call), the sandbox escape list reported as tool errors with
 * the service still serving, INVALID_ARGUMENT naming the field, NOT_FOUND listing the tools, the
 * caller's lower time limit, metrics, and configuration errors naming the variable.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOL_NAMES } from '../services/common/actions.js';
import { createClient, unary } from '../services/common/client.js';
import { ConfigError } from '../services/common/config.js';
import { TrajectoryServiceClient, type RunToolResponse } from '../services/common/gen/spark/v1/trajectory.js';
import { trajectoryService } from '../services/trajectory/main.js';
import { runSparkAsync } from './helpers/cli.js';
import { sampleValue, scrape } from './helpers/metrics.js';
import { startTestService, tempDir, type TestService } from './helpers/service.js';

let service: TestService;
let client: TrajectoryServiceClient;
const docs = tempDir('spark-tools-docs-');

beforeAll(async () => {
  mkdirSync(docs, { recursive: true });
  writeFileSync(join(docs, 'economics.jsonl'), [
    { title: 'Opportunity cost', text: 'The value of the next-best alternative forgone when a choice is made.' },
    { title: 'Comparative advantage', text: 'The ability to produce a good at a lower opportunity cost than another producer.' },
  ].map((d) => JSON.stringify(d)).join('\n'));
  service = await startTestService(trajectoryService, { env: { SPARK_ENCYCLOPEDIA_DIR: docs, SPARK_SANDBOX_CPU_SECONDS: '3' } });
  client = createClient(TrajectoryServiceClient, service.address);
});

afterAll(async () => {
  client.close();
  await service.stop();
});

const run = (name: string, input: unknown, timeoutMs = 0): Promise<RunToolResponse> =>
  unary(client.runTool.bind(client), { name, inputJson: typeof input === 'string' ? input : JSON.stringify(input), timeoutMs }, { timeoutMs: 60_000 });
const output = async (name: string, input: unknown) => {
  const { toolCall } = await run(name, input);
  expect(toolCall?.error).toBe('');
  return toolCall!.output;
};

describe('ListTools', () => {
  it('declares the 8 built-in tools with JSON schemas', async () => {
    const { tools } = await unary(client.listTools.bind(client), {}, { timeoutMs: 10_000 });
    expect(tools.map((t) => t.name)).toEqual([...TOOL_NAMES]);
    const finance = JSON.parse(tools.find((t) => t.name === 'finance')!.inputSchemaJson) as { oneOf?: unknown[]; anyOf?: unknown[] };
    expect((finance.oneOf ?? finance.anyOf)?.length).toBe(12);
  });
});

describe('RunTool on MMLU-Pro inputs', () => {
  it('runs every tool', async () => {
    // question_id 100: $3,462.20 over 35 months.
    expect(await output('calculator', { expression: '3462.20 / 35' })).toBe('2473/25 ≈ 98.92');
    // question_id 7766: x ≤ 100 with 3^x − x² divisible by 5 → 20 (option D).
    expect(await output('python', { code: 'print(sum(1 for x in range(1, 101) if (3**x - x**2) % 5 == 0))' })).toBe('20');
    // question_id 9020: the roots of 2x² + 15x + 16.
    expect(await output('equation_solver', { operation: 'solve', expression: '2x^2 + 15x + 16 = 0', variable: 'x' })).toMatch(/^x = -15\/4 - sqrt\(97\)\/4; x = -15\/4 \+ sqrt\(97\)\/4/);
    // question_id 9072: 68 °F in °C → 20 (option F).
    expect(await output('unit_converter', { value: 68, from: '°F', to: '°C' })).toBe('68 degF = 20 degC');
    // question_id 3757: nitroglycerin's molar mass → 227 g/mol.
    expect(await output('chemistry', { operation: 'molar_mass', formula: 'C3H5(NO3)3' })).toMatch(/^molar mass of C3H5\(NO3\)3 \(C3H5N3O9\) = 227\.085 g\/mol/);
    // question_id 5913: NPV → $370 (option H).
    expect(await output('finance', { operation: 'npv', rate: 0.1, cashflows: [-11_000, 3_000, 3_000, 3_000, 3_000, 3_000] })).toBe('NPV at 10 % = 372.360308');
    // question_id 10815: E ⊃ F, G ⊃ ~F / ~G ∨ ~E → valid (option E).
    expect(await output('logic', { operation: 'argument', premises: ['E ⊃ F', 'G ⊃ ~F'], conclusion: '~G ∨ ~E' })).toMatch(/^valid/);
    // question_id 6879: opportunity cost, from the configured document folder.
    expect(await output('encyclopedia', { query: 'What is opportunity cost?', k: 1 })).toBe('1. Opportunity cost [economics.jsonl]\nThe value of the next-best alternative forgone when a choice is made.');
  });

  it('returns structured data beside the text', async () => {
    const { toolCall } = await run('chemistry', { operation: 'balance', equation: 'Fe2(SO4)3 + BaCl2 -> BaSO4 + FeCl3' }); // question_id 3952
    expect(toolCall?.output).toBe('Fe2(SO4)3 + 3BaCl2 -> 3BaSO4 + 2FeCl3');
    expect(JSON.parse(toolCall!.structuredJson).products).toEqual([{ formula: 'BaSO4', coefficient: 3 }, { formula: 'FeCl3', coefficient: 2 }]);
    expect(toolCall!.durationMs).toBeGreaterThan(0);
  });
});

describe('sandbox escapes answer OK with tool_call.error, and the service stays up', () => {
  const escapes: Array<[string, string, RegExp]> = [
    ['network access', 'import socket\nsocket.create_connection(("1.1.1.1", 53), timeout=3)', /Network is unreachable|OSError/],
    ['a write outside /tmp', 'open("/usr/lib/evil.py", "w").write("x")', /Read-only file system|Permission denied/],
    ['a fork bomb', 'import os\nwhile True:\n    os.fork()', /process limit of 32 reached/],
    ['an infinite loop', 'while True:\n    pass', /python stopped: CPU time limit of 3 s exceeded/],
    ['a memory bomb', 'x = " " * (8 * 1024 ** 3)', /memory limit of 1024 MiB exceeded/],
  ];
  for (const [what, code, expected] of escapes) {
    it(`stops ${what}`, async () => {
      const { toolCall } = await run('python', { code });
      expect(toolCall?.output).toBe('');
      expect(toolCall?.error).toMatch(expected);
      expect(await output('python', { code: 'print(6 * 7)' })).toBe('42');
    });
  }
});

describe('errors', () => {
  const code = (p: Promise<unknown>) => p.then(() => status.OK, (e: ServiceError) => ({ code: e.code, details: e.details }));

  it('bad input is INVALID_ARGUMENT naming the field', async () => {
    expect(await code(run('finance', { operation: 'npv', rate: 0.1 }))).toEqual({ code: status.INVALID_ARGUMENT, details: 'input_json: finance input: cashflows: Invalid input: expected array, received undefined' });
    expect(await code(run('calculator', '{not json'))).toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringMatching(/^input_json: not valid JSON/) });
  });

  it('an unknown tool is NOT_FOUND listing the tools', async () => {
    expect(await code(run('abacus', {}))).toEqual({ code: status.NOT_FOUND, details: `tool "abacus" not found; available tools: ${TOOL_NAMES.join(', ')}` });
  });

  it('a lower time limit from the caller stops the tool, reported as its error', async () => {
    const { toolCall } = await run('python', { code: 'import time\ntime.sleep(20)' }, 1_000);
    expect(toolCall?.error).toMatch(/^python stopped: wall-clock limit of 1000 ms exceeded/);
  });

  it('counts calls and outcomes in /metrics', async () => {
    const body = await scrape(service.metricsPort);
    expect(sampleValue(body, 'spark_tool_calls_total', { tool: 'python', outcome: 'timeout' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(body, 'spark_tool_calls_total', { tool: 'finance', outcome: 'invalid_input' })).toBe(1);
    expect(sampleValue(body, 'spark_tool_calls_total', { tool: 'calculator', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(body, 'spark_tool_call_duration_seconds_count', { tool: 'python' })).toBeGreaterThanOrEqual(7);
  });

  it('a bad tool setting stops the service from starting, naming the variable', async () => {
    await expect(startTestService(trajectoryService, { env: { SPARK_MCP_SERVERS: '{"x": {"url": "ftp://example"}}' } })).rejects.toThrow(ConfigError);
    await expect(startTestService(trajectoryService, { env: { SPARK_SANDBOX_MEMORY_MB: 'lots' } })).rejects.toThrow(/SPARK_SANDBOX_MEMORY_MB/);
  });
});

describe('spark tools', () => {
  it('lists and runs tools in-process and on a running service', async () => {
    const list = await runSparkAsync(['tools', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[1]).toMatch(/^calculator\s+builtin\s+5 s\s+exact arithmetic/);
    const local = await runSparkAsync(['tools', 'run', 'logic', '--input', JSON.stringify({ operation: 'compare', formulas: ['(~M ⊃ ~N) ∨ (O ≡ N)', '(~M · N) · [(~O ∨ ~N) · (O ∨ N)]'] })]); // question_id 10775
    expect(local).toMatchObject({ code: 0, stdout: 'contradictory; inconsistent (never both true)\n' });
    const remote = await runSparkAsync(['tools', 'run', 'unit_converter', '--address', service.address, '--json', '--input', '{"expression": "30 mph / 8 s to ft/s^2"}']); // question_id 9095
    expect(remote.code).toBe(0);
    expect(JSON.parse(remote.stdout)).toMatchObject({ name: 'unit_converter', error: '', structured: { value: 5.5, unit: 'ft / s^2' } });
  });

  it('exits 1 with the tool\'s error, 2 for bad input', async () => {
    const failed = await runSparkAsync(['tools', 'run', 'calculator', '--input', '{"expression": "1 +"}']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/^calculator failed: cannot evaluate "1 \+"/);
    const bad = await runSparkAsync(['tools', 'run', 'calculator', '--input', '{"expr": "1"}']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/input_json: calculator input/);
  });
});
