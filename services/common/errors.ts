/**
 * The error classes every SPaRK module throws, and the one place they become gRPC statuses.
 *
 * Modules never import grpc-js: they throw these, and `toGrpcStatus` (applied by the handler wrapper in
 * `handlers.ts`) maps them once. Anything unrecognised becomes INTERNAL with a generic message; the stack
 * is logged, never sent to the client.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ZodError } from 'zod';

/** Thrown by request validation and config parsing: a field holds a value outside what is allowed. */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    readonly problem: string,
    readonly allowed?: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${problem}${allowed ? ` (allowed: ${allowed})` : ''}`, options);
  }
}

/** Thrown when a named thing (question, job, checkpoint, tool) does not exist. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(
    readonly what: string,
    readonly id: string,
    options?: { cause?: unknown },
  ) {
    super(`${what} ${JSON.stringify(id)} not found`, options);
  }
}

/** Thrown when an upstream dependency (LLM endpoint, another service) stays down after retries. */
export class UpstreamUnavailableError extends Error {
  override readonly name = 'UpstreamUnavailableError';
  constructor(
    readonly upstream: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${upstream} unavailable: ${message}`, options);
  }
}

/** Thrown by work that stopped because its AbortSignal fired (client cancelled, job cancelled). */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  constructor(message = 'cancelled', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Thrown when the caller's deadline passed before the work finished. */
export class DeadlineExceededError extends Error {
  override readonly name = 'DeadlineExceededError';
  constructor(message = 'deadline exceeded', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Thrown when a request conflicts with current state (e.g. a request_id reused with another spec). */
export class FailedPreconditionError extends Error {
  override readonly name = 'FailedPreconditionError';
}

/** Thrown by RPCs that a later milestone fills in. */
export class UnimplementedError extends Error {
  override readonly name = 'UnimplementedError';
}

/** Walks `cause` links, so wrapped errors are still recognised. */
function findInChain<T>(err: unknown, test: (e: unknown) => e is T): T | undefined {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur && !seen.has(cur)) {
    if (test(cur)) return cur;
    seen.add(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

const isGrpcCode = (code: number) => (e: unknown) =>
  typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code && 'details' in e;

/** True when the error (or one of its causes) is a deadline: ours, or a gRPC DEADLINE_EXCEEDED status. */
export function isDeadlineError(err: unknown): boolean {
  return !!findInChain(err, (e): e is unknown =>
    e instanceof DeadlineExceededError || isGrpcCode(GrpcStatus.DEADLINE_EXCEEDED)(e));
}

/** True when the error (or one of its causes) is a cancellation: ours, an AbortError, or gRPC CANCELLED. */
export function isCancelledError(err: unknown): boolean {
  return !!findInChain(err, (e): e is unknown =>
    e instanceof CancelledError ||
    (e instanceof Error && e.name === 'AbortError') ||
    isGrpcCode(GrpcStatus.CANCELLED)(e));
}

/** Formats a zod issue path the way users write fields: `hyper.lr`, `candidates[2].action`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) =>
    typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p), '');
}

/** One readable line per zod issue, naming the field and, for enums, the allowed values. */
export function describeZodError(err: ZodError, prefix = ''): string {
  return err.issues
    .map((issue) => {
      const field = prefix + formatPath(issue.path) || '(root)';
      const allowed = 'values' in issue && Array.isArray(issue.values)
        ? ` (allowed: ${issue.values.join(', ')})` : '';
      return `${field}: ${issue.message}${allowed}`;
    })
    .join('; ');
}

export interface GrpcStatusObject {
  code: GrpcStatus;
  details: string;
}

/** The single mapping from thrown errors to gRPC statuses. */
export function toGrpcStatus(err: unknown): GrpcStatusObject {
  if (err instanceof InvalidArgumentError) return { code: GrpcStatus.INVALID_ARGUMENT, details: err.message };
  if (err instanceof ZodError) return { code: GrpcStatus.INVALID_ARGUMENT, details: describeZodError(err) };
  if (err instanceof NotFoundError) return { code: GrpcStatus.NOT_FOUND, details: err.message };
  if (err instanceof FailedPreconditionError) return { code: GrpcStatus.FAILED_PRECONDITION, details: err.message };
  if (err instanceof UnimplementedError) return { code: GrpcStatus.UNIMPLEMENTED, details: err.message };
  if (isDeadlineError(err)) return { code: GrpcStatus.DEADLINE_EXCEEDED, details: 'deadline exceeded' };
  if (isCancelledError(err)) return { code: GrpcStatus.CANCELLED, details: 'cancelled' };
  const upstream = findInChain(err, (e): e is UpstreamUnavailableError => e instanceof UpstreamUnavailableError);
  if (upstream) return { code: GrpcStatus.UNAVAILABLE, details: upstream.message };
  return { code: GrpcStatus.INTERNAL, details: 'internal error (see the server log)' };
}
