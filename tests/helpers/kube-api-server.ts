/**
 * A real local HTTP server speaking the slice of the Kubernetes API the trainer's Kubernetes executor
 * uses, with a tiny Job controller behind it, for tests of anything that launches training Jobs:
 *
 * - `POST   /apis/batch/v1/namespaces/{ns}/jobs`                 create (409 when the name exists)
 * - `GET    /apis/batch/v1/namespaces/{ns}/jobs/{name}[/status]`  read
 * - `GET    /apis/batch/v1/namespaces/{ns}/jobs?watch=true&fieldSelector=metadata.name=X`  watch (JSON lines)
 * - `DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}`          delete (records propagationPolicy)
 * - `GET    /api/v1/namespaces/{ns}/pods?labelSelector=k=v`       list pods
 * - `GET    /api/v1/namespaces/{ns}/pods/{pod}/log?follow=true`   stream a pod's log
 *
 * The controller: a created Job gets one Pending pod (labels of the pod template); the first pod list
 * moves it to Running; reading its log streams `logLines`, then, per `outcome`, the pod ends and the Job
 * gets its Complete or Failed condition (`succeed`, `fail`), or the log stays open until the Job is
 * deleted (`hang`). Every request is recorded, created bodies included.
 *
 *   const api = await KubeApiServer.start({ outcome: 'succeed', logLines: ['step 1'] });
 *   writeFileSync(path, api.kubeconfig('spark'));
 *   await api.close();
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, any>;

export interface KubeApiOptions {
  outcome: 'succeed' | 'fail' | 'hang';
  logLines: string[];
}

export interface RecordedKubeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  body?: Json;
}

export class KubeApiServer {
  readonly requests: RecordedKubeRequest[] = [];
  readonly jobs = new Map<string, Json>();
  readonly pods = new Map<string, Json>();
  /** Open watch and log responses, so tests can see the executor closed them. */
  readonly openWatches = new Set<ServerResponse>();
  readonly openLogs = new Set<ServerResponse>();
  private resourceVersion = 1;

  private constructor(private readonly server: Server, readonly options: KubeApiOptions) {}

  static async start(options: KubeApiOptions): Promise<KubeApiServer> {
    const server = createServer();
    const api = new KubeApiServer(server, options);
    server.on('request', (req, res) => void api.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A kubeconfig (YAML is a superset of JSON) pointing at this server with a bearer token. */
  kubeconfig(namespace: string): string {
    return JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node only speaks plain HTTP to a cluster marked insecure-skip-tls-verify.
      clusters: [{ name: 'fake', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'tester', user: { token: 'test-token' } }],
      contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'tester', namespace } }],
      'current-context': 'fake',
    });
  }

  /** A Job that exists before the test starts (e.g. a trainer restarted mid-run). */
  addJob(job: Json): void {
    this.store(structuredClone(job));
  }

  async close(): Promise<void> {
    for (const res of [...this.openWatches, ...this.openLogs]) res.end();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private store(job: Json): Json {
    const name = job.metadata.name as string;
    job.metadata = { ...job.metadata, uid: `uid-${name}`, resourceVersion: String(++this.resourceVersion) };
    job.status = {};
    this.jobs.set(name, job);
    const podName = `${name}-x7k2p`;
    this.pods.set(podName, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: podName, namespace: job.metadata.namespace, labels: { ...job.spec.template.metadata.labels, 'job-name': name } },
      status: {
        phase: 'Pending',
        conditions: [{ type: 'PodScheduled', status: 'True' }],
        containerStatuses: [{ name: 'train', ready: false, state: { waiting: { reason: 'ContainerCreating' } } }],
      },
    });
    return job;
  }

  private update(name: string, status: Json): void {
    const job = this.jobs.get(name);
    if (!job) return;
    job.status = status;
    job.metadata.resourceVersion = String(++this.resourceVersion);
    this.broadcast(name, 'MODIFIED', job);
  }

  private broadcast(name: string, type: string, job: Json): void {
    for (const res of this.openWatches) {
      if ((res as ServerResponse & { jobName?: string }).jobName === name) res.write(`${JSON.stringify({ type, object: job })}\n`);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? (JSON.parse(text) as Json) : undefined;
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, authorization: req.headers.authorization, body });
    const send = (code: number, obj: Json) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    const status = (code: number, reason: string, message: string) => send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });

    let m: RegExpExecArray | null;
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(url.pathname))) {
      if (req.method === 'POST') {
        if (this.jobs.has(body?.metadata?.name)) return status(409, 'AlreadyExists', `jobs.batch "${body?.metadata?.name}" already exists`);
        return send(201, this.store(structuredClone(body!)));
      }
      if (url.searchParams.get('watch') === 'true') {
        const name = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1] ?? '';
        res.writeHead(200, { 'content-type': 'application/json' });
        Object.assign(res, { jobName: name });
        this.openWatches.add(res);
        res.on('close', () => this.openWatches.delete(res));
        // Like the API server, replay what happened after the client's resourceVersion.
        const job = this.jobs.get(name);
        if (job && Number(job.metadata.resourceVersion) > Number(url.searchParams.get('resourceVersion') ?? 0)) {
          res.write(`${JSON.stringify({ type: 'MODIFIED', object: job })}\n`);
        }
        return;
      }
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)(\/status)?$/.exec(url.pathname))) {
      const job = this.jobs.get(m[2]!);
      if (!job) return status(404, 'NotFound', `jobs.batch "${m[2]}" not found`);
      if (req.method === 'GET') return send(200, job);
      if (req.method === 'DELETE') {
        this.jobs.delete(m[2]!);
        for (const [podName, pod] of this.pods) if (pod.metadata.labels['job-name'] === m[2]) this.pods.delete(podName);
        for (const log of this.openLogs) log.end();
        this.broadcast(m[2]!, 'DELETED', job);
        return send(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      }
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(url.pathname))) {
      const [key, value] = (url.searchParams.get('labelSelector') ?? '').split('=');
      const items = [...this.pods.values()].filter((p) => p.metadata.labels[key!] === value);
      send(200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: structuredClone(items) });
      for (const pod of items) {
        if (pod.status.phase === 'Pending') {
          pod.status = { phase: 'Running', containerStatuses: [{ name: 'train', ready: true, state: { running: {} } }] };
        }
      }
      return;
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(url.pathname))) {
      const pod = this.pods.get(m[2]!);
      if (!pod) return status(404, 'NotFound', `pods "${m[2]}" not found`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      this.openLogs.add(res);
      res.on('close', () => this.openLogs.delete(res));
      for (const line of this.options.logLines) res.write(`${line}\n`);
      if (this.options.outcome === 'hang') return;
      res.end();
      const jobName = pod.metadata.labels['job-name'] as string;
      const ok = this.options.outcome === 'succeed';
      pod.status = { phase: ok ? 'Succeeded' : 'Failed', containerStatuses: [{ name: 'train', state: { terminated: { exitCode: ok ? 0 : 1, reason: ok ? 'Completed' : 'Error' } } }] };
      this.update(jobName, ok
        ? { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] }
        : { failed: 3, conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }] });
      return;
    }
    status(404, 'NotFound', `no route for ${req.method} ${url.pathname}`);
  }
}
