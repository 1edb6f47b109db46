/**
 * Dataset service configuration: the server fields every service shares plus where a full MMLU-Pro test
 * split lives (optional: the shipped working set, eval and validation splits need nothing).
 */
import { z } from 'zod';
import { DEFAULT_PORTS, requireTlsFiles, serverConfigShape } from '../common/config.js';

/** The dataset's own fields. */
export const datasetConfigShape = {
  datasetSource: z.string().min(1).optional().describe('Full MMLU-Pro test split (hub parquet, JSONL/JSON, or a folder of them) served as SPLIT_TEST; unset = shipped splits only'),
  datasetStrict: z.union([z.boolean(), z.stringbool()]).default(false).describe('true: refuse to start on a bad source row; false: skip bad rows and log them'),
} as const;

export const DATASET_ENV: Record<keyof typeof datasetConfigShape, string> = {
  datasetSource: 'SPARK_DATASET_SOURCE',
  datasetStrict: 'SPARK_DATASET_STRICT',
};

export const datasetServiceConfigSchema = z
  .object({
    ...serverConfigShape,
    port: serverConfigShape.port.default(DEFAULT_PORTS.dataset.grpc),
    metricsPort: serverConfigShape.metricsPort.default(DEFAULT_PORTS.dataset.metrics),
    ...datasetConfigShape,
  })
  .strict()
  .superRefine(requireTlsFiles);

export type DatasetServiceConfig = z.infer<typeof datasetServiceConfigSchema>;
