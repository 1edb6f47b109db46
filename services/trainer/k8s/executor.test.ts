/**
 * The Kubernetes executor against a real local HTTP server serving the batch/v1 Job and core/v1 pod and
 * pod-log paths it uses (tests/helpers/kube-api-server.ts), reached through a kubeconfig.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CancelledError } from '../../common/errors.js';
import { createLogger } from '../../common/logging.js';
import { KubeApiServer, type KubeApiOptions } from '../../../tests/helpers/kube-api-server.js';
import { kubernetesExecutorConfigSchema } from './config.js';
import { KubernetesExecutor, type RunStatus } from './executor.js';
import { TRAIN_COMMAND } from './manifest.js';

const ARTIFACT_ROOT = '/var/lib/spark/artifacts';
const params = { jobId: '0f5c2d1e-run', mode: 'ppo', specPath: `${ARTIFACT_ROOT}/runs/a/ppo/spec.json`, artifactRoot: ARTIFACT_ROOT };
let api: KubeApiServer | undefined;

afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function setup(options: KubeApiOptions) {
  api = await KubeApiServer.start(options);
  const dir = mkdtempSync(join(tmpdir(), 'kube-'));
  const kubeconfig = join(dir, 'config');
  writeFileSync(kubeconfig, api.kubeconfig('spark'));
  const config = kubernetesExecutorConfigSchema.parse({ k8sNamespace: 'spark', k8sKubeconfig: kubeconfig, k8sPodPollMs: 20, k8sLogDrainMs: 5_000 });
  const executor = new KubernetesExecutor(config, createLogger('test', 'silent'));
  const statuses: RunStatus[] = [];
  const logs: string[] = [];
  return { api, executor, statuses, logs, events: { onStatus: (s: RunStatus) => statuses.push(s), onLog: (line: string) => logs.push(line) } };
}

describe('KubernetesExecutor', () => {
  it('creates a valid GPU Job, follows its pod and logs, and reports success', async () => {
    const { api, executor, statuses, logs, events } = await setup({ outcome: 'succeed', logLines: ['{"step":1,"loss":0.9}', '{"step":2,"loss":0.7}'] });
    const outcome = await executor.run(params, { signal: new AbortController().signal, events });

    expect(outcome).toEqual({ state: 'succeeded', message: 'job complete (1 succeeded)', jobName: 'spark-train-0f5c2d1e-run' });
    expect(logs).toEqual(['{"step":1,"loss":0.9}', '{"step":2,"loss":0.7}']);
    const messages = statuses.map((s) => s.message);
    expect(messages[0]).toBe('job spark-train-0f5c2d1e-run in namespace spark');
    expect(messages).toContain('pod spark-train-0f5c2d1e-run-x7k2p: Pending (ContainerCreating)');
    expect(messages).toContain('pod spark-train-0f5c2d1e-run-x7k2p: Running');
    expect(statuses.at(-1)?.phase).toBe('succeeded');

    // What reached the API server: one create with a manifest valid against the Kubernetes schema.
    const creates = api.requests.filter((r) => r.method === 'POST');
    expect(creates).toHaveLength(1);
    expect(creates[0]!.path).toBe('/apis/batch/v1/namespaces/spark/jobs');
    expect(creates[0]!.authorization).toBe('Bearer test-token');
    const sent = creates[0]!.body!;
    expect(() => new Job(sent as never).validate()).not.toThrow();
    const pod = sent.spec.template.spec;
    expect(pod.containers[0].command).toEqual([...TRAIN_COMMAND, '--spec', params.specPath]);
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBe('1');
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.volumes).toContainEqual({ name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '16Gi' } });
    expect(pod.volumes).toContainEqual({ name: 'artifacts', persistentVolumeClaim: { claimName: 'spark-artifacts' } });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    // It listed pods by the run's label, read the log with follow, and watched the Job by name.
    expect(api.requests.some((r) => r.path === '/api/v1/namespaces/spark/pods' && r.query.get('labelSelector') === 'spark-ts/job-id=0f5c2d1e-run')).toBe(true);
    const logReq = api.requests.find((r) => r.path.endsWith('/log'))!;
    expect(logReq.path).toBe('/api/v1/namespaces/spark/pods/spark-train-0f5c2d1e-run-x7k2p/log');
    expect(logReq.query.get('follow')).toBe('true');
    expect(logReq.query.get('container')).toBe('train');
    expect(api.requests.some((r) => r.query.get('watch') === 'true' && r.query.get('fieldSelector') === 'metadata.name=spark-train-0f5c2d1e-run')).toBe(true);
    expect(api.requests.some((r) => r.method === 'DELETE')).toBe(false);
    await vi.waitFor(() => expect(api.openWatches.size + api.openLogs.size).toBe(0));
  });

  it('reports a failed Job as a failed outcome with the reason', async () => {
    const { executor, logs, events } = await setup({ outcome: 'fail', logLines: ['CUDA error: out of memory'] });
    const outcome = await executor.run(params, { signal: new AbortController().signal, events });
    expect(outcome.state).toBe('failed');
    expect(outcome.message).toBe('job failed: BackoffLimitExceeded: Job has reached the specified backoff limit');
    expect(logs).toEqual(['CUDA error: out of memory']);
  });

  it('on cancel deletes the Job with propagationPolicy Background and closes its streams', async () => {
    const { api, executor, events } = await setup({ outcome: 'hang', logLines: ['{"step":1}'] });
    const controller = new AbortController();
    const run = executor.run(params, {
      signal: controller.signal,
      events: { ...events, onLog: (line) => { events.onLog(line); controller.abort(); } },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    const deletes = api.requests.filter((r) => r.method === 'DELETE');
    expect(deletes).toHaveLength(1);
    expect(deletes[0]!.path).toBe('/apis/batch/v1/namespaces/spark/jobs/spark-train-0f5c2d1e-run');
    expect(deletes[0]!.query.get('propagationPolicy') ?? deletes[0]!.body?.propagationPolicy).toBe('Background');
    expect(api.jobs.size).toBe(0);
    await vi.waitFor(() => expect(api.openWatches.size + api.openLogs.size).toBe(0));
  });

  it('a signal aborted before the start creates nothing', async () => {
    const { api, executor } = await setup({ outcome: 'succeed', logLines: [] });
    await expect(executor.run(params, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(CancelledError);
    expect(api.requests).toHaveLength(0);
  });

  it('adopts its own Job after a trainer restart, and refuses one of another run', async () => {
    const { api, executor, logs, events } = await setup({ outcome: 'succeed', logLines: ['resumed'] });
    api.addJob(executor.manifestFor(params));
    const outcome = await executor.run(params, { signal: new AbortController().signal, events });
    expect(outcome.state).toBe('succeeded');
    expect(logs).toEqual(['resumed']);
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(1); // the 409, then a read

    const other = executor.manifestFor({ ...params, jobId: 'someone-else' });
    other.metadata!.name = executor.manifestFor({ ...params, jobId: 'clash' }).metadata!.name;
    api.addJob(other);
    await expect(executor.run({ ...params, jobId: 'clash' }, { signal: new AbortController().signal })).rejects.toThrow(/belongs to another run/);
  });
});
