/** A small grpc.health.v1 client (generated code ships with grpc-health-check's proto), for tools and tests. */
import { credentials, loadPackageDefinition, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

const healthPackage = loadPackageDefinition(loadSync(protoPath, { keepCase: true, enums: String, defaults: true }));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const HealthCtor = (healthPackage.grpc as any).health.v1.Health as new (address: string, creds: ChannelCredentials) => Client;

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN' | 'UNREACHABLE';

export class HealthClient {
  readonly client: Client & { check: (req: object, opts: object, cb: (err: ServiceError | null, res: { status: string }) => void) => void };
  constructor(address: string, creds: ChannelCredentials = credentials.createInsecure()) {
    this.client = new HealthCtor(address, creds) as HealthClient['client'];
  }
  close(): void { this.client.close(); }
}

/** One Check call; UNREACHABLE when the server does not answer within `timeoutMs`. */
export function checkHealth(hc: HealthClient, service = '', timeoutMs = 5_000): Promise<HealthStatus> {
  return new Promise((resolve) => {
    hc.client.check({ service }, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      resolve(err ? 'UNREACHABLE' : (res.status as HealthStatus));
    });
  });
}
