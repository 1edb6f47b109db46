/**
 * Turns plain async functions into grpc-js handlers, so a service's `server.ts` is a table of
 * decode → call one module function → encode, and nothing else. The wrapper gives every call an
 * AbortSignal (aborted when the client cancels or the deadline passes), a request-scoped logger, and
 * maps thrown errors through the one `toGrpcStatus`. Stacks are logged, never sent.
 */
import { setMaxListeners } from 'node:events';
import {
  Metadata,
  status as GrpcStatus,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { DeadlineExceededError, CancelledError, UnimplementedError, toGrpcStatus } from './errors.js';
import type { Logger } from './logging.js';
import { REQUEST_ID_METADATA_KEY } from './logging.js';

/** What a handler gets besides its request. */
export interface CallContext {
  /** Aborted when the client cancels or the call's deadline passes; pass it to every async function. */
  signal: AbortSignal;
  /** Logger carrying this call's request id. */
  log: Logger;
  requestId: string;
  metadata: Metadata;
  /** The inbound deadline (ms since epoch), to derive deadlines of downstream calls; Infinity when none. */
  deadlineMs: number;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res> | Res;
export type ServerStreamHandler<Req, Res> = (request: Req, ctx: CallContext) => AsyncIterable<Res>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHandler = UnaryHandler<any, any> | ServerStreamHandler<any, any>;

/** Handlers keyed by the definition's method names (lowerCamel, as ts-proto names them). */
export type Handlers<D extends ServiceDefinition> = { [K in keyof D]?: AnyHandler };

function deadlineOf(call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>): number {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : Number(d);
  return Number.isFinite(ms) && ms > 0 ? ms : Infinity;
}

function contextFor(call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>, log: Logger): { ctx: CallContext; done: () => void } {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // a handler may pass it to many concurrent calls
  const deadlineMs = deadlineOf(call);
  const onCancel = () => controller.abort(new CancelledError('client cancelled the call'));
  call.on('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(deadlineMs)) {
    timer = setTimeout(() => controller.abort(new DeadlineExceededError()), Math.max(0, deadlineMs - Date.now()));
    timer.unref();
  }
  const requestId = String(call.metadata.get(REQUEST_ID_METADATA_KEY)[0] ?? '');
  return {
    ctx: { signal: controller.signal, log: log.child({ requestId }), requestId, metadata: call.metadata, deadlineMs },
    done: () => { if (timer) clearTimeout(timer); call.off('cancelled', onCancel); },
  };
}

function statusFor(err: unknown, log: Logger, method: string) {
  const status = toGrpcStatus(err);
  if (status.code === GrpcStatus.INTERNAL) log.error({ err, method }, 'unhandled error');
  return status;
}

function wrapUnary(method: string, fn: UnaryHandler<unknown, unknown>, log: Logger) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    const { ctx, done } = contextFor(call, log);
    Promise.resolve()
      .then(() => fn(call.request, ctx))
      .then(
        (res) => { done(); callback(null, res); },
        (err: unknown) => { done(); callback(statusFor(err, ctx.log, method)); },
      );
  };
}

function wrapServerStream(method: string, fn: ServerStreamHandler<unknown, unknown>, log: Logger) {
  return (call: ServerWritableStream<unknown, unknown>) => {
    const { ctx, done } = contextFor(call, log);
    (async () => {
      for await (const message of fn(call.request, ctx)) {
        if (ctx.signal.aborted) break;
        // Respect backpressure: wait for 'drain' when the write buffer is full.
        if (!call.write(message)) await new Promise<void>((resolve) => call.once('drain', resolve));
      }
    })().then(
      () => { done(); if (!call.cancelled) call.end(); },
      (err: unknown) => {
        done();
        if (call.cancelled) return;
        const status = statusFor(err, ctx.log, method);
        call.emit('error', { ...status, metadata: new Metadata() });
      },
    );
  };
}

/**
 * Builds a grpc-js implementation from `handlers`. Methods without a handler answer UNIMPLEMENTED with
 * `unimplementedHint` (e.g. which issue fills them in), worded for a person.
 */
export function implement<D extends ServiceDefinition>(
  definition: D,
  handlers: Handlers<D>,
  log: Logger,
  unimplementedHint = 'not implemented in this version of spark-ts',
): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const [name, def] of Object.entries(definition)) {
    const given = handlers[name as keyof D];
    const method = def.path;
    const fallback = () => { throw new UnimplementedError(`${method} is not available yet: ${unimplementedHint}`); };
    if (def.responseStream && !def.requestStream) {
      const fn = (given ?? async function* () { fallback(); }) as ServerStreamHandler<unknown, unknown>;
      impl[name] = wrapServerStream(method, fn, log);
    } else if (!def.requestStream && !def.responseStream) {
      impl[name] = wrapUnary(method, (given ?? fallback) as UnaryHandler<unknown, unknown>, log);
    } else {
      throw new Error(`${method}: client streaming is not used by spark-ts contracts`);
    }
  }
  return impl;
}
