/**
 * Judge configuration: the server fields every service shares plus the judge's own, validated once by
 * zod. The backend is chosen here: `auto` means the OpenAI-compatible judge when OPENAI_API_KEY or
 * SPARK_JUDGE_BASE_URL is set, and the offline judge otherwise (DESIGN.md §8).
 */
import { z } from 'zod';
import { DEFAULT_PORTS, requireTlsFiles, SERVER_ENV, serverConfigShape } from '../common/config.js';
import { JUDGE_MODES } from './backend.js';
import { STRUCTURED_OUTPUT_MODES } from '../common/llm/chat-client.js';
import type { ModelPrice } from './metrics.js';
import { DEFAULT_PROMPT_FILE } from './prompt.js';

export const JUDGE_BACKENDS = ['auto', 'offline', 'openai'] as const;

/** The paper's threshold: a step is viable when its score is above 6.0. */
export const DEFAULT_THRESHOLD = 6.0;

const pricesSchema = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      return value; // zod then reports "expected record" naming the variable
    }
  },
  z.record(z.string(), z.object({ prompt: z.number().min(0), completion: z.number().min(0) }).strict()),
);

const onOff = z.enum(['on', 'off']);

/** The judge's own fields. Units are in the names. */
export const judgeConfigShape = {
  judgeBackend: z.enum(JUDGE_BACKENDS).default('auto').describe('auto (openai when an API key or base URL is set, else offline), offline, openai'),
  openaiApiKey: z.string().optional().describe('API key of the judge endpoint'),
  judgeBaseUrl: z.url().optional().describe('OpenAI-compatible base URL (vLLM, Ollama, gateways), e.g. http://vllm:8000/v1'),
  judgeModel: z.string().min(1).default('gpt-4o').describe('Model name sent to the endpoint (the paper: GPT-4o)'),
  judgeMode: z.enum(JUDGE_MODES).default('batch').describe('batch: a step\'s candidates in one call; single: one call per candidate'),
  judgeThreshold: z.coerce.number().min(0).max(10).default(DEFAULT_THRESHOLD).describe('Viable when score > threshold; requests may override it'),
  judgeConcurrency: z.coerce.number().int().min(1).max(1_024).default(16).describe('Judge HTTP requests in flight at once'),
  judgeTimeoutMs: z.coerce.number().int().min(1).default(60_000).describe('Per-attempt timeout of a judge call, ms'),
  judgeMaxRetries: z.coerce.number().int().min(0).max(20).default(5).describe('Retries after the first attempt on 429/5xx/timeouts'),
  judgeRetryBaseMs: z.coerce.number().int().min(0).default(500).describe('Backoff before the first retry, ms (doubles each retry, with jitter)'),
  judgeRetryMaxMs: z.coerce.number().int().min(0).default(60_000).describe('Longest wait between attempts (Retry-After included), ms'),
  judgeBreakerFailures: z.coerce.number().int().min(1).default(5).describe('Consecutive endpoint failures that open the circuit breaker'),
  judgeBreakerCooldownMs: z.coerce.number().int().min(0).default(30_000).describe('Time the open breaker answers UNAVAILABLE before probing, ms'),
  judgeStructuredOutput: z.enum(STRUCTURED_OUTPUT_MODES).default('auto').describe('auto: json_schema, falling back to plain JSON when refused; json_schema; off'),
  judgeMaxTokens: z.coerce.number().int().min(0).default(1_024).describe('Completion token cap per judge call; 0 = endpoint default'),
  judgeTemperature: z.coerce.number().min(0).max(2).default(0).describe('Sampling temperature of the judge'),
  judgePromptFile: z.string().min(1).default(DEFAULT_PROMPT_FILE).describe('Versioned judge prompt (rubric + templates)'),
  judgeCache: onOff.default('on').describe('Verdict cache under <artifactRoot>/judge/cache.jsonl'),
  judgePrices: pricesSchema.default({}).describe('JSON {"model": {"prompt": usd_per_1M, "completion": usd_per_1M}} added to the built-in table'),
} as const;

