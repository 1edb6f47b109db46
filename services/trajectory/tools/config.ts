/**
 * Tool settings of the trajectory service (validated once with zod, with the server settings), and the
 * environment variables that feed them. `services/trajectory/config.ts` spreads `toolsConfigShape` into
 * the service's schema; the CLI reads the same schema for `spark tools run` in-process.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from '../../common/paths.js';
import { DEFAULT_SANDBOX_LIMITS } from './sandbox.js';

/** One MCP server: a command speaking MCP on stdio, or a Streamable HTTP endpoint. */
export const mcpServerSchema = z.union([
  z.object({
    command: z.string().min(1).describe('Program to start (MCP over stdio)'),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).optional().describe('Environment of the program (default: a minimal safe one)'),
    cwd: z.string().optional(),
    timeoutMs: z.number().int().positive().default(30_000).describe('Time limit per tool call'),
  }).strict(),
  z.object({
    url: z.url({ protocol: /^https?$/ }).describe('Streamable HTTP endpoint of the server'),
    headers: z.record(z.string(), z.string()).optional().describe('Extra HTTP headers, e.g. authorization'),
    timeoutMs: z.number().int().positive().default(30_000),
  }).strict(),
]);
export type McpServerConfig = z.infer<typeof mcpServerSchema>;

/** Server name → server; names become the ToolSpec source `mcp:<name>`. */
export const mcpServersSchema = z.record(z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, _ and - only'), mcpServerSchema);

/** A JSON text (from the environment) or an object (from code) for the MCP server table. */
const mcpServersField = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  try { return JSON.parse(v); } catch { return v; } // the schema then reports "expected record"
}, mcpServersSchema);

export const toolsConfigShape = {
  pythonBin: z.string().min(1).default('/usr/bin/python3').describe('Python inside the sandbox (Debian\'s, so python3-numpy/sympy/scipy import)'),
  sandboxWallMs: z.coerce.number().int().min(1_000).max(300_000).default(DEFAULT_SANDBOX_LIMITS.wallMs).describe('Wall-clock limit of one sandboxed Python run'),
  sandboxCpuSeconds: z.coerce.number().int().min(1).max(300).default(DEFAULT_SANDBOX_LIMITS.cpuSeconds).describe('CPU-time limit of one sandboxed Python run'),
  sandboxMemoryMb: z.coerce.number().int().min(128).max(16_384).default(DEFAULT_SANDBOX_LIMITS.memoryMb).describe('Address-space limit per sandboxed process'),
  toolWorkers: z.coerce.number().int().min(1).max(16).default(2).describe('Worker threads for the pure-JS tools (calls beyond queue)'),
  encyclopediaIndexDir: z.string().min(1).default(join(REPO_ROOT, '.spark', 'encyclopedia')).describe('Folder of the default encyclopedia index (built by scripts/setup.sh)'),
  encyclopediaDir: z.string().min(1).optional().describe('Folder of .txt/.md/.jsonl documents that replaces the default encyclopedia corpus'),
  encyclopediaSearchUrl: z.string().url().optional().describe('Web-search HTTP endpoint (SearxNG JSON API) answering instead of a local corpus'),
  mcpServers: mcpServersField.default({}).describe('MCP servers whose tools become candidates: JSON {"name": {"command": ..., "args": [...]} | {"url": ...}}'),
} as const;

export const TOOLS_ENV: Record<keyof typeof toolsConfigShape, string> = {
  pythonBin: 'SPARK_PYTHON_BIN',
  sandboxWallMs: 'SPARK_SANDBOX_WALL_MS',
  sandboxCpuSeconds: 'SPARK_SANDBOX_CPU_SECONDS',
  sandboxMemoryMb: 'SPARK_SANDBOX_MEMORY_MB',
  toolWorkers: 'SPARK_TOOL_WORKERS',
  encyclopediaIndexDir: 'SPARK_ENCYCLOPEDIA_INDEX',
  encyclopediaDir: 'SPARK_ENCYCLOPEDIA_DIR',
  encyclopediaSearchUrl: 'SPARK_ENCYCLOPEDIA_SEARCH_URL',
  mcpServers: 'SPARK_MCP_SERVERS',
};

export const toolsConfigSchema = z.object(toolsConfigShape).strict();
export type ToolsConfig = z.infer<typeof toolsConfigSchema>;
