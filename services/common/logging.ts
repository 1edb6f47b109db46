/**
 * Structured logs (pino). One root logger per process; handlers log through a child carrying the
 * request id so a request can be followed across services.
 */
import { randomUUID } from 'node:crypto';
import pino, { type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Metadata key that carries the request id between services. */
export const REQUEST_ID_METADATA_KEY = 'x-request-id';

/** Logs go to stderr so stdout stays free for command output (tables, JSON). */
export function createLogger(name: string, level: LogLevel = 'info'): Logger {
  return pino({ name, level, base: { service: name } }, pino.destination({ fd: 2, sync: true }));
}

export function newRequestId(): string {
  return randomUUID();
}
