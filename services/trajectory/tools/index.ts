/**
 * The trajectory service's tool set: the 8 built-in tools (names and order of TOOL_NAMES in
 * services/common/actions.ts) plus the tools of configured MCP servers, in one ToolRegistry.
 *
 *   const tools = await createTools(config, { log, metrics: registry });
 *   const call = await tools.run('calculator', { expression: '3/7 * 2^10' }, { signal });
 *   await tools.close();
 */
import type { Registry } from 'prom-client';
import { TOOL_NAMES } from '../../common/actions.js';
import type { Logger } from '../../common/logging.js';
import { calculatorTool } from './calculator.js';
import { chemistryTool } from './chemistry.js';
import type { ToolsConfig } from './config.js';
import { Encyclopedia, encyclopediaTool } from './encyclopedia.js';
import { equationSolverTool } from './equation-solver.js';
import { financeTool } from './finance.js';
import { WorkerPool } from './isolate.js';
import { logicTool } from './logic.js';
import { connectMcpServers, uniqueMcpTools } from './mcp.js';
import { PythonSandbox, pythonTool } from './python.js';
import { ToolRegistry } from './registry.js';
import { DEFAULT_SANDBOX_LIMITS } from './sandbox.js';
import type { ToolDefinition } from './tool.js';
import { unitConverterTool } from './unit-converter.js';

export { ToolRegistry, UnknownToolError, type RunToolOptions } from './registry.js';
export { toolsConfigShape, toolsConfigSchema, TOOLS_ENV, type ToolsConfig } from './config.js';

export interface CreateToolsOptions {
  log: Logger;
  /** The service's Prometheus registry (tool call counters and durations). */
  metrics?: Registry;
}

/** Builds the registry; MCP servers are connected before it returns (unreachable ones are skipped). */
export async function createTools(config: ToolsConfig, opts: CreateToolsOptions): Promise<ToolRegistry> {
  const sandbox = new PythonSandbox(config.pythonBin, {
    ...DEFAULT_SANDBOX_LIMITS,
    wallMs: config.sandboxWallMs,
    cpuSeconds: config.sandboxCpuSeconds,
    memoryMb: config.sandboxMemoryMb,
  });
  const encyclopedia = new Encyclopedia({ indexDir: config.encyclopediaIndexDir, docsDir: config.encyclopediaDir, searchUrl: config.encyclopediaSearchUrl });
  const byName: Record<(typeof TOOL_NAMES)[number], ToolDefinition> = {
    calculator: calculatorTool,
    python: pythonTool(sandbox),
    equation_solver: equationSolverTool(sandbox),
    unit_converter: unitConverterTool,
    chemistry: chemistryTool,
    finance: financeTool,
    logic: logicTool,
    encyclopedia: encyclopediaTool(encyclopedia),
  };
  const workers = new WorkerPool(config.toolWorkers);
  const mcp = await connectMcpServers(config.mcpServers, opts.log);
  const builtins = TOOL_NAMES.map((name) => byName[name]);
  const registry = new ToolRegistry([...builtins, ...uniqueMcpTools(TOOL_NAMES, mcp)], {
    workers,
    log: opts.log,
    metrics: opts.metrics,
    onClose: [() => workers.close(), () => encyclopedia.close(), ...mcp.map((c) => () => c.close())],
  });
  void sandbox.probe().then((p) => {
    if (p.ok) { if (p.notes.length) opts.log.warn({ notes: p.notes }, 'python sandbox runs with reduced hardening'); }
    else opts.log.error({ reason: p.reason }, 'python sandbox unavailable: python and equation_solver (solve/integrate) will report errors');
  });
  opts.log.debug({ tools: registry.names(), encyclopedia: encyclopedia.describe() }, 'tools ready');
  return registry;
}
