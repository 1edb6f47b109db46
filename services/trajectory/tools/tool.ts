/**
 * What a tool is (issue 6): a name, a description shown to the model, a zod input schema (exported as
 * JSON schema for ListTools and the system prompt), a time limit, and a `run` that returns text for the
 * model plus optional structured data for programs. Built-in tools and MCP tools share this shape, so the
 * registry, the rollout engine and the evaluator treat them alike.
 */
import { z } from 'zod';
import type { WorkerPool } from './isolate.js';

/** What a tool returns: text shown to the model and, optionally, JSON-able data for programs. */
export interface ToolOutput {
  text: string;
  data?: unknown;
}

/** What `run` gets besides its input. */
export interface ToolContext {
  /** Aborted when the caller cancels, or at the registry's backstop (time limit + grace); stop on it. */
  signal: AbortSignal;
  /**
   * The time limit of this call, milliseconds (the tool's own or the caller's lower one). Each tool
   * enforces it on its own work and throws ToolTimeoutError, so start-up costs (a worker importing
   * mathjs, the first index load) do not count against it.
   */
  timeoutMs: number;
  /** Worker threads for pure-JS tools (see isolate.ts). */
  workers: WorkerPool;
}

export interface ToolDefinition<I = unknown> {
  name: string;
  description: string;
  /** Validates and normalises the input; its issues become INVALID_ARGUMENT naming the field. */
  input: z.ZodType<I>;
  /** JSON schema of the input; defaults to `z.toJSONSchema(input)` (MCP tools pass the server's own). */
  inputJsonSchema?: Record<string, unknown>;
  /** Time limit per call, milliseconds. */
  timeoutMs: number;
  /** "builtin" or "mcp:<server>". */
  source: string;
  /** Runs the tool. Throw `ToolRunError` (or any error) for a failure reported to the model. */
  run(input: I, ctx: ToolContext): Promise<ToolOutput>;
}

/**
 * Thrown by a tool when it ran but could not produce an answer (no solution, sandbox limit hit, bad
 * formula found while computing). RunTool answers OK with `tool_call.error` set: the model sees it.
 */
export class ToolRunError extends Error {
  override readonly name: string = 'ToolRunError';
  constructor(message: string, readonly data?: unknown, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Thrown by a tool that stopped at its time limit (the worker pool's clock, the sandbox's CPU or wall
 * clock, an MCP request timeout). Counted as outcome "timeout"; the message follows the tool's name.
 */
export class ToolTimeoutError extends ToolRunError {
  override readonly name = 'ToolTimeoutError';
}

/** Identity helper that keeps the input type of a tool definition. */
export function defineTool<I>(tool: ToolDefinition<I>): ToolDefinition<I> {
  return tool;
}

/** The JSON schema advertised for a tool's input (the shape the model must produce). */
export function inputSchemaOf(tool: ToolDefinition): Record<string, unknown> {
  if (tool.inputJsonSchema) return tool.inputJsonSchema;
  const schema = z.toJSONSchema(tool.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete schema.$schema;
  return schema;
}

/**
 * A `run` that executes `exportName` of the module at `moduleUrl` in a worker thread (pure-JS tools), so
 * a runaway input is stopped at the time limit by terminating the worker instead of blocking the service.
 * The export takes the validated input and returns a ToolOutput.
 */
export function inWorker<I>(moduleUrl: string, exportName: string): ToolDefinition<I>['run'] {
  return (input, ctx) => ctx.workers.run<ToolOutput>(moduleUrl, exportName, input, { signal: ctx.signal, timeoutMs: ctx.timeoutMs });
}

/** Formats a number for the model: integers as is, others to `digits` significant digits, no float noise. */
export function formatNumber(x: number, digits = 10): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  return String(Number(x.toPrecision(digits)));
}
