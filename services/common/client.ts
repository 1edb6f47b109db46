/**
 * Client factory: every outbound call carries a deadline, channels keep alive, idempotent methods retry
 * on UNAVAILABLE through a gRPC service config (not a hand-written loop), and TLS / bearer token follow
 * the same settings as the servers. `unary` and `serverStream` turn ts-proto's callback clients into a
 * Promise and an AsyncIterable, with the caller's AbortSignal cancelling the call.
 */
import { readFileSync } from 'node:fs';
import {
  credentials as grpcCredentials,
  InterceptingCall,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientReadableStream,
  type ClientUnaryCall,
  type Interceptor,
  type ServiceError,
} from '@grpc/grpc-js';
import { REQUEST_ID_METADATA_KEY } from './logging.js';

/** Deadline used when the caller gives none. Long work is a job, so unary calls should be quick. */
export const DEFAULT_DEADLINE_MS = 30_000;

/**
 * Retry policy for idempotent methods (every spark.v1 method is: reads are, and StartX is idempotent by
 * request_id). Backoff 0.2 s × 2ⁿ up to 5 s, 5 attempts in all.
 */
export function retryServiceConfig(serviceNames: string[]): string {
  return JSON.stringify({
    methodConfig: [{
      name: serviceNames.map((service) => ({ service })),
      retryPolicy: {
        maxAttempts: 5,
        initialBackoff: '0.2s',
        maxBackoff: '5s',
        backoffMultiplier: 2,
        retryableStatusCodes: ['UNAVAILABLE'],
      },
    }],
  });
}

export const CLIENT_CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 20_000, // ping after 20 s idle so a dead server is noticed
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.enable_retries': 1,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
} as const;

export interface ClientSecurity {
  /** off (default), tls (verify the server), mtls (also present a client certificate). */
  tls?: 'off' | 'tls' | 'mtls';
  /** CA that signed the server certificate. */
  caFile?: string;
  /** mtls: this client's certificate and key. */
  certFile?: string;
  keyFile?: string;
  /** Bearer token sent as `authorization: Bearer <token>`. */
  token?: string;
  /** TLS server name to verify when it differs from the address's host (e.g. "localhost"). */
  serverNameOverride?: string;
}

export function channelCredentials(sec: ClientSecurity = {}): ChannelCredentials {
  if (!sec.tls || sec.tls === 'off') return grpcCredentials.createInsecure();
  const ca = sec.caFile ? readFileSync(sec.caFile) : null;
  const key = sec.tls === 'mtls' && sec.keyFile ? readFileSync(sec.keyFile) : null;
  const cert = sec.tls === 'mtls' && sec.certFile ? readFileSync(sec.certFile) : null;
  return grpcCredentials.createSsl(ca, key, cert);
}

/** Adds the bearer token and a request id to every outgoing call. */
function metadataInterceptor(token: string | undefined): Interceptor {
  return (options, nextCall) => new InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      if (token) metadata.set('authorization', `Bearer ${token}`);
      next(metadata, listener);
    },
  });
}

type ClientCtor<C> = new (address: string, credentials: ChannelCredentials, options?: Record<string, unknown>) => C;

/** A client of `Ctor` (a ts-proto `XServiceClient`) for `address`, with retries, keepalive and security. */
export function createClient<C extends Client>(Ctor: ClientCtor<C> & { service: Record<string, { path: string }> }, address: string, sec: ClientSecurity = {}): C {
  const serviceName = Object.values(Ctor.service)[0].path.split('/')[1];
  return new Ctor(address, channelCredentials(sec), {
    ...CLIENT_CHANNEL_OPTIONS,
    'grpc.service_config': retryServiceConfig([serviceName]),
    ...(sec.serverNameOverride ? { 'grpc.ssl_target_name_override': sec.serverNameOverride } : {}),
    interceptors: [metadataInterceptor(sec.token)],
  });
}

export interface CallSettings {
  /** Absolute deadline, ms since epoch. Wins over timeoutMs. */
  deadlineMs?: number;
  /** Relative deadline; default DEFAULT_DEADLINE_MS. */
  timeoutMs?: number;
  /** Cancels the call when aborted. */
  signal?: AbortSignal;
  /** Request id to propagate (from the inbound call's context). */
  requestId?: string;
}

function callOptions(s: CallSettings): { options: CallOptions; metadata: Metadata } {
  const deadline = s.deadlineMs && Number.isFinite(s.deadlineMs) ? s.deadlineMs : Date.now() + (s.timeoutMs ?? DEFAULT_DEADLINE_MS);
  const metadata = new Metadata();
  if (s.requestId) metadata.set(REQUEST_ID_METADATA_KEY, s.requestId);
  return { options: { deadline: new Date(deadline) }, metadata };
}

type UnaryMethod<Req, Res> = (request: Req, metadata: Metadata, options: Partial<CallOptions>, callback: (err: ServiceError | null, res: Res) => void) => ClientUnaryCall;
type StreamMethod<Req, Res> = (request: Req, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<Res>;

/** Promise form of a unary method: `await unary(client.getJob.bind(client), req, { timeoutMs: 5_000 })`. */
export function unary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, settings: CallSettings = {}): Promise<Res> {
  const { options, metadata } = callOptions(settings);
  return new Promise<Res>((resolve, reject) => {
    const call = method(request, metadata, options, (err, res) => (err ? reject(err) : resolve(res)));
    settings.signal?.addEventListener('abort', () => call.cancel(), { once: true });
  });
}

/** AsyncIterable form of a server-streaming method; breaking out of the loop cancels the call. */
export async function* serverStream<Req, Res>(method: StreamMethod<Req, Res>, request: Req, settings: CallSettings = {}): AsyncGenerator<Res> {
  const { options, metadata } = callOptions({ timeoutMs: 24 * 3_600_000, ...settings });
  const call = method(request, metadata, options);
  const onAbort = () => call.cancel();
  settings.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const message of call as AsyncIterable<Res>) yield message;
  } finally {
    settings.signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}

/**
 * The security a service uses towards its peers: the same TLS mode, CA and certificate as its own server
 * (one mesh-wide CA), and the same bearer token.
 */
export function peerSecurity(config: { tls: 'off' | 'tls' | 'mtls'; tlsCaFile?: string; tlsCertFile?: string; tlsKeyFile?: string; authToken?: string }): ClientSecurity {
  return { tls: config.tls, caFile: config.tlsCaFile, certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, token: config.authToken };
}
