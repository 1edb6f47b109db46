import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../common/config.js';
import { PRESETS, resolvePipelineConfig } from './config.js';

const yamlFile = (text: string) => {
  const f = join(mkdtempSync(join(tmpdir(), 'pipe-')), 'spark.yaml');
  writeFileSync(f, text);
  return f;
};

describe('resolvePipelineConfig', () => {
  it('starts from the preset', () => {
    expect(resolvePipelineConfig({ preset: 'smoke' })).toEqual(PRESETS.smoke);
    expect(resolvePipelineConfig({ preset: 'paper' })).toMatchObject({ questions: 2_500, maxSteps: 5, lora: { quantization: 'nf4' } });
  });

  it('layers YAML, then the environment, then flags', () => {
    const file = yamlFile('questions: 100\nppo:\n  klCoef: 0.1\nmodelPath: /from/yaml\n');
    const cfg = resolvePipelineConfig({ preset: 'smoke', file, env: { SPARK_MODEL_PATH: '/from/env' }, flags: { questions: 7 } });
    expect(cfg.questions).toBe(7);
    expect(cfg.ppo).toEqual({ ...PRESETS.smoke.ppo, klCoef: 0.1 });
    expect(cfg.modelPath).toBe('/from/env');
  });

  it('names the bad field and the allowed values', () => {
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('selection: rarest\n') })).toThrow(ConfigError);
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('selection: rarest\n') })).toThrow(/selection: .*rarity_first/);
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('ppo:\n  lr: -1\n') })).toThrow(/ppo\.lr/);
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('ppo:\n  clipEps: 10\n') })).toThrow(/ppo\.clipEps/);
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('questionz: 3\n') })).toThrow(/questionz/);
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('evalBatchSize: 0\n') })).toThrow(/evalBatchSize/);
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('pretrain:\n  maxSeqLen: 8\n') })).toThrow(/pretrain\.maxSeqLen/);
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('pretrain:\n  selection: best\n') })).toThrow(/pretrain\.selection/);
  });

  it('reports unreadable YAML with the file name', () => {
    expect(() => resolvePipelineConfig({ preset: 'smoke', file: yamlFile('a: [1,\n') })).toThrow(/--config .*spark\.yaml/);
  });
});
