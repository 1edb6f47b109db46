/**
 * Settings of the Kubernetes executor (`executor: kubernetes`): where training Jobs run and how they are
 * shaped. The trainer's config spreads `kubernetesExecutorShape` and `KUBERNETES_EXECUTOR_ENV`; the Helm
 * chart sets SPARK_TRAINER_NAMESPACE and SPARK_TRAINER_JOB_TEMPLATE (a Job YAML carrying image, GPU
 * resources, node selector, tolerations, volumes and security context), in which case the remaining
 * fields only apply when no template is given. Defaults follow the NVIDIA GPU Operator's conventions.
 */
import { z } from 'zod';

/** Values given as JSON in the environment (objects, lists). */
const json = <T extends z.ZodType>(schema: T) =>
  z.preprocess((x) => {
    if (typeof x !== 'string') return x;
    try {
      return JSON.parse(x);
    } catch {
      return x; // zod then reports the type mismatch, naming the variable
    }
  }, schema);

const toleration = z
  .object({
    key: z.string().optional(),
    operator: z.enum(['Exists', 'Equal']).default('Equal'),
    value: z.string().optional(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
    tolerationSeconds: z.number().int().optional(),
  })
  .strict();

/** Kubernetes quantities: "8", "500m", "64Gi". */
const quantity = z.string().regex(/^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/, 'must be a Kubernetes quantity such as 8, 500m, 64Gi');

export const kubernetesExecutorShape = {
  k8sNamespace: z.string().min(1).default('default').describe('Namespace the training Jobs run in (the chart passes the release namespace)'),
  k8sKubeconfig: z.string().optional().describe('kubeconfig file; unset = KUBECONFIG, ~/.kube/config, then the in-cluster service account'),
  k8sJobTemplate: z.string().optional().describe('Job YAML to start from (the chart mounts one); its pod spec wins over the k8s* fields below'),
  k8sImage: z.string().min(1).default('spark-ts/spark-trainer:latest').describe('Training image (CUDA libtorch build of spark-ts)'),
  k8sImagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent').describe('Image pull policy'),
  k8sContainerName: z.string().min(1).default('train').describe('Name of the training container'),
  k8sGpus: z.coerce.number().int().min(0).default(1).describe('GPUs per training pod (limits of k8sGpuResource)'),
  k8sGpuResource: z.string().min(1).default('nvidia.com/gpu').describe('Extended resource counting GPUs (NVIDIA device plugin)'),
  k8sNodeSelector: json(z.record(z.string(), z.string()))
    .default({ 'nvidia.com/gpu.present': 'true' })
    .describe('Node selector (JSON); the default is the label GPU Feature Discovery puts on GPU nodes'),
  k8sTolerations: json(z.array(toleration))
    .default([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }])
    .describe('Tolerations (JSON); the default tolerates the usual nvidia.com/gpu taint of GPU pools'),
  k8sCpuRequest: quantity.default('8').describe('CPU request of the training pod'),
  k8sMemoryRequest: quantity.default('64Gi').describe('Memory request of the training pod'),
  k8sMemoryLimit: quantity.default('128Gi').describe('Memory limit of the training pod'),
  k8sShmSize: quantity.default('16Gi').describe('Size of the memory-backed /dev/shm (data loaders, NCCL)'),
  k8sArtifactsClaim: z.string().min(1).default('spark-artifacts').describe('PersistentVolumeClaim of the artifact root, mounted at the same path as in the trainer'),
  k8sServiceAccount: z.string().optional().describe('Service account of training pods (they call no Kubernetes API)'),
  k8sSecretEnv: json(z.array(z.string().min(1))).default([]).describe('Secrets whose keys become environment variables of the training pod (JSON list of names)'),
  k8sRunAsUser: z.coerce.number().int().min(1).default(10_001).describe('Non-root UID (and GID, fsGroup) of the training pod'),
  k8sBackoffLimit: z.coerce.number().int().min(0).default(2).describe('Pod retries before the Job fails (training resumes from its last checkpoint)'),
  k8sTtlSecondsAfterFinished: z.coerce.number().int().min(0).default(86_400).describe('Seconds a finished Job (and its logs) is kept'),
  k8sActiveDeadlineSeconds: z.coerce.number().int().min(0).default(0).describe('Wall-clock limit of a Job; 0 = none'),
  k8sTerminationGraceSeconds: z.coerce.number().int().min(0).default(120).describe('Time a cancelled pod gets to save its checkpoint after SIGTERM'),
  k8sPodPollMs: z.coerce.number().int().positive().default(2_000).describe('How often pods of a running Job are listed (status, logs)'),
  k8sLogDrainMs: z.coerce.number().int().min(0).default(10_000).describe('How long to wait for pod logs to end once the Job finished'),
} as const;

export const kubernetesExecutorConfigSchema = z.object(kubernetesExecutorShape).strict();
export type KubernetesExecutorConfig = z.output<typeof kubernetesExecutorConfigSchema>;

/** Environment variable of each field. */
export const KUBERNETES_EXECUTOR_ENV: Record<keyof typeof kubernetesExecutorShape, string> = {
  k8sNamespace: 'SPARK_TRAINER_NAMESPACE',
  k8sKubeconfig: 'SPARK_TRAINER_KUBECONFIG',
  k8sJobTemplate: 'SPARK_TRAINER_JOB_TEMPLATE',
  k8sImage: 'SPARK_TRAINER_IMAGE',
  k8sImagePullPolicy: 'SPARK_TRAINER_IMAGE_PULL_POLICY',
  k8sContainerName: 'SPARK_TRAINER_CONTAINER_NAME',
  k8sGpus: 'SPARK_TRAINER_GPUS',
  k8sGpuResource: 'SPARK_TRAINER_GPU_RESOURCE',
  k8sNodeSelector: 'SPARK_TRAINER_NODE_SELECTOR',
  k8sTolerations: 'SPARK_TRAINER_TOLERATIONS',
  k8sCpuRequest: 'SPARK_TRAINER_CPU_REQUEST',
  k8sMemoryRequest: 'SPARK_TRAINER_MEMORY_REQUEST',
  k8sMemoryLimit: 'SPARK_TRAINER_MEMORY_LIMIT',
  k8sShmSize: 'SPARK_TRAINER_SHM_SIZE',
  k8sArtifactsClaim: 'SPARK_TRAINER_ARTIFACTS_CLAIM',
  k8sServiceAccount: 'SPARK_TRAINER_SERVICE_ACCOUNT',
  k8sSecretEnv: 'SPARK_TRAINER_SECRET_ENV',
  k8sRunAsUser: 'SPARK_TRAINER_RUN_AS_USER',
  k8sBackoffLimit: 'SPARK_TRAINER_BACKOFF_LIMIT',
  k8sTtlSecondsAfterFinished: 'SPARK_TRAINER_TTL_SECONDS_AFTER_FINISHED',
  k8sActiveDeadlineSeconds: 'SPARK_TRAINER_ACTIVE_DEADLINE_SECONDS',
  k8sTerminationGraceSeconds: 'SPARK_TRAINER_TERMINATION_GRACE_SECONDS',
  k8sPodPollMs: 'SPARK_TRAINER_POD_POLL_MS',
  k8sLogDrainMs: 'SPARK_TRAINER_LOG_DRAIN_MS',
};
