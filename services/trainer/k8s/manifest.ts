/**
 * The batch/v1 Job of one training run on the GPU node pool: `nvidia.com/gpu` limits, GPU node selector
 * and toleration, memory-backed /dev/shm, the artifact PVC mounted at the trainer's own artifact root
 * (so the absolute paths of the run spec mean the same in the pod), non-root security context,
 * backoffLimit (a retried pod resumes from the last checkpoint) and ttlSecondsAfterFinished.
 *
 * Built from the executor config, or from a Job template (the Helm chart's), of which only the name,
 * labels, command and run environment are set here. Every manifest is checked against the Kubernetes
 * OpenAPI schema (kubernetes-models) before it is sent.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import type { V1Container, V1EnvVar, V1Job } from '@kubernetes/client-node';
import { Job as JobModel } from 'kubernetes-models/batch/v1/Job';
import { parse as parseYaml } from 'yaml';
import { InvalidArgumentError } from '../../common/errors.js';
import type { KubernetesExecutorConfig } from './config.js';

/** What a training pod runs, before `--spec <file>`: the `spark train run` entry of the CLI. */
export const TRAIN_COMMAND = ['node', 'bin/spark.js', 'train', 'run'] as const;

/** The full command of a training container for a spec file. */
export function trainCommand(specPath: string): string[] {
  return [...TRAIN_COMMAND, '--spec', specPath];
}

/** Label carrying the trainer's job id on the Job and its pods; pods are listed by it. */
export const JOB_ID_LABEL = 'spark-ts/job-id';
export const MODE_LABEL = 'spark-ts/mode';
const ARTIFACTS_VOLUME = 'artifacts';
const MAX_NAME_LENGTH = 63;

export interface TrainingJobParams {
  /** The trainer's job id (JobRunner). */
  jobId: string;
  /** ppo or sft, for labels. */
  mode: string;
  /** Absolute path of the run's spec.json, inside `artifactRoot`. */
  specPath: string;
  /** The trainer's artifact root; the PVC is mounted at this path in the pod. */
  artifactRoot: string;
}

/** A label value from any string: [A-Za-z0-9._-], at most 63, starting and ending alphanumeric. */
export function labelValue(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, MAX_NAME_LENGTH).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/**
 * The Job's name: `<prefix><job id>` as a DNS-1123 label, or `<prefix><hash>` when that is too long.
 * Deterministic, so a trainer restarted mid-run finds (adopts) its Job instead of starting another.
 */
export function jobNameFor(jobId: string, prefix = 'spark-train-'): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const head = clean(prefix).replace(/^-+/, '').slice(0, 50);
  const full = `${head}${clean(jobId)}`.replace(/-+$/, '');
  if (full.length <= MAX_NAME_LENGTH && /^[a-z0-9]/.test(full)) return full;
  return `${head}${createHash('sha256').update(jobId).digest('hex').slice(0, 12)}`;
}

/** Reads a Job template YAML (e.g. the chart's), checking it is a batch/v1 Job with a container. */
export function loadJobTemplate(path: string): V1Job {
  const doc = parseYaml(readFileSync(path, 'utf8')) as V1Job | null;
  if (doc?.apiVersion !== 'batch/v1' || doc.kind !== 'Job') {
    throw new InvalidArgumentError('k8sJobTemplate', `${path} is not a batch/v1 Job`, 'a Job manifest (YAML)');
  }
  if (!doc.spec?.template.spec?.containers?.length) throw new InvalidArgumentError('k8sJobTemplate', `${path} has no container`);
  return doc;
}

function runEnv(params: TrainingJobParams, withArtifactRoot: boolean): V1EnvVar[] {
  return [
    { name: 'SPARK_TRAIN_JOB_ID', value: params.jobId },
    { name: 'SPARK_TRAIN_SPEC', value: params.specPath },
    ...(withArtifactRoot ? [{ name: 'SPARK_ARTIFACT_ROOT', value: params.artifactRoot }] : []),
  ];
}

