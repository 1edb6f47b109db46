/**
 * `python`: run a short Python 3 program in the bubblewrap sandbox (sandbox.ts) and return what it
 * prints. Debian's interpreter (/usr/bin/python3) is used so that Debian's python3-numpy, python3-sympy
 * and python3-scipy are importable; the program arrives on stdin (`python3 -I -`: isolated mode, no
 * user site, no PYTHON* variables). Every limit hit (time, memory, processes, output) is the tool's
 * error, never the service's.
 */
import { z } from 'zod';
import { ACTION_DESCRIPTIONS } from '../../common/actions.js';
import {
  DEFAULT_SANDBOX_LIMITS, describeViolation, probeSandbox, runSandboxed,
  type SandboxLimits, type SandboxProbe, type SandboxResult,
} from './sandbox.js';
import { defineTool, ToolRunError, ToolTimeoutError, type ToolDefinition } from './tool.js';

export const MAX_CODE_CHARS = 64 * 1024;
/** How much of stderr an error shows (the end of a traceback is the useful part); less after a limit hit. */
const STDERR_TAIL_CHARS = 3_000;
const STDERR_TAIL_AFTER_LIMIT_CHARS = 500;

/** The Python interpreter in the sandbox, probed once, shared by `python` and `equation_solver`. */
export class PythonSandbox {
  private probed?: Promise<SandboxProbe>;

  constructor(
    readonly pythonBin = '/usr/bin/python3',
    readonly limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS,
  ) {}

  /** Whether the sandbox works here (cached); `reason` says why not. */
  probe(): Promise<SandboxProbe> {
    this.probed ??= probeSandbox([this.pythonBin, '-I', '-c', 'import sys']);
    return this.probed;
  }

  /** Runs `code`; throws ToolRunError when the sandbox is unavailable, otherwise reports the result. */
  async run(code: string, opts: { signal?: AbortSignal; wallMs?: number }): Promise<SandboxResult> {
    const probe = await this.probe();
    if (!probe.ok) throw new ToolRunError(`python sandbox unavailable: ${probe.reason}`);
    return runSandboxed([this.pythonBin, '-I', '-'], { stdin: code, limits: this.limitsFor(opts.wallMs), features: probe.features, signal: opts.signal });
  }

  /** The configured limits, with the call's lower wall-clock limit when it has one. */
  private limitsFor(wallMs?: number): SandboxLimits {
    return { ...this.limits, wallMs: Math.min(this.limits.wallMs, wallMs ?? Infinity) };
  }

  /** Runs `code` and returns stdout, or throws ToolRunError describing the failure. */
  async runOrThrow(code: string, opts: { signal?: AbortSignal; wallMs?: number }): Promise<SandboxResult> {
    const r = await this.run(code, opts);
    const limits = this.limitsFor(opts.wallMs);
    if (r.violation === 'wall_time' || r.violation === 'cpu_time') throw new ToolTimeoutError(failureText(r, limits), resultData(r));
    if (r.violation || r.exitCode !== 0) throw new ToolRunError(failureText(r, limits), resultData(r));
    return r;
  }
}

/** What the model reads when a program failed: the limit that stopped it, or the traceback's end. */
export function failureText(r: SandboxResult, limits: SandboxLimits): string {
  const head = r.violation ? describeViolation(r.violation, limits) : `python exited with code ${r.exitCode}`;
  const tail = r.stderr.trim().slice(-(r.violation ? STDERR_TAIL_AFTER_LIMIT_CHARS : STDERR_TAIL_CHARS));
  return tail ? `${head}\n${tail}` : head;
}

function resultData(r: SandboxResult) {
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, violation: r.violation ?? null, durationMs: r.durationMs };
}

export const pythonInput = z.object({
  code: z.string().min(1).max(MAX_CODE_CHARS)
    .describe('A Python 3 program; print() what you want to read. numpy, sympy and scipy are available; no network, only /tmp is writable'),
}).strict();
export type PythonInput = z.infer<typeof pythonInput>;

export function pythonTool(sandbox: PythonSandbox): ToolDefinition<PythonInput> {
  return defineTool<PythonInput>({
    name: 'python',
    description: ACTION_DESCRIPTIONS.python,
    input: pythonInput,
    timeoutMs: sandbox.limits.wallMs,
    source: 'builtin',
    async run(input, ctx) {
      const r = await sandbox.runOrThrow(input.code, { signal: ctx.signal, wallMs: ctx.timeoutMs });
      const stdout = r.stdout.trimEnd();
      const stderr = r.stderr.trim();
      const text = [stdout || '(no output: print() the result)', stderr ? `[stderr]\n${stderr}` : ''].filter(Boolean).join('\n');
      return { text, data: resultData(r) };
    },
  });
}
