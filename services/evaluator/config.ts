/**
 * Evaluator configuration: the server fields every service shares plus where its upstreams are and how
 * models are sampled. Upstream addresses use the variables `spark` sets when it starts services for
 * a command (services/cli/local-stack.ts), so a local stack wires itself.
 */
import { z } from 'zod';
import { DEFAULT_PORTS, requireTlsFiles, serverConfigShape } from '../common/config.js';

const loopback = (service: keyof typeof DEFAULT_PORTS) => `127.0.0.1:${DEFAULT_PORTS[service].grpc}`;
const address = z.string().regex(/^[\w.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'must be host:port');

/** The evaluator's own fields. Units are in the names. */
export const evaluatorConfigShape = {
  datasetAddress: address.default(loopback('dataset')).describe('DatasetService: questions and the reference 5-shot prompts'),
  trajectoryAddress: address.default(loopback('trajectory')).describe('TrajectoryService: RunTool for agentic mode'),
  trainerAddress: address.default(loopback('trainer')).describe('TrainerService: Generate for TRAINER-backend models'),
  openaiApiKey: z.string().optional().describe('API key sent to OPENAI-backend models (none needed for vLLM or Ollama)'),
  evalMaxTokens: z.coerce.number().int().min(1).default(2_048).describe('Token cap of a 5-shot CoT answer (the reference: max_new_tokens 2048)'),
  evalStepMaxTokens: z.coerce.number().int().min(1).default(512).describe('Token cap of one agentic step (a tool call or a thought)'),
  evalTemperature: z.coerce.number().min(0).max(2).default(0).describe('Sampling temperature (the reference: 0, greedy)'),
  evalRequestTimeoutMs: z.coerce.number().int().min(1).default(300_000).describe('Per-attempt timeout of one OpenAI-endpoint call, ms'),
  evalMaxRetries: z.coerce.number().int().min(0).max(20).default(3).describe('Retries of an OpenAI-endpoint call on 429/5xx/timeouts'),
  evalBootstrapIterations: z.coerce.number().int().min(100).default(1_000).describe('Resamples of the entropy bootstrap interval'),
  evalTrainerConcurrency: z.coerce.number().int().min(1).max(1_024).default(48).describe('Questions in flight at once for TRAINER-backend models (at least the request\'s concurrency, which still bounds OPENAI models): their generation is batched, so more in flight fills the batches'),
  evalTrainerBatchSize: z.coerce.number().int().min(1).max(256).default(16).describe('Conversations per TrainerService.Generate call at most: concurrent greedy calls for one model with the same sampling settings go as one batch (1 = one call each)'),
  evalTrainerBatchWindowMs: z.coerce.number().int().min(0).max(10_000).default(20).describe('How long a generation call waits for others to join its batch, ms (a full batch goes at once)'),
} as const;

export const EVALUATOR_ENV: Record<keyof typeof evaluatorConfigShape, string> = {
  datasetAddress: 'SPARK_DATASET_ADDRESS',
  trajectoryAddress: 'SPARK_TRAJECTORY_ADDRESS',
  trainerAddress: 'SPARK_TRAINER_ADDRESS',
  openaiApiKey: 'OPENAI_API_KEY',
  evalMaxTokens: 'SPARK_EVAL_MAX_TOKENS',
  evalStepMaxTokens: 'SPARK_EVAL_STEP_MAX_TOKENS',
  evalTemperature: 'SPARK_EVAL_TEMPERATURE',
  evalRequestTimeoutMs: 'SPARK_EVAL_REQUEST_TIMEOUT_MS',
  evalMaxRetries: 'SPARK_EVAL_MAX_RETRIES',
  evalBootstrapIterations: 'SPARK_EVAL_BOOTSTRAP_ITERATIONS',
  evalTrainerConcurrency: 'SPARK_EVAL_TRAINER_CONCURRENCY',
  evalTrainerBatchSize: 'SPARK_EVAL_TRAINER_BATCH_SIZE',
  evalTrainerBatchWindowMs: 'SPARK_EVAL_TRAINER_BATCH_WINDOW_MS',
};

export const evaluatorServiceConfigSchema = z
  .object({
    ...serverConfigShape,
    port: serverConfigShape.port.default(DEFAULT_PORTS.evaluator.grpc),
    metricsPort: serverConfigShape.metricsPort.default(DEFAULT_PORTS.evaluator.metrics),
    ...evaluatorConfigShape,
  })
  .strict()
  .superRefine(requireTlsFiles);

export type EvaluatorServiceConfig = z.infer<typeof evaluatorServiceConfigSchema>;
