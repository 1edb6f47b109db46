import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, loadConfig, SERVER_ENV, serverConfigSchema } from './config.js';
import { CancelledError, DeadlineExceededError, InvalidArgumentError, NotFoundError, UpstreamUnavailableError, isCancelledError, isDeadlineError, toGrpcStatus } from './errors.js';

const load = (env: Record<string, string>, overrides?: Record<string, unknown>) =>
  loadConfig(serverConfigSchema('judge'), { env, envNames: SERVER_ENV, overrides, flagNames: { port: '--port' } });

describe('loadConfig', () => {
  it('gives the service defaults when nothing is set', () => {
    expect(load({})).toMatchObject({ host: '127.0.0.1', port: 50052, metricsPort: 9462, tls: 'off', logLevel: 'info' });
  });

  it('reads the environment and lets flags win', () => {
    expect(load({ SPARK_PORT: '7000', SPARK_LOG_LEVEL: 'debug' }, { port: '7001' })).toMatchObject({ port: 7001, logLevel: 'debug' });
  });

  it('names the variable, the allowed values and the bad value', () => {
    expect(() => load({ SPARK_LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    expect(() => load({ SPARK_LOG_LEVEL: 'loud' })).toThrow(/SPARK_LOG_LEVEL: not one of the allowed values; allowed: fatal, error, warn, info, debug, trace, silent \(got "loud"\)/);
  });

  it('names the flag when a flag carried the bad value', () => {
    expect(() => load({}, { port: '-1' })).toThrow(/--port: .*\(got "-1"\)/);
  });

  it('requires certificate files when TLS is on', () => {
    expect(() => load({ SPARK_TLS: 'tls' })).toThrow(/SPARK_TLS_CERT_FILE: required when tls is tls/);
  });

  it('rejects unknown keys (strict schemas)', () => {
    expect(() => loadConfig(serverConfigSchema('judge'), { envNames: {}, overrides: { prot: 1 } })).toThrow(ConfigError);
  });
});

describe('toGrpcStatus', () => {
  it('maps each error class once', () => {
    expect(toGrpcStatus(new InvalidArgumentError('n', 'must be > 0', '1..2500'))).toEqual({ code: status.INVALID_ARGUMENT, details: 'n: must be > 0 (allowed: 1..2500)' });
    expect(toGrpcStatus(new NotFoundError('question', '42')).code).toBe(status.NOT_FOUND);
    expect(toGrpcStatus(new Error('x', { cause: new UpstreamUnavailableError('judge LLM', '500 after 5 tries') })).code).toBe(status.UNAVAILABLE);
    expect(toGrpcStatus(new DeadlineExceededError()).code).toBe(status.DEADLINE_EXCEEDED);
    expect(toGrpcStatus(new CancelledError()).code).toBe(status.CANCELLED);
  });

  it('names the field of a zod error', () => {
    const err = z.object({ hyper: z.object({ lr: z.number().positive() }) }).safeParse({ hyper: { lr: -1 } }).error!;
    const s = toGrpcStatus(err);
    expect(s.code).toBe(status.INVALID_ARGUMENT);
    expect(s.details).toMatch(/^hyper\.lr: /);
  });

  it('never leaks an unknown error message', () => {
    expect(toGrpcStatus(new TypeError('cannot read x of undefined at /srv/secret.ts:12'))).toEqual({ code: status.INTERNAL, details: 'internal error (see the server log)' });
  });

  it('recognises deadlines and cancellations through cause chains', () => {
    expect(isDeadlineError(new Error('outer', { cause: new DeadlineExceededError() }))).toBe(true);
    expect(isCancelledError(new Error('outer', { cause: Object.assign(new Error('aborted'), { name: 'AbortError' }) }))).toBe(true);
    expect(isDeadlineError(new Error('plain'))).toBe(false);
  });
});
