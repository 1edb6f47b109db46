/**
 * The tool registry: every candidate tool (8 built-in + configured MCP tools) by name, the one place a
 * tool call is validated, time-limited, measured and turned into a `ToolCall` record (issue 6).
 *
 * Outcomes: bad input → InvalidArgumentError naming the field (RunTool: INVALID_ARGUMENT), unknown tool
 * → UnknownToolError listing the tools (NOT_FOUND), a tool that fails or passes its time limit → a
 * ToolCall with `error` set (RunTool: OK), the caller cancelling → the caller's error (CANCELLED /
 * DEADLINE_EXCEEDED). Metrics: spark_tool_calls_total{tool,outcome}, spark_tool_call_duration_seconds{tool}.
 */
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { ZodError } from 'zod';
import { CancelledError, describeZodError, InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import type { ToolCall } from '../../common/gen/spark/v1/common.js';
import type { ToolSpec } from '../../common/gen/spark/v1/trajectory.js';
import type { Logger } from '../../common/logging.js';
import { counter, histogram } from '../../common/metrics.js';
import type { WorkerPool } from './isolate.js';
import { inputSchemaOf, ToolRunError, ToolTimeoutError, type ToolDefinition, type ToolOutput } from './tool.js';

/** Text shown to the model is capped: a tool that prints a novel should not flood the context. */
export const MAX_OUTPUT_CHARS = 16_000;

/**
 * Each tool enforces its own time limit (tool.ts `ToolContext.timeoutMs`); the registry aborts a call
 * this much later as a backstop, for a tool that does not (a wedged MCP server, a slow first index load).
 */
export const TIMEOUT_GRACE_MS = 30_000;

/** Tool latencies range from microseconds (lookups) to the sandbox's limit (seconds). */
const DURATION_BUCKETS_S = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export type ToolOutcome = 'ok' | 'error' | 'timeout' | 'invalid_input' | 'cancelled';

/** Thrown for a tool name nobody registered; the message lists the tools there are. */
export class UnknownToolError extends NotFoundError {
  constructor(name: string, available: readonly string[]) {
    super('tool', name);
    this.message = `${this.message}; available tools: ${available.join(', ')}`;
  }
}

export interface RunToolOptions {
  /** The caller's signal (the RPC's, or a rollout job's). */
  signal?: AbortSignal;
  /** A lower time limit than the tool's own, milliseconds (0 or undefined = the tool's). */
  timeoutMs?: number;
  /** Report invalid input as `error` in the ToolCall instead of throwing (rollouts: the model's mistake is data). */
  reportInvalidInput?: boolean;
}

export interface ToolRegistryOptions {
  workers: WorkerPool;
  log: Logger;
  /** Prometheus registry of the service; no metrics when absent. */
  metrics?: Registry;
  /** Released by `close()`: worker threads, MCP connections, open index files. */
  onClose?: Array<() => Promise<void> | void>;
}

export class ToolRegistry {
  private readonly tools = new Map<string, ToolDefinition>();
  private readonly calls?: ReturnType<typeof counter<'tool' | 'outcome'>>;
  private readonly durations?: ReturnType<typeof histogram<'tool'>>;

  constructor(tools: readonly ToolDefinition[], private readonly opts: ToolRegistryOptions) {
    for (const tool of tools) this.add(tool);
    if (opts.metrics) {
      this.calls = counter(opts.metrics, 'spark_tool_calls_total', 'Tool calls by tool and outcome (ok, error, timeout, invalid_input, cancelled)', ['tool', 'outcome']);
      this.durations = histogram(opts.metrics, 'spark_tool_call_duration_seconds', 'Tool call duration, seconds', DURATION_BUCKETS_S, ['tool']);
    }
  }

  /** Adds a tool; a second tool with the same name is a configuration error. */
  add(tool: ToolDefinition): void {
    if (this.tools.has(tool.name)) throw new Error(`two tools are named ${JSON.stringify(tool.name)} (${this.tools.get(tool.name)!.source} and ${tool.source})`);
    this.tools.set(tool.name, tool);
  }

  names(): string[] {
    return [...this.tools.keys()];
  }

  has(name: string): boolean {
    return this.tools.has(name);
  }

  /** Declarations for ListTools: built-in tools first (registration order), then MCP tools. */
  list(): ToolSpec[] {
    return [...this.tools.values()].map((t) => ({
      name: t.name,
      description: t.description,
      inputSchemaJson: JSON.stringify(inputSchemaOf(t)),
      timeoutMs: t.timeoutMs,
      source: t.source,
    }));
  }

  /** Runs one tool call; see the file comment for what is thrown and what is reported. */
  async run(name: string, input: string | Record<string, unknown>, opts: RunToolOptions = {}): Promise<ToolCall> {
    const tool = this.tools.get(name);
    if (!tool) throw new UnknownToolError(name, this.names());
    const inputJson = typeof input === 'string' ? input : JSON.stringify(input);
    const call: ToolCall = { name, inputJson, output: '', error: '', durationMs: 0, structuredJson: '' };
    let parsed: unknown;
    try {
      parsed = parseInput(tool, input);
    } catch (err) {
      this.record(name, 'invalid_input', 0);
      if (!opts.reportInvalidInput || !(err instanceof InvalidArgumentError)) throw err;
      return { ...call, error: `invalid input: ${err.message}` };
    }
    const timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 ? Math.min(opts.timeoutMs, tool.timeoutMs) : tool.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs + TIMEOUT_GRACE_MS);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const started = performance.now();
    let outcome: ToolOutcome = 'ok';
    try {
      const out = await untilAborted(tool.run(parsed, { signal, timeoutMs, workers: this.opts.workers }), signal);
      call.output = capText(out.text);
      if (out.data !== undefined) call.structuredJson = JSON.stringify(out.data);
    } catch (err) {
      if (opts.signal?.aborted) {
        this.record(name, 'cancelled', performance.now() - started);
        throw opts.signal.reason ?? new CancelledError();
      }
      const timedOut = timeout.aborted || err instanceof ToolTimeoutError;
      outcome = timedOut ? 'timeout' : 'error';
      call.error = timeout.aborted ? `${name} timed out after ${timeoutMs} ms`
        : err instanceof ToolTimeoutError ? capText(`${name} ${err.message}`) : capText(errorText(err));
      if (err instanceof ToolRunError && err.data !== undefined) call.structuredJson = JSON.stringify(err.data);
      if (!(err instanceof ToolRunError) && !timedOut) this.opts.log.warn({ err, tool: name }, 'tool threw an unexpected error');
    }
    call.durationMs = performance.now() - started;
    this.record(name, outcome, call.durationMs);
    return call;
  }

  /**
   * The rollout's view (rollout.ts `ToolRunner`): bad input and unknown tools come back as `error` in the
   * ToolCall, never thrown, so the judge sees the model's mistake; only cancellation throws.
   */
  asRunner(): { run(name: string, parameters: Record<string, unknown>, signal: AbortSignal): Promise<ToolCall> } {
    return {
      run: async (name, parameters, signal) => {
        if (!this.tools.has(name)) {
          const error = new UnknownToolError(name, this.names()).message;
          return { name, inputJson: JSON.stringify(parameters), output: '', error, durationMs: 0, structuredJson: '' };
        }
        return this.run(name, parameters, { signal, reportInvalidInput: true });
      },
    };
  }

  /** Releases what the tools hold; calls after this fail. */
  async close(): Promise<void> {
    const closers = this.opts.onClose?.splice(0) ?? [];
    await Promise.allSettled(closers.map(async (close) => close()));
  }

  private record(tool: string, outcome: ToolOutcome, durationMs: number): void {
    this.calls?.inc({ tool, outcome });
    if (outcome !== 'invalid_input') this.durations?.observe({ tool }, durationMs / 1000);
  }
}

/** Parses the JSON text and the tool's schema; errors name `input_json` and the field inside it. */
function parseInput(tool: ToolDefinition, input: string | Record<string, unknown>): unknown {
  let value: unknown = input;
  if (typeof input === 'string') {
    try {
      value = input.trim() === '' ? {} : JSON.parse(input);
    } catch (err) {
      throw new InvalidArgumentError('input_json', `not valid JSON (${(err as Error).message})`);
    }
  }
  try {
    return tool.input.parse(value);
  } catch (err) {
    if (err instanceof ZodError) throw new InvalidArgumentError('input_json', `${tool.name} input: ${describeZodError(err)}`, undefined, { cause: err });
    throw err;
  }
}

/** Settles with `work`, or rejects as soon as `signal` aborts (a tool that ignores its signal cannot hold the caller). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function capText(text: string): string {
  return text.length <= MAX_OUTPUT_CHARS ? text : `${text.slice(0, MAX_OUTPUT_CHARS)}\n… [${text.length - MAX_OUTPUT_CHARS} more characters cut]`;
}

export type { ToolOutput };
