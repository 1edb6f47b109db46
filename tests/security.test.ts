/** Transport security: TLS, mutual TLS and the bearer-token interceptor, over real connections. */
import { readFileSync } from 'node:fs';
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, unary } from '../services/common/client.js';
import { TrainerServiceClient } from '../services/common/gen/spark/v1/trainer.js';
import { trainerService } from '../services/trainer/main.js';
import { makeTestCerts, type TestCerts } from './helpers/certs.js';
import { healthClient } from './helpers/grpc-clients.js';
import { startTestService, type TestService } from './helpers/service.js';

const TOKEN = 'test-token-0123456789abcdef';
let certs: TestCerts;
let server: TestService;

/** GetJob on an unknown id: NOT_FOUND proves the call got through auth to the handler. */
function getJob(client: InstanceType<typeof TrainerServiceClient>) {
  return unary(client.getJob.bind(client), { jobId: 'no-such-job' }, { timeoutMs: 5_000 }).catch((e) => e);
}

describe('TLS + mutual TLS + bearer token', () => {
  beforeAll(async () => {
    certs = makeTestCerts();
    server = await startTestService(trainerService, {
      overrides: { tls: 'mtls', tlsCertFile: certs.serverCert, tlsKeyFile: certs.serverKey, tlsCaFile: certs.caCert, authToken: TOKEN },
    });
  });
  afterAll(() => server.stop());

  const address = () => `localhost:${server.port}`;

  it('rejects a client without the token with UNAUTHENTICATED', async () => {
    const client = createClient(TrainerServiceClient, address(), { tls: 'mtls', caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey });
    const err = await getJob(client);
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.details).toMatch(/missing bearer token/);
    client.close();
  });

  it('rejects a wrong token with UNAUTHENTICATED', async () => {
    const client = createClient(TrainerServiceClient, address(), { tls: 'mtls', caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey, token: 'wrong-token-0123456789' });
    expect((await getJob(client)).code).toBe(status.UNAUTHENTICATED);
    client.close();
  });

  it('lets a client with certificate and token through to the handler', async () => {
    const client = createClient(TrainerServiceClient, address(), { tls: 'mtls', caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey, token: TOKEN });
    const err = await getJob(client);
    expect(err.code).toBe(status.NOT_FOUND);
    client.close();
  });

  it('refuses a TLS client without a client certificate (mutual TLS)', async () => {
    const client = createClient(TrainerServiceClient, address(), { tls: 'tls', caFile: certs.caCert, token: TOKEN });
    expect((await getJob(client)).code).toBe(status.UNAVAILABLE);
    client.close();
  });

  it('refuses a plaintext client', async () => {
    const client = createClient(TrainerServiceClient, address(), { token: TOKEN });
    expect((await getJob(client)).code).toBe(status.UNAVAILABLE);
    client.close();
  });

  it('keeps health checks open without a token (Kubernetes probes send none)', async () => {
    const creds = credentials.createSsl(...[certs.caCert, certs.clientKey, certs.clientCert].map((f) => readFileSync(f)) as [Buffer, Buffer, Buffer]);
    const hc = healthClient(address(), creds);
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      hc.Check({ service: '' }, { deadline: new Date(Date.now() + 5_000) }, (err: Error | null, r: { status: string }) => (err ? reject(err) : resolve(r))));
    expect(res.status).toBe('SERVING');
    hc.close();
  });
});

describe('TLS without client certificates', () => {
  it('serves a TLS client that trusts the CA', async () => {
    const c = makeTestCerts();
    const s = await startTestService(trainerService, { overrides: { tls: 'tls', tlsCertFile: c.serverCert, tlsKeyFile: c.serverKey } });
    const client = createClient(TrainerServiceClient, `localhost:${s.port}`, { tls: 'tls', caFile: c.caCert });
    expect((await getJob(client)).code).toBe(status.NOT_FOUND);
    client.close();
    await s.stop();
  });
});
