/**
 * MCP adapter: the tools of configured Model Context Protocol servers (https://modelcontextprotocol.io;
 * client from @modelcontextprotocol/sdk, which supports Node ≥ 18) become candidate tools like the
 * built-in eight. Each server is started (stdio) or reached (Streamable HTTP) once at service start; its
 * tools are listed, their JSON schemas turned into zod validators (`z.fromJSONSchema`, falling back to
 * "any object" for schemas zod cannot express), and each call goes to `tools/call` with the tool's time
 * limit and the caller's AbortSignal. A server that cannot be reached is logged and skipped: the
 * service still starts with the other tools.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { Logger } from '../../common/logging.js';
import type { McpServerConfig } from './config.js';
import { defineTool, ToolRunError, ToolTimeoutError, type ToolDefinition, type ToolOutput } from './tool.js';

const CLIENT_INFO = { name: 'spark-ts-trajectory', version: '0.1.0' };
/** Longest wait for a server to start and answer `initialize` + `tools/list`. */
const CONNECT_TIMEOUT_MS = 20_000;

interface McpTool { name: string; description?: string; inputSchema: Record<string, unknown> }
interface McpContent { type: string; text?: string; mimeType?: string; resource?: { uri?: string; text?: string } }

/** One connected server and the tools it offers. */
export class McpServerConnection {
  private constructor(readonly name: string, private readonly client: Client, readonly tools: ToolDefinition[]) {}

  /** Connects to `config`, lists its tools (all pages) and wraps each as a ToolDefinition. */
  static async connect(name: string, config: McpServerConfig): Promise<McpServerConnection> {
    const transport: Transport = 'command' in config
      ? new StdioClientTransport({ command: config.command, args: config.args, env: config.env, cwd: config.cwd, stderr: 'ignore' })
      : new StreamableHTTPClientTransport(new URL(config.url), { requestInit: { headers: config.headers } });
    const client = new Client(CLIENT_INFO);
    try {
      await client.connect(transport, { timeout: CONNECT_TIMEOUT_MS });
      const listed: McpTool[] = [];
      let cursor: string | undefined;
      do {
        const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: CONNECT_TIMEOUT_MS });
        listed.push(...(page.tools as McpTool[]));
        cursor = page.nextCursor;
      } while (cursor);
      const conn = new McpServerConnection(name, client, []);
      conn.tools.push(...listed.map((t) => conn.wrap(t, config.timeoutMs)));
      return conn;
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  private wrap(tool: McpTool, timeoutMs: number): ToolDefinition<Record<string, unknown>> {
    return defineTool<Record<string, unknown>>({
      name: tool.name,
      description: tool.description ?? `${tool.name} (MCP server ${this.name})`,
      input: validatorFor(tool.inputSchema),
      inputJsonSchema: tool.inputSchema,
      timeoutMs,
      source: `mcp:${this.name}`,
      run: (input, ctx) => this.call(tool.name, input, ctx.signal, ctx.timeoutMs),
    });
  }

  private async call(name: string, args: Record<string, unknown>, signal: AbortSignal, timeoutMs: number): Promise<ToolOutput> {
    let result: Awaited<ReturnType<Client['callTool']>>;
    try {
      result = await this.client.callTool({ name, arguments: args }, undefined, { signal, timeout: timeoutMs });
    } catch (err) {
      if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) throw new ToolTimeoutError(`timed out after ${timeoutMs} ms (MCP server ${this.name})`, undefined, { cause: err });
      throw err;
    }
    const content = (result.content ?? []) as McpContent[];
    const text = content.map((c) => c.text ?? c.resource?.text ?? `[${c.type}${c.mimeType ? ` ${c.mimeType}` : ''}${c.resource?.uri ? ` ${c.resource.uri}` : ''}]`).join('\n');
    const data = result.structuredContent ?? (content.length ? { content } : undefined);
    if (result.isError) throw new ToolRunError(text || `${name} failed (MCP server ${this.name})`, data);
    return { text, data };
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** zod validator for an MCP input schema; schemas zod cannot read still must be objects. */
function validatorFor(schema: Record<string, unknown>): z.ZodType<Record<string, unknown>> {
  try {
    return z.fromJSONSchema(schema) as z.ZodType<Record<string, unknown>>;
  } catch {
    return z.record(z.string(), z.unknown());
  }
}

/** Connects every configured server in parallel; failures are logged and left out. */
export async function connectMcpServers(servers: Record<string, McpServerConfig>, log: Logger): Promise<McpServerConnection[]> {
  const entries = Object.entries(servers);
  const settled = await Promise.allSettled(entries.map(([name, cfg]) => McpServerConnection.connect(name, cfg)));
  const connected: McpServerConnection[] = [];
  settled.forEach((s, i) => {
    const name = entries[i][0];
    if (s.status === 'fulfilled') {
      log.info({ mcpServer: name, tools: s.value.tools.map((t) => t.name) }, 'MCP server connected');
      connected.push(s.value);
    } else {
      log.error({ mcpServer: name, err: s.reason as Error }, 'MCP server unavailable; its tools are left out');
    }
  });
  return connected;
}

/**
 * Names MCP tools so they never shadow each other or a built-in: a tool keeps its own name unless it is
 * taken, then becomes `<server>__<tool>`.
 */
export function uniqueMcpTools(taken: Iterable<string>, connections: readonly McpServerConnection[]): ToolDefinition[] {
  const used = new Set(taken);
  const out: ToolDefinition[] = [];
  for (const conn of connections) {
    for (const tool of conn.tools) {
      const name = used.has(tool.name) ? `${conn.name}__${tool.name}` : tool.name;
      used.add(name);
      out.push(name === tool.name ? tool : { ...tool, name });
    }
  }
  return out;
}
