/**
 * Rollout settings of the trajectory service: where its upstreams are and how the OpenAI-compatible
 * generator is reached. Joined into the service's config schema (config.ts) like the tools' settings.
 */
import { z } from 'zod';

export const rolloutConfigShape = {
  datasetAddress: z.string().min(1).default('127.0.0.1:50051').describe('DatasetService host:port (questions)'),
  judgeAddress: z.string().min(1).default('127.0.0.1:50052').describe('JudgeService host:port (candidate scores)'),
  trainerAddress: z.string().min(1).default('127.0.0.1:50054').describe('TrainerService host:port (the policy generator)'),
  generatorBaseUrl: z.string().url().optional().describe('OpenAI-compatible endpoint of the generator (e.g. vLLM serving Llama-3-8B-Instruct)'),
  generatorModel: z.string().min(1).default('meta-llama/Meta-Llama-3-8B-Instruct').describe('model name sent to the generator endpoint'),
  generatorApiKey: z.string().optional().describe('API key of the generator endpoint (falls back to OPENAI_API_KEY)'),
  openaiApiKey: z.string().optional().describe('OPENAI_API_KEY, used when the generator has no key of its own'),
  generatorTemperature: z.coerce.number().min(0).max(2).default(0.7).describe('sampling temperature of candidate steps'),
  generatorMaxTokens: z.coerce.number().int().min(16).max(8_192).default(512).describe('completion token cap per candidate'),
  generatorTimeoutMs: z.coerce.number().int().min(1_000).default(120_000).describe('per-attempt timeout of a generator call'),
  generatorConcurrency: z.coerce.number().int().min(1).max(1_024).default(32).describe('generator requests in flight at once'),
} as const;

export const ROLLOUT_ENV: Record<keyof typeof rolloutConfigShape, string> = {
  datasetAddress: 'SPARK_DATASET_ADDRESS',
  judgeAddress: 'SPARK_JUDGE_ADDRESS',
  trainerAddress: 'SPARK_TRAINER_ADDRESS',
  generatorBaseUrl: 'SPARK_GENERATOR_BASE_URL',
  generatorModel: 'SPARK_GENERATOR_MODEL',
  generatorApiKey: 'SPARK_GENERATOR_API_KEY',
  openaiApiKey: 'OPENAI_API_KEY',
  generatorTemperature: 'SPARK_GENERATOR_TEMPERATURE',
  generatorMaxTokens: 'SPARK_GENERATOR_MAX_TOKENS',
  generatorTimeoutMs: 'SPARK_GENERATOR_TIMEOUT_MS',
  generatorConcurrency: 'SPARK_GENERATOR_CONCURRENCY',
};

export type RolloutConfig = { [K in keyof typeof rolloutConfigShape]: z.infer<(typeof rolloutConfigShape)[K]> };
