/**
 * Trainer service configuration: the server fields every service shares, where training runs
 * (`defaultExecutor`: in this process, or Kubernetes Jobs on the GPU pool, configured by the
 * k8s/config.ts fields), and the local compute settings (device, threads, model cache, MFU peak).
 */
import { z } from 'zod';
import { DEFAULT_PORTS, requireTlsFiles, serverConfigShape } from '../common/config.js';
import { KUBERNETES_EXECUTOR_ENV, kubernetesExecutorShape } from './k8s/config.js';
import { EXECUTORS } from './spec.js';

export const trainerConfigShape = {
  defaultExecutor: z.enum(EXECUTORS).default('local').describe('Where StartTraining runs when the request leaves executor unset: local (in this process) or kubernetes (a Job)'),
  device: z.string().regex(/^(cpu|cuda(:\d+)?)$/, 'must be cpu, cuda or cuda:N').default('cpu').describe('Device for local training, Generate and ScoreSequences'),
  threads: z.coerce.number().int().min(0).default(0).describe('libtorch intra-op threads; 0 = all cores'),
  modelCacheSize: z.coerce.number().int().min(1).default(3).describe('Loaded (base, adapter) pairs kept for Generate / ScoreSequences (3: base, SFT and SPaRK of one evaluation); each is its own copy of the base weights'),
  peakTflops: z.coerce.number().min(0).default(0).describe('Device peak for MFU in TFLOP/s; 0 = estimate (CPU clock × SIMD width, GPU datasheet table)'),
} as const;

export const TRAINER_ENV: Record<string, string> = {
  defaultExecutor: 'SPARK_TRAINER_EXECUTOR',
  device: 'SPARK_TRAINER_DEVICE',
  threads: 'SPARK_TRAINER_THREADS',
  modelCacheSize: 'SPARK_TRAINER_MODEL_CACHE_SIZE',
  peakTflops: 'SPARK_TRAINER_PEAK_TFLOPS',
  ...KUBERNETES_EXECUTOR_ENV,
};

export const trainerServiceConfigSchema = z
  .object({
    ...serverConfigShape,
    port: serverConfigShape.port.default(DEFAULT_PORTS.trainer.grpc),
    metricsPort: serverConfigShape.metricsPort.default(DEFAULT_PORTS.trainer.metrics),
    ...trainerConfigShape,
    ...kubernetesExecutorShape,
  })
  .strict()
  .superRefine(requireTlsFiles);

export type TrainerServiceConfig = z.infer<typeof trainerServiceConfigSchema>;
