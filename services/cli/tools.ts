/**
 * `spark tools list` and `spark tools run NAME --input JSON`: the trajectory service's tools by hand,
 * in this process (configured like `spark serve trajectory`: SPARK_PYTHON_BIN, SPARK_ENCYCLOPEDIA_DIR,
 * SPARK_MCP_SERVERS, ...) or on a running service with --address (ListTools / RunTool over gRPC).
 * A tool that fails prints its error on stderr and exits 1; bad input or an unknown tool exits 2.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { createClient, unary } from '../common/client.js';
import { loadConfig } from '../common/config.js';
import type { ToolCall } from '../common/gen/spark/v1/common.js';
import { TrajectoryServiceClient, type ToolSpec } from '../common/gen/spark/v1/trajectory.js';
import { createLogger } from '../common/logging.js';
import { createTools, TOOLS_ENV, toolsConfigSchema, type ToolRegistry } from '../trajectory/tools/index.js';
import { address, wholeNumber } from './options.js';

/** Deadline of a ListTools / RunTool call: the longest tool limit plus the registry's grace. */
const CALL_TIMEOUT_MS = 120_000;

interface CommonFlags { address?: string; json?: boolean }

/** Runs `fn` with the tools of a running service (gRPC) or of this process. */
async function withTools<T>(flags: CommonFlags, remote: (c: TrajectoryServiceClient) => Promise<T>, local: (t: ToolRegistry) => Promise<T>): Promise<T> {
  if (flags.address) {
    const client = createClient(TrajectoryServiceClient, flags.address);
    try { return await remote(client); } finally { client.close(); }
  }
  const config = loadConfig(toolsConfigSchema, { env: process.env, envNames: TOOLS_ENV });
  const tools = await createTools(config, { log: createLogger('tools', 'warn') });
  try { return await local(tools); } finally { await tools.close(); }
}

function printTable(specs: ToolSpec[]): void {
  const width = Math.max(4, ...specs.map((s) => s.name.length));
  const sourceWidth = Math.max(6, ...specs.map((s) => s.source.length));
  process.stdout.write(`${'name'.padEnd(width)}  ${'source'.padEnd(sourceWidth)}  ${'limit'.padStart(7)}  description\n`);
  for (const s of specs) {
    process.stdout.write(`${s.name.padEnd(width)}  ${s.source.padEnd(sourceWidth)}  ${`${s.timeoutMs / 1000} s`.padStart(7)}  ${s.description}\n`);
  }
}

function readInput(value: string): string {
  return value === '-' ? readFileSync(0, 'utf8') : value;
}

export function toolsCommand(): Command {
  const tools = new Command('tools').description('list and run the 8 tools (and configured MCP tools)');

  tools.command('list')
    .description('the tools with their sources, time limits and descriptions (--json adds input schemas)')
    .option('--address <host:port>', 'a running trajectory service (default: the tools of this process)', address('--address'))
    .option('--json', 'print the declarations as JSON')
    .action(async (flags: CommonFlags) => {
      const specs = await withTools(flags,
        async (c) => (await unary(c.listTools.bind(c), {}, { timeoutMs: CALL_TIMEOUT_MS })).tools,
        async (t) => t.list());
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(specs.map((s) => ({ ...s, inputSchema: JSON.parse(s.inputSchemaJson) as unknown, inputSchemaJson: undefined })), null, 2)}\n`);
      } else {
        printTable(specs);
      }
    });

  tools.command('run')
    .description('run one tool, e.g. spark tools run calculator --input \'{"expression": "3/7 * 2^10"}\'')
    .argument('<name>', 'tool name (see spark tools list)')
    .option('--input <json>', 'input object as JSON; "-" reads it from stdin', '{}')
    .option('--timeout-ms <ms>', 'a lower time limit than the tool\'s own', wholeNumber('--timeout-ms', 1, 600_000))
    .option('--address <host:port>', 'a running trajectory service (default: run here)', address('--address'))
    .option('--json', 'print the whole tool call (output, error, duration, structured data) as JSON')
    .action(async (name: string, flags: CommonFlags & { input: string; timeoutMs?: number }) => {
      const inputJson = readInput(flags.input);
      const call: ToolCall = await withTools(flags,
        async (c) => (await unary(c.runTool.bind(c), { name, inputJson, timeoutMs: flags.timeoutMs ?? 0 }, { timeoutMs: CALL_TIMEOUT_MS })).toolCall!,
        (t) => t.run(name, inputJson, { timeoutMs: flags.timeoutMs }));
      if (flags.json) {
        const structured = call.structuredJson ? JSON.parse(call.structuredJson) as unknown : undefined;
        process.stdout.write(`${JSON.stringify({ ...call, structuredJson: undefined, structured }, null, 2)}\n`);
      } else if (!call.error) {
        process.stdout.write(`${call.output}\n`);
      }
      if (call.error) {
        if (!flags.json) process.stderr.write(`${name} failed: ${call.error}\n`);
        process.exitCode = 1;
      }
    });

  return tools;
}
