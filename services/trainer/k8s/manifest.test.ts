import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../common/config.js';
import { KUBERNETES_EXECUTOR_ENV, kubernetesExecutorConfigSchema } from './config.js';
import { TRAIN_COMMAND, buildTrainingJob, jobNameFor, labelValue, loadJobTemplate, validateJobManifest } from './manifest.js';

const ROOT = '/var/lib/spark/artifacts';
const params = { jobId: 'job-1', mode: 'sft', specPath: `${ROOT}/runs/x/spec.json`, artifactRoot: ROOT };
const config = kubernetesExecutorConfigSchema.parse({ k8sNamespace: 'ml' });

/** What the Helm chart's trainer-job-template.yaml renders to (release "demo"). */
const CHART_TEMPLATE = `
apiVersion: batch/v1
kind: Job
metadata:
  generateName: demo-spark-train-
  namespace: ml
  labels: { app.kubernetes.io/instance: demo }
spec:
  backoffLimit: 2
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels: { app.kubernetes.io/instance: demo }
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 }
      nodeSelector: { nvidia.com/gpu.present: "true", pool: a100 }
      tolerations: [{ key: nvidia.com/gpu, operator: Exists, effect: NoSchedule }]
      containers:
        - name: train
          image: registry.example/spark-trainer:1.2.3
          args: [train, run]
          envFrom: [{ configMapRef: { name: demo-spark-config } }]
          env:
            - { name: CUDA_CACHE_PATH, value: /tmp/cuda-cache }
            - { name: SPARK_TRAIN_SPEC, value: stale }
          resources:
            requests: { nvidia.com/gpu: "2", cpu: "8", memory: 64Gi }
            limits: { nvidia.com/gpu: "2", memory: 128Gi }
          volumeMounts:
            - { name: artifacts, mountPath: ${ROOT} }
            - { name: tmp, mountPath: /tmp }
            - { name: dshm, mountPath: /dev/shm }
      volumes:
        - { name: artifacts, persistentVolumeClaim: { claimName: demo-spark-artifacts } }
        - { name: tmp, emptyDir: { sizeLimit: 1Gi } }
        - { name: dshm, emptyDir: { medium: Memory, sizeLimit: 16Gi } }
`;

function templateFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tpl-')), 'job-template.yaml');
  writeFileSync(path, text);
  return path;
}

describe('executor config', () => {
  it('reads the environment, JSON for maps and lists, with GPU Operator defaults', () => {
    const cfg = loadConfig(kubernetesExecutorConfigSchema, {
      env: {
        SPARK_TRAINER_NAMESPACE: 'ml',
        SPARK_TRAINER_GPUS: '4',
        SPARK_TRAINER_NODE_SELECTOR: '{"cloud.google.com/gke-accelerator":"nvidia-h100-80gb"}',
        SPARK_TRAINER_SECRET_ENV: '["hf-token"]',
      },
      envNames: KUBERNETES_EXECUTOR_ENV,
    });
    expect(cfg).toMatchObject({ k8sNamespace: 'ml', k8sGpus: 4, k8sSecretEnv: ['hf-token'], k8sGpuResource: 'nvidia.com/gpu' });
    expect(cfg.k8sNodeSelector).toEqual({ 'cloud.google.com/gke-accelerator': 'nvidia-h100-80gb' });
    expect(cfg.k8sTolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  it('names the variable of a bad value', () => {
    expect(() => loadConfig(kubernetesExecutorConfigSchema, { env: { SPARK_TRAINER_TOLERATIONS: 'gpu' }, envNames: KUBERNETES_EXECUTOR_ENV })).toThrow(/SPARK_TRAINER_TOLERATIONS/);
    expect(() => loadConfig(kubernetesExecutorConfigSchema, { env: { SPARK_TRAINER_SHM_SIZE: 'lots' }, envNames: KUBERNETES_EXECUTOR_ENV })).toThrow(/SPARK_TRAINER_SHM_SIZE.*quantity/);
  });
});

describe('buildTrainingJob from the config', () => {
  const job = buildTrainingJob(params, config);
  const pod = job.spec!.template.spec!;
  const container = pod.containers[0]!;

  it('runs `spark train run --spec` on a GPU node with the artifact PVC at the trainer\'s root', () => {
    expect(job.metadata).toMatchObject({ name: 'spark-train-job-1', namespace: 'ml' });
    expect(job.metadata!.labels).toMatchObject({ 'spark-ts/job-id': 'job-1', 'spark-ts/mode': 'sft', 'app.kubernetes.io/component': 'train' });
    expect(job.spec!.template.metadata!.labels).toEqual(job.metadata!.labels);
    expect(container.command).toEqual(['node', 'bin/spark.js', 'train', 'run', '--spec', params.specPath]);
    expect(container.command!.slice(0, TRAIN_COMMAND.length)).toEqual([...TRAIN_COMMAND]);
    expect(container.resources).toEqual({ requests: { cpu: '8', memory: '64Gi', 'nvidia.com/gpu': '1' }, limits: { memory: '128Gi', 'nvidia.com/gpu': '1' } });
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(container.volumeMounts).toContainEqual({ name: 'artifacts', mountPath: ROOT });
    expect(container.volumeMounts).toContainEqual({ name: 'dshm', mountPath: '/dev/shm' });
    expect(pod.volumes).toContainEqual({ name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: '16Gi' } });
    expect(container.env).toContainEqual({ name: 'SPARK_TRAIN_SPEC', value: params.specPath });
    expect(container.env).toContainEqual({ name: 'SPARK_TRAIN_JOB_ID', value: 'job-1' });
    expect(container.env).toContainEqual({ name: 'SPARK_ARTIFACT_ROOT', value: ROOT });
  });

  it('is non-root, keeps no API token, and bounds retries and lifetime', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10_001, fsGroup: 10_001 });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.restartPolicy).toBe('Never');
    expect(job.spec).toMatchObject({ backoffLimit: 2, ttlSecondsAfterFinished: 86_400 });
    expect(job.spec!.activeDeadlineSeconds).toBeUndefined();
    expect(pod.terminationGracePeriodSeconds).toBe(120);
  });

  it('takes GPUs, secrets and deadline from the config; 0 GPUs asks for none', () => {
    const cpu = buildTrainingJob(params, kubernetesExecutorConfigSchema.parse({ k8sGpus: 0, k8sSecretEnv: ['hf'], k8sActiveDeadlineSeconds: 3600, k8sNodeSelector: {}, k8sTolerations: [] }));
    const c = cpu.spec!.template.spec!.containers[0]!;
    expect(c.resources!.limits).toEqual({ memory: '128Gi' });
    expect(c.envFrom).toEqual([{ secretRef: { name: 'hf' } }]);
    expect(cpu.spec!.activeDeadlineSeconds).toBe(3600);
  });

  it('rejects a spec file outside the artifact root', () => {
    expect(() => buildTrainingJob({ ...params, specPath: '/etc/spec.json' }, config)).toThrow(/specPath: \/etc\/spec\.json is not under the artifact root/);
  });
});

