/**
 * TrajectoryService handlers: thin decode → one module call → encode. Tools: ListTools / RunTool over
 * the ToolRegistry (tools/); jobs: the shared WatchJob / GetJob / CancelJob. A tool that fails at run
 * time answers OK with `tool_call.error`; bad input is INVALID_ARGUMENT, an unknown tool NOT_FOUND
 * (both thrown by the registry and mapped once in services/common/errors.ts).
 */
import type { ListToolsResponse, RunToolRequest, RunToolResponse } from '../common/gen/spark/v1/trajectory.js';
import type { CallContext } from '../common/handlers.js';
import { jobHandlers } from '../common/jobs.js';
import type { ServiceDeps } from '../common/service.js';
import type { TrajectoryServiceConfig } from './config.js';
import { createTools, type ToolRegistry } from './tools/index.js';

/** Tool sets of the services started in this process, released by `closeTrajectoryTools` at shutdown. */
const open = new Set<ToolRegistry>();

export function toolHandlers(tools: ToolRegistry) {
  return {
    listTools: (): ListToolsResponse => ({ tools: tools.list() }),
    runTool: async (req: RunToolRequest, ctx: CallContext): Promise<RunToolResponse> =>
      ({ toolCall: await tools.run(req.name, req.inputJson, { signal: ctx.signal, timeoutMs: req.timeoutMs }) }),
  };
}

export async function createTrajectoryHandlers({ config, log, metrics, jobs }: ServiceDeps<TrajectoryServiceConfig>) {
  const tools = await createTools(config, { log, metrics: metrics.registry });
  open.add(tools);
  return { ...jobHandlers(jobs), ...toolHandlers(tools) };
}

/** Stops tool workers and MCP servers (the service's onShutdown). */
export async function closeTrajectoryTools(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((t) => t.close()));
}
