/**
 * Configuration, validated once with zod. Every service's config starts from `serverConfigShape`
 * (listen addresses, logs, artifact root, transport security) and extends it; `loadConfig` reads the
 * environment, applies command-line overrides, and either returns a typed config or throws a
 * `ConfigError` whose message names the environment variable (or flag) and the allowed values.
 * Nothing else in the code base reads `process.env`.
 */
import { z, ZodError } from 'zod';
import { formatPath } from './errors.js';
import { LOG_LEVELS } from './logging.js';

export const SERVICE_NAMES = ['dataset', 'judge', 'trajectory', 'trainer', 'evaluator'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Default ports: gRPC 50051.., metrics 9461.. in service order, so a laptop runs all five at once. */
export const DEFAULT_PORTS: Record<ServiceName, { grpc: number; metrics: number }> = {
  dataset: { grpc: 50051, metrics: 9461 },
  judge: { grpc: 50052, metrics: 9462 },
  trajectory: { grpc: 50053, metrics: 9463 },
  trainer: { grpc: 50054, metrics: 9464 },
  evaluator: { grpc: 50055, metrics: 9465 },
};

export const TLS_MODES = ['off', 'tls', 'mtls'] as const;

const port = z.coerce.number().int().min(0).max(65_535);

/** Fields every service shares. Units are in the names. */
export const serverConfigShape = {
  host: z.string().min(1).default('127.0.0.1').describe('Address to bind gRPC and metrics to (0.0.0.0 in a cluster)'),
  port: port.describe('gRPC port; 0 = any free port'),
  metricsPort: port.describe('HTTP port serving /metrics; 0 = any free port'),
  logLevel: z.enum(LOG_LEVELS).default('info').describe('pino log level'),
  artifactRoot: z.string().min(1).default('artifacts').describe('Folder (a PVC in the cluster) holding jobs, trajectories, checkpoints, reports'),
  shutdownGraceMs: z.coerce.number().int().min(0).default(10_000).describe('Time in-flight calls get after SIGTERM before the server is forced down'),
  tls: z.enum(TLS_MODES).default('off').describe('Transport security: off, tls (server cert), mtls (client certs required)'),
  tlsCertFile: z.string().optional().describe('PEM certificate of this server (tls, mtls)'),
  tlsKeyFile: z.string().optional().describe('PEM private key of this server (tls, mtls)'),
  tlsCaFile: z.string().optional().describe('PEM CA that signs client certificates (mtls)'),
  authToken: z.string().min(16).optional().describe('Bearer token every call must carry (off when unset)'),
} as const;

/** Which environment variable feeds which field. Flags (`--port`) override them. */
export const SERVER_ENV: Record<keyof typeof serverConfigShape, string> = {
  host: 'SPARK_HOST',
  port: 'SPARK_PORT',
  metricsPort: 'SPARK_METRICS_PORT',
  logLevel: 'SPARK_LOG_LEVEL',
  artifactRoot: 'SPARK_ARTIFACT_ROOT',
  shutdownGraceMs: 'SPARK_SHUTDOWN_GRACE_MS',
  tls: 'SPARK_TLS',
  tlsCertFile: 'SPARK_TLS_CERT_FILE',
  tlsKeyFile: 'SPARK_TLS_KEY_FILE',
  tlsCaFile: 'SPARK_TLS_CA_FILE',
  authToken: 'SPARK_AUTH_TOKEN',
};

/** A server config schema for one service, with its default ports and the TLS cross-field rules. */
export function serverConfigSchema(service: ServiceName) {
  return z
    .object({
      ...serverConfigShape,
      port: serverConfigShape.port.default(DEFAULT_PORTS[service].grpc),
      metricsPort: serverConfigShape.metricsPort.default(DEFAULT_PORTS[service].metrics),
    })
    .strict()
    .superRefine(requireTlsFiles);
}

export type ServerConfig = z.infer<ReturnType<typeof serverConfigSchema>>;

/** tls needs a cert and key; mtls also needs the CA that signs client certificates. */
export function requireTlsFiles(cfg: { tls: string; tlsCertFile?: string; tlsKeyFile?: string; tlsCaFile?: string }, ctx: z.RefinementCtx): void {
  if (cfg.tls === 'off') return;
  for (const field of ['tlsCertFile', 'tlsKeyFile'] as const) {
    if (!cfg[field]) ctx.addIssue({ code: 'custom', path: [field], message: `required when tls is ${cfg.tls}` });
  }
  if (cfg.tls === 'mtls' && !cfg.tlsCaFile) ctx.addIssue({ code: 'custom', path: ['tlsCaFile'], message: 'required when tls is mtls' });
}

/** A bad configuration value. The message names the variable or flag and what is allowed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadConfigOptions {
  /** Environment to read (the process environment in main.ts, a plain object in tests). */
  env?: NodeJS.ProcessEnv;
  /** Field -> environment variable. */
  envNames: Record<string, string>;
  /** Values from command-line flags; they win over the environment. Undefined entries are ignored. */
  overrides?: Record<string, unknown>;
  /** Field -> flag name, used in messages when the value came from a flag. */
  flagNames?: Record<string, string>;
}

/** Reads env + overrides into `schema`, or throws ConfigError naming each bad variable/flag. */
export function loadConfig<S extends z.ZodType>(schema: S, opts: LoadConfigOptions): z.infer<S> {
  const env = opts.env ?? {};
  const raw: Record<string, unknown> = {};
  for (const [field, name] of Object.entries(opts.envNames)) {
    const value = env[name];
    if (value !== undefined && value !== '') raw[field] = value;
  }
  const fromFlag = new Set<string>();
  for (const [field, value] of Object.entries(opts.overrides ?? {})) {
    if (value === undefined) continue;
    raw[field] = value;
    fromFlag.add(field);
  }
  try {
    return schema.parse(raw);
  } catch (err) {
    if (!(err instanceof ZodError)) throw err;
    const lines = err.issues.map((issue) => {
      const field = formatPath(issue.path);
      const top = String(issue.path[0] ?? '');
      const source = fromFlag.has(top)
        ? opts.flagNames?.[top] ?? `--${top}`
        : opts.envNames[top] ?? (top || '(config)');
      const got = raw[top] === undefined ? '' : ` (got ${JSON.stringify(raw[top])})`;
      const values = 'values' in issue && Array.isArray(issue.values) ? issue.values.map(String) : [];
      const allowed = values.length ? `; allowed: ${values.join(', ')}` : '';
      const message = values.length ? 'not one of the allowed values' : issue.message;
      return `${source}${field !== top ? ` (${field})` : ''}: ${message}${allowed}${got}`;
    });
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`, { cause: err });
  }
}