describe('buildTrainingJob from a Job template (the chart)', () => {
  const template = loadJobTemplate(templateFile(CHART_TEMPLATE));

  it('keeps the template\'s pod shape and sets name, labels, command and run env', () => {
    const job = buildTrainingJob(params, config, template);
    const container = job.spec!.template.spec!.containers[0]!;
    expect(job.metadata!.name).toBe('demo-spark-train-job-1');
    expect(job.metadata!.generateName).toBeUndefined();
    expect(job.metadata!.labels).toMatchObject({ 'app.kubernetes.io/instance': 'demo', 'spark-ts/job-id': 'job-1' });
    expect(job.spec!.template.metadata!.labels).toMatchObject({ 'app.kubernetes.io/instance': 'demo', 'spark-ts/job-id': 'job-1' });
    expect(container.command).toEqual([...TRAIN_COMMAND, '--spec', params.specPath]);
    expect(container.args).toBeUndefined();
    expect(container.image).toBe('registry.example/spark-trainer:1.2.3');
    expect(container.resources!.limits!['nvidia.com/gpu']).toBe('2');
    expect(job.spec!.template.spec!.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true', pool: 'a100' });
    expect(container.env!.filter((e) => e.name === 'SPARK_TRAIN_SPEC')).toEqual([{ name: 'SPARK_TRAIN_SPEC', value: params.specPath }]);
    expect(container.env).toContainEqual({ name: 'CUDA_CACHE_PATH', value: '/tmp/cuda-cache' });
    expect(template.metadata!.generateName).toBe('demo-spark-train-'); // the template itself is untouched
  });

  it('refuses a template without the artifact PVC, or mounted elsewhere', () => {
    const noPvc = loadJobTemplate(templateFile(CHART_TEMPLATE.replace('persistentVolumeClaim: { claimName: demo-spark-artifacts }', 'emptyDir: {}')));
    expect(() => buildTrainingJob(params, config, noPvc)).toThrow(/needs the "artifacts" PersistentVolumeClaim/);
    const elsewhere = loadJobTemplate(templateFile(CHART_TEMPLATE.replace(`mountPath: ${ROOT}`, 'mountPath: /data')));
    expect(() => buildTrainingJob(params, config, elsewhere)).toThrow(/mounted at \/data but the trainer's artifact root is/);
  });

  it('refuses a file that is not a Job', () => {
    expect(() => loadJobTemplate(templateFile('apiVersion: v1\nkind: Pod\n'))).toThrow(/k8sJobTemplate: .* is not a batch\/v1 Job/);
  });
});

describe('validateJobManifest (Kubernetes schema)', () => {
  it('lists schema violations', () => {
    const job = buildTrainingJob(params, config);
    (job.spec as { backoffLimit: unknown }).backoffLimit = 'twice';
    delete (job.spec!.template.spec!.containers[0] as { name?: string }).name;
    expect(() => validateJobManifest(job)).toThrow(/backoffLimit must be integer.*name/);
  });
});

describe('names', () => {
  it('are DNS-1123 labels, deterministic, hashed when too long', () => {
    expect(jobNameFor('0f5c2d1e-8a1b-4c2d-9e3f-123456789abc')).toBe('spark-train-0f5c2d1e-8a1b-4c2d-9e3f-123456789abc');
    expect(jobNameFor('Run_7', 'Demo-')).toBe('demo-run-7');
    const long = jobNameFor('x'.repeat(80), 'a-very-long-release-name-spark-train-');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(jobNameFor('x'.repeat(80), 'a-very-long-release-name-spark-train-')).toBe(long);
    expect(labelValue('--weird id/1--')).toBe('weird-id-1');
  });
});
