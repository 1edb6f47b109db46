/** Untyped clients for the standard gRPC services (health Watch, server reflection) used by tests. */
import { credentials, loadPackageDefinition, type ChannelCredentials, type Client } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';

const require = createRequire(import.meta.url);
const reflectionProto = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const pkg = loadPackageDefinition(loadSync([healthProtoPath, reflectionProto], { keepCase: true, enums: String, defaults: true, longs: Number })) as Any;

export function healthClient(address: string, creds: ChannelCredentials = credentials.createInsecure()): Client & Any {
  return new pkg.grpc.health.v1.Health(address, creds);
}

/** Service names listed by server reflection (grpc.reflection.v1). */
export function listServicesByReflection(address: string): Promise<string[]> {
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure()) as Client & Any;
  return new Promise((resolve, reject) => {
    const call = client.ServerReflectionInfo({ deadline: new Date(Date.now() + 5_000) });
    call.on('data', (res: Any) => {
      resolve(res.list_services_response.service.map((s: { name: string }) => s.name));
      call.end();
      client.close();
    });
    call.on('error', reject);
    call.write({ list_services: '' });
  });
}
