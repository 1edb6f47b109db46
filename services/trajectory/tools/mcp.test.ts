/**
 * The MCP adapter against a real MCP server: a tiny stdio server written here with the SDK's McpServer
 * (spawned as a child process), listed and called through the same registry as the built-in tools,
 * including a name clash with a built-in, an error result, a timeout, and an unreachable server.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/logging.js';
import { toolsConfigSchema } from './config.js';
import { createTools } from './index.js';
import { connectMcpServers } from './mcp.js';
import type { ToolRegistry } from './registry.js';

const require = createRequire(import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'spark-mcp-'));
const serverScript = join(tmp, 'server.cjs');
const log = createLogger('test', 'silent');

/** An MCP server over stdio with four tools; `calculator` clashes with the built-in one. */
const SERVER_SOURCE = `
const { McpServer } = require(${JSON.stringify(require.resolve('@modelcontextprotocol/sdk/server/mcp.js'))});
const { StdioServerTransport } = require(${JSON.stringify(require.resolve('@modelcontextprotocol/sdk/server/stdio.js'))});
const { z } = require(${JSON.stringify(require.resolve('zod'))});
const server = new McpServer({ name: 'toy-science', version: '1.0.0' });
server.registerTool('ideal_gas_moles', {
  description: 'Moles of an ideal gas from pressure (atm), volume (L) and temperature (K): n = PV/RT',
  inputSchema: { p_atm: z.number().positive(), v_l: z.number().positive(), t_k: z.number().positive() },
}, async ({ p_atm, v_l, t_k }) => {
  const n = (p_atm * v_l) / (0.082057366 * t_k);
  return { content: [{ type: 'text', text: 'n = ' + n.toFixed(4) + ' mol' }], structuredContent: { moles: n } };
});
server.registerTool('calculator', { description: 'toy adder', inputSchema: { a: z.number(), b: z.number() } },
  async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
server.registerTool('always_fails', { description: 'reports an error result', inputSchema: {} },
  async () => ({ isError: true, content: [{ type: 'text', text: 'the instrument is offline' }] }));
server.registerTool('slow', { description: 'answers after ms milliseconds', inputSchema: { ms: z.number() } },
  async ({ ms }) => { await new Promise((r) => setTimeout(r, ms)); return { content: [{ type: 'text', text: 'done' }] }; });
server.connect(new StdioServerTransport());
`;

let tools: ToolRegistry;

beforeAll(async () => {
  writeFileSync(serverScript, SERVER_SOURCE);
  const mcpServers = JSON.stringify({
    toy: { command: process.execPath, args: [serverScript], timeoutMs: 3_000 },
    broken: { command: join(tmp, 'no-such-program') },
  });
  tools = await createTools(toolsConfigSchema.parse({ mcpServers, encyclopediaIndexDir: join(tmp, 'none') }), { log });
});

afterAll(async () => {
  await tools.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('MCP tools', () => {
  it('lists the server\'s tools after the built-in ones, renaming the one that clashes', () => {
    const mcp = tools.list().filter((t) => t.source === 'mcp:toy');
    expect(mcp.map((t) => t.name)).toEqual(['ideal_gas_moles', 'toy__calculator', 'always_fails', 'slow']);
    expect(tools.list().find((t) => t.name === 'calculator')?.source).toBe('builtin');
    const schema = JSON.parse(mcp[0]!.inputSchemaJson) as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(['p_atm', 'v_l', 't_k']);
    expect(mcp[0]!.timeoutMs).toBe(3_000);
    // The unreachable server is left out; the service still has its other tools.
    expect(tools.list().some((t) => t.source === 'mcp:broken')).toBe(false);
  });

  it('calls a tool: 1 atm, 22.414 L at 273.15 K is one mole', async () => {
    const call = await tools.run('ideal_gas_moles', { p_atm: 1, v_l: 22.414, t_k: 273.15 });
    expect(call.error).toBe('');
    expect(call.output).toBe('n = 1.0000 mol');
    expect(JSON.parse(call.structuredJson).moles).toBeCloseTo(1, 3);
    expect((await tools.run('toy__calculator', { a: 2, b: 40 })).output).toBe('42');
  });

  it('validates input against the server\'s schema before calling', async () => {
    await expect(tools.run('ideal_gas_moles', { p_atm: 1, v_l: 'a lot', t_k: 273 })).rejects.toThrow(/input_json: ideal_gas_moles input: v_l: Invalid input: expected number/);
  });

  it('reports an error result and a timeout as the call\'s error', async () => {
    expect((await tools.run('always_fails', {})).error).toBe('the instrument is offline');
    const slow = await tools.run('slow', { ms: 10_000 }, { timeoutMs: 300 });
    expect(slow.error).toBe('slow timed out after 300 ms (MCP server toy)');
    expect((await tools.run('slow', { ms: 10 })).output).toBe('done');
  });

  it('connects servers on their own and closes them', async () => {
    const [conn] = await connectMcpServers({ toy: { command: process.execPath, args: [serverScript], timeoutMs: 1_000 } }, log);
    expect(conn!.tools.map((t) => t.name)).toContain('slow');
    await conn!.close();
  });
});

describe('MCP tools over Streamable HTTP', () => {
  it('lists and calls the tools of an HTTP MCP server given by url', async () => {
    const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
    const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
    const { z } = await import('zod');
    const { createServer } = await import('node:http');
    // Stateless mode: a fresh server and transport per request, as the SDK documents it.
    const http = createServer(async (req, res) => {
      const server = new McpServer({ name: 'http-toy', version: '1.0.0' });
      server.registerTool('double', { description: 'doubles x', inputSchema: { x: z.number() } },
        async ({ x }) => ({ content: [{ type: 'text', text: String(2 * x) }] }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => { void transport.close(); void server.close(); });
      await server.connect(transport);
      let body = '';
      for await (const chunk of req) body += chunk;
      await transport.handleRequest(req, res, body ? JSON.parse(body) : undefined);
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/mcp`;
    const viaHttp = await createTools(toolsConfigSchema.parse({ mcpServers: JSON.stringify({ web: { url } }), encyclopediaIndexDir: join(tmp, 'none') }), { log });
    try {
      expect(viaHttp.list().filter((t) => t.source === 'mcp:web').map((t) => t.name)).toEqual(['double']);
      expect((await viaHttp.run('double', { x: 21 })).output).toBe('42');
    } finally {
      await viaHttp.close();
      http.close();
    }
  });
});
