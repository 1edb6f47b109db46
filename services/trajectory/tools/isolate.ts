/**
 * A small pool of worker threads for the pure-JS tools (calculator, chemistry, finance, logic, units,
 * symbolic algebra). mathjs and the SAT solver run synchronously: a runaway input (`factorial(10^7)`, an
 * exponential formula) would freeze the service's event loop if run inline. In a worker it is stopped at
 * the time limit by `worker.terminate()`, and a V8 heap cap turns a memory bomb into an error for that
 * call only; the service stays up and the next call gets a fresh worker.
 *
 * Workers import tool modules by URL and keep them loaded, so a warm call costs a message round trip.
 * When the code runs from TypeScript sources (vitest), workers get a tiny module hook that transpiles
 * `.ts` with the TypeScript compiler (a dev dependency); the built product loads `dist/**.js` directly.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { CancelledError } from '../../common/errors.js';
import { ToolRunError, ToolTimeoutError } from './tool.js';

/** V8 old-space cap per worker: generous for mathjs, small enough that a bomb cannot hurt the host. */
export const WORKER_HEAP_MB = 256;

/** The worker's program (CommonJS, run with `eval: true` so it needs no file of its own in dist/). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ready = workerData.tsLoader
  ? import('node:module').then((m) => m.register(workerData.tsLoader, { data: { typescript: workerData.typescript } }))
  : Promise.resolve();
const modules = new Map();
parentPort.on('message', async ({ id, url, name, input }) => {
  try {
    await ready;
    if (!modules.has(url)) modules.set(url, import(url));
    const fn = (await modules.get(url))[name];
    if (typeof fn !== 'function') throw new Error(url + ' has no export ' + name);
    parentPort.postMessage({ id, started: true }); // the time limit counts from here, not from the import
    parentPort.postMessage({ id, ok: true, value: await fn(input) });
  } catch (err) {
    let data;
    try { data = err && err.data !== undefined ? JSON.parse(JSON.stringify(err.data)) : undefined; } catch { data = undefined; }
    parentPort.postMessage({ id, ok: false, message: String((err && err.message) || err), data });
  }
});`;

/** Module hooks for source mode: resolve `./x.js` to `./x.ts` and transpile `.ts` on load. */
const TS_LOADER_SOURCE = `
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
let ts;
export function initialize(data) { ts = createRequire(data.typescript)(data.typescript); }
export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); } catch (err) {
    if (specifier.endsWith('.js') && context.parentURL && context.parentURL.endsWith('.ts')) {
      return next(specifier.slice(0, -3) + '.ts', context);
    }
    throw err;
  }
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const source = await readFile(new URL(url), 'utf8');
  const out = ts.transpileModule(source, {
    fileName: url,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  return { format: 'module', source: out.outputText, shortCircuit: true };
}`;

function workerData(): Record<string, string> {
  if (!import.meta.url.endsWith('.ts')) return {};
  return {
    tsLoader: `data:text/javascript,${encodeURIComponent(TS_LOADER_SOURCE)}`,
    typescript: createRequire(import.meta.url).resolve('typescript'),
  };
}

interface Reply { id: number; started?: true; ok?: boolean; value?: unknown; message?: string; data?: unknown }

export interface RunOptions {
  /** Aborting terminates the worker running this call. */
  signal?: AbortSignal;
  /** Time limit of the function itself (its module's import is not counted); the worker is terminated. */
  timeoutMs?: number;
}

export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly waiting: Array<() => void> = [];
  private live = 0;
  private nextId = 1;
  private closed = false;

  /** @param size most workers alive at once (calls beyond it queue). */
  constructor(private readonly size = 2) {}

  /** Runs `exportName(input)` of `moduleUrl` in a worker; rejects with ToolRunError on failure. */
  async run<T>(moduleUrl: string, exportName: string, input: unknown, opts: RunOptions = {}): Promise<T> {
    const worker = await this.acquire(opts.signal);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let clock: NodeJS.Timeout | undefined;
      const finish = (fn: () => void, keep: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(clock);
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        opts.signal?.removeEventListener('abort', onAbort);
        if (keep) this.release(worker); else this.discard(worker);
        fn();
      };
      const onMessage = (reply: Reply) => {
        if (reply.id !== id) return;
        if (reply.started) {
          if (opts.timeoutMs !== undefined) {
            clock = setTimeout(() => finish(() => reject(new ToolTimeoutError(`timed out after ${opts.timeoutMs} ms`)), false), opts.timeoutMs);
          }
          return;
        }
        finish(() => (reply.ok ? resolve(reply.value as T) : reject(new ToolRunError(reply.message ?? 'tool failed', reply.data))), true);
      };
      const onError = (err: Error & { code?: string }) => {
        const why = err.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `memory limit exceeded (worker heap capped at ${WORKER_HEAP_MB} MiB)` : err.message;
        finish(() => reject(new ToolRunError(why, undefined, { cause: err })), false);
      };
      const onExit = (code: number) => finish(() => reject(new ToolRunError(`tool worker exited (code ${code})`)), false);
      const onAbort = () => finish(() => reject(opts.signal?.reason ?? new CancelledError()), false);
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      if (opts.signal?.aborted) { onAbort(); return; }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      worker.postMessage({ id, url: moduleUrl, name: exportName, input });
    });
  }

  /** Terminates every worker; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const all = this.idle.splice(0);
    await Promise.all(all.map((w) => w.terminate()));
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: workerData(),
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      stdout: false,
      stderr: false,
    });
    worker.unref(); // idle workers never keep the process alive
    this.live++;
    return worker;
  }

  private async acquire(signal?: AbortSignal): Promise<Worker> {
    for (;;) {
      if (this.closed) throw new ToolRunError('tool workers are shut down');
      if (signal?.aborted) throw signal.reason ?? new CancelledError();
      const worker = this.idle.pop() ?? (this.live < this.size ? this.spawn() : undefined);
      if (worker) { worker.ref(); return worker; } // a busy worker keeps the process alive until it answers
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(worker: Worker): void {
    if (this.closed) { void worker.terminate(); return; }
    worker.unref();
    this.idle.push(worker);
    this.waiting.shift()?.();
  }

  /** A worker that timed out, crashed or ran out of memory is never reused. */
  private discard(worker: Worker): void {
    this.live--;
    void worker.terminate();
    this.waiting.shift()?.();
  }
}
