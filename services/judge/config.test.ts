import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, SERVER_ENV } from '../common/config.js';
import { JUDGE_ENV, judgeServiceConfigSchema, resolveBackend } from './config.js';

const load = (env: Record<string, string>) =>
  loadConfig(judgeServiceConfigSchema, { env, envNames: { ...SERVER_ENV, ...JUDGE_ENV } });

describe('judge config', () => {
  it('defaults to the offline judge, batch mode, threshold 6, concurrency 16, gpt-4o', () => {
    const cfg = load({});
    expect(resolveBackend(cfg)).toBe('offline');
    expect(cfg).toMatchObject({ judgeMode: 'batch', judgeThreshold: 6, judgeConcurrency: 16, judgeModel: 'gpt-4o', port: 50052, judgeCache: 'on' });
  });

  it('auto picks the LLM judge when a key or a base URL is set', () => {
    expect(resolveBackend(load({ OPENAI_API_KEY: 'sk-test' }))).toBe('openai');
    expect(resolveBackend(load({ SPARK_JUDGE_BASE_URL: 'http://localhost:8000/v1' }))).toBe('openai');
    expect(resolveBackend(load({ OPENAI_API_KEY: 'sk-test', SPARK_JUDGE_BACKEND: 'offline' }))).toBe('offline');
  });

  it('reads a price table and names the variable of a bad value', () => {
    expect(load({ SPARK_JUDGE_PRICES: '{"my-model": {"prompt": 1, "completion": 2}}' }).judgePrices).toEqual({ 'my-model': { prompt: 1, completion: 2 } });
    expect(() => load({ SPARK_JUDGE_PRICES: 'cheap' })).toThrow(/SPARK_JUDGE_PRICES/);
    expect(() => load({ SPARK_JUDGE_MODE: 'triple' })).toThrow(/SPARK_JUDGE_MODE: not one of the allowed values; allowed: batch, single/);
    expect(() => load({ SPARK_JUDGE_THRESHOLD: '11' })).toThrow(ConfigError);
    expect(() => load({ SPARK_JUDGE_BACKEND: 'openai' })).toThrow(/openai needs OPENAI_API_KEY or SPARK_JUDGE_BASE_URL/);
  });
});