/** The pod spec from the executor config alone (no template). */
function jobFromConfig(params: TrainingJobParams, config: KubernetesExecutorConfig): V1Job {
  const gpus = config.k8sGpus > 0 ? { [config.k8sGpuResource]: String(config.k8sGpus) } : {};
  const uid = config.k8sRunAsUser;
  const container: V1Container = {
    name: config.k8sContainerName,
    image: config.k8sImage,
    imagePullPolicy: config.k8sImagePullPolicy,
    env: [
      // The root filesystem is read-only: CUDA's JIT cache and HOME go to the /tmp volume.
      { name: 'CUDA_CACHE_PATH', value: '/tmp/cuda-cache' },
      { name: 'HOME', value: '/tmp' },
      { name: 'NVIDIA_DRIVER_CAPABILITIES', value: 'compute,utility' },
    ],
    envFrom: config.k8sSecretEnv.map((name) => ({ secretRef: { name } })),
    resources: {
      requests: { cpu: config.k8sCpuRequest, memory: config.k8sMemoryRequest, ...gpus },
      // Extended resources such as GPUs must have limit = request; no CPU limit (throttling hurts).
      limits: { memory: config.k8sMemoryLimit, ...gpus },
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: uid,
      runAsGroup: uid,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: ARTIFACTS_VOLUME, mountPath: params.artifactRoot },
      { name: 'dshm', mountPath: '/dev/shm' },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {},
    spec: {
      backoffLimit: config.k8sBackoffLimit,
      ttlSecondsAfterFinished: config.k8sTtlSecondsAfterFinished,
      ...(config.k8sActiveDeadlineSeconds > 0 ? { activeDeadlineSeconds: config.k8sActiveDeadlineSeconds } : {}),
      template: {
        metadata: {},
        spec: {
          restartPolicy: 'Never',
          // Training pods call no Kubernetes API.
          automountServiceAccountToken: false,
          ...(config.k8sServiceAccount ? { serviceAccountName: config.k8sServiceAccount } : {}),
          terminationGracePeriodSeconds: config.k8sTerminationGraceSeconds,
          securityContext: { runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: 'RuntimeDefault' } },
          nodeSelector: config.k8sNodeSelector,
          tolerations: config.k8sTolerations,
          containers: [container],
          volumes: [
            { name: ARTIFACTS_VOLUME, persistentVolumeClaim: { claimName: config.k8sArtifactsClaim } },
            { name: 'dshm', emptyDir: { medium: 'Memory', sizeLimit: config.k8sShmSize } },
            { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
          ],
        },
      },
    },
  };
}

/** The spec file must be on the artifact PVC, mounted where the trainer has it. */
function checkArtifactMount(job: V1Job, container: V1Container, params: TrainingJobParams): void {
  const mount = container.volumeMounts?.find((m) => m.name === ARTIFACTS_VOLUME);
  const volume = job.spec?.template.spec?.volumes?.find((v) => v.name === ARTIFACTS_VOLUME);
  if (!mount || !volume?.persistentVolumeClaim) {
    throw new InvalidArgumentError('k8sJobTemplate', `the training container needs the "${ARTIFACTS_VOLUME}" PersistentVolumeClaim mounted (artifacts.persistence in the chart)`);
  }
  if (mount.mountPath !== params.artifactRoot) {
    throw new InvalidArgumentError('k8sJobTemplate', `the artifact volume is mounted at ${mount.mountPath} but the trainer's artifact root is ${params.artifactRoot}; both must be the same path`);
  }
  const rel = relative(params.artifactRoot, params.specPath);
  if (!isAbsolute(params.specPath) || rel.startsWith('..') || isAbsolute(rel)) {
    throw new InvalidArgumentError('specPath', `${params.specPath} is not under the artifact root ${params.artifactRoot}`);
  }
}

/** Checks a manifest against the Kubernetes schema; the error lists every violation. */
export function validateJobManifest(job: V1Job): void {
  try {
    new JobModel(job as ConstructorParameters<typeof JobModel>[0]).validate();
  } catch (err) {
    throw new InvalidArgumentError('job manifest', `not a valid batch/v1 Job: ${(err as Error).message}`, undefined, { cause: err });
  }
}

/** The Job for one training run, validated. `template` (already loaded) overrides the config's pod shape. */
export function buildTrainingJob(params: TrainingJobParams, config: KubernetesExecutorConfig, template?: V1Job): V1Job {
  const job: V1Job = template ? structuredClone(template) : jobFromConfig(params, config);
  const labels = {
    'app.kubernetes.io/name': 'spark-ts',
    'app.kubernetes.io/component': 'train',
    'app.kubernetes.io/managed-by': 'spark-trainer',
    [JOB_ID_LABEL]: labelValue(params.jobId),
    [MODE_LABEL]: labelValue(params.mode),
  };
  const name = jobNameFor(params.jobId, template?.metadata?.generateName ?? template?.metadata?.name ?? 'spark-train-');
  job.metadata = {
    ...job.metadata,
    name,
    namespace: config.k8sNamespace,
    labels: { ...job.metadata?.labels, ...labels },
    annotations: { ...job.metadata?.annotations, 'spark-ts/spec': params.specPath },
  };
  delete job.metadata.generateName;
  const podTemplate = job.spec!.template;
  podTemplate.metadata = { ...podTemplate.metadata, labels: { ...podTemplate.metadata?.labels, ...labels } };
  const containers = podTemplate.spec!.containers;
  const container = containers.find((c) => c.name === config.k8sContainerName) ?? containers[0]!;
  container.command = trainCommand(params.specPath);
  delete container.args;
  const ours = runEnv(params, !template);
  container.env = [...(container.env ?? []).filter((e) => !ours.some((o) => o.name === e.name)), ...ours];
  checkArtifactMount(job, container, params);
  validateJobManifest(job);
  return job;
}
