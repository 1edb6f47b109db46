/**
 * Server interceptors: cross-cutting concerns stay out of handlers (grpc-node's
 * examples/interceptors). `authInterceptor` checks the bearer token; `observeInterceptor` counts every
 * call into `spark_grpc_requests_total` / `spark_grpc_request_duration_seconds` and logs it with its
 * request id.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  Metadata,
  ResponderBuilder,
  ServerInterceptingCall,
  ServerListenerBuilder,
  status as GrpcStatus,
  type ServerInterceptor,
} from '@grpc/grpc-js';
import type { Logger } from './logging.js';
import { REQUEST_ID_METADATA_KEY, newRequestId } from './logging.js';
import type { ServiceMetrics } from './metrics.js';

/** Kubernetes gRPC probes cannot send a token, so health checks stay open. */
const UNAUTHENTICATED_PATHS = ['/grpc.health.v1.Health/'];

/** "/spark.v1.JudgeService/ScoreCandidates" -> { service: "spark.v1.JudgeService", method: "ScoreCandidates" } */
export function splitPath(path: string): { service: string; method: string } {
  const [, service = '', method = ''] = path.split('/');
  return { service, method };
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Rejects calls whose `authorization` metadata is not `Bearer <token>` with UNAUTHENTICATED. */
export function authInterceptor(token: string): ServerInterceptor {
  return (methodDescriptor, call) => {
    if (UNAUTHENTICATED_PATHS.some((p) => methodDescriptor.path.startsWith(p))) return new ServerInterceptingCall(call);
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        const header = String(metadata.get('authorization')[0] ?? '');
        const presented = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
        if (!presented || !tokensEqual(presented, token)) {
          call.sendStatus({
            code: GrpcStatus.UNAUTHENTICATED,
            details: presented ? 'invalid bearer token' : 'missing bearer token: send metadata "authorization: Bearer <token>"',
            metadata: new Metadata(),
          });
          return;
        }
        next(metadata);
      })
      .build();
    return new ServerInterceptingCall(call, new ResponderBuilder().withStart((next) => next(listener)).build());
  };
}

/** Counts, times and logs every call; gives each a request id (taken from the caller when sent). */
export function observeInterceptor(serviceName: string, metrics: ServiceMetrics, logger: Logger): ServerInterceptor {
  return (methodDescriptor, call) => {
    const { method } = splitPath(methodDescriptor.path);
    const started = process.hrtime.bigint();
    let requestId = '';
    const listener = new ServerListenerBuilder()
      .withOnReceiveMetadata((metadata, next) => {
        requestId = String(metadata.get(REQUEST_ID_METADATA_KEY)[0] ?? '') || newRequestId();
        metadata.set(REQUEST_ID_METADATA_KEY, requestId);
        next(metadata);
      })
      .build();
    const responder = new ResponderBuilder()
      .withStart((next) => next(listener))
      .withSendStatus((status, next) => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const code = GrpcStatus[status.code] ?? String(status.code);
        metrics.grpcRequests.inc({ service: serviceName, method, code });
        metrics.grpcDuration.observe({ service: serviceName, method }, seconds);
        const line = { requestId, method: methodDescriptor.path, code, durationMs: Math.round(seconds * 1000) };
        if (status.code === GrpcStatus.OK) logger.debug(line, 'rpc');
        else logger.info({ ...line, details: status.details }, 'rpc failed');
        next(status);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}