export const JUDGE_ENV: Record<keyof typeof judgeConfigShape, string> = {
  judgeBackend: 'SPARK_JUDGE_BACKEND',
  openaiApiKey: 'OPENAI_API_KEY',
  judgeBaseUrl: 'SPARK_JUDGE_BASE_URL',
  judgeModel: 'SPARK_JUDGE_MODEL',
  judgeMode: 'SPARK_JUDGE_MODE',
  judgeThreshold: 'SPARK_JUDGE_THRESHOLD',
  judgeConcurrency: 'SPARK_JUDGE_CONCURRENCY',
  judgeTimeoutMs: 'SPARK_JUDGE_TIMEOUT_MS',
  judgeMaxRetries: 'SPARK_JUDGE_MAX_RETRIES',
  judgeRetryBaseMs: 'SPARK_JUDGE_RETRY_BASE_MS',
  judgeRetryMaxMs: 'SPARK_JUDGE_RETRY_MAX_MS',
  judgeBreakerFailures: 'SPARK_JUDGE_BREAKER_FAILURES',
  judgeBreakerCooldownMs: 'SPARK_JUDGE_BREAKER_COOLDOWN_MS',
  judgeStructuredOutput: 'SPARK_JUDGE_STRUCTURED_OUTPUT',
  judgeMaxTokens: 'SPARK_JUDGE_MAX_TOKENS',
  judgeTemperature: 'SPARK_JUDGE_TEMPERATURE',
  judgePromptFile: 'SPARK_JUDGE_PROMPT_FILE',
  judgeCache: 'SPARK_JUDGE_CACHE',
  judgePrices: 'SPARK_JUDGE_PRICES',
};

/** The judge's fields plus the artifact root (its cache lives there): what `spark judge score` validates. */
export const judgeSettingsSchema = z
  .object({ artifactRoot: serverConfigShape.artifactRoot, ...judgeConfigShape })
  .strict()
  .superRefine(requireEndpointForOpenai);

export const JUDGE_SETTINGS_ENV: Record<keyof z.infer<typeof judgeSettingsSchema>, string> = { artifactRoot: SERVER_ENV.artifactRoot, ...JUDGE_ENV };

/** The service's schema: server fields (judge ports) + judge fields. */
export const judgeServiceConfigSchema = z
  .object({
    ...serverConfigShape,
    port: serverConfigShape.port.default(DEFAULT_PORTS.judge.grpc),
    metricsPort: serverConfigShape.metricsPort.default(DEFAULT_PORTS.judge.metrics),
    ...judgeConfigShape,
  })
  .strict()
  .superRefine((cfg, ctx) => {
    requireTlsFiles(cfg, ctx);
    requireEndpointForOpenai(cfg, ctx);
  });

export type JudgeSettings = z.infer<typeof judgeSettingsSchema>;
export type JudgeServiceConfig = z.infer<typeof judgeServiceConfigSchema>;

function requireEndpointForOpenai(cfg: { judgeBackend: string; openaiApiKey?: string; judgeBaseUrl?: string }, ctx: z.RefinementCtx): void {
  if (cfg.judgeBackend === 'openai' && !cfg.openaiApiKey && !cfg.judgeBaseUrl) {
    ctx.addIssue({ code: 'custom', path: ['judgeBackend'], message: 'openai needs OPENAI_API_KEY or SPARK_JUDGE_BASE_URL' });
  }
}

/** Which backend `auto` resolves to. */
export function resolveBackend(cfg: Pick<JudgeSettings, 'judgeBackend' | 'openaiApiKey' | 'judgeBaseUrl'>): 'offline' | 'openai' {
  if (cfg.judgeBackend !== 'auto') return cfg.judgeBackend;
  return cfg.openaiApiKey || cfg.judgeBaseUrl ? 'openai' : 'offline';
}

export type { ModelPrice };
