import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ADAPTER_CONFIG_FILE,
  LORA_TARGET_MODULES,
  MODULES_TO_SAVE,
  buildAdapterConfig,
  loraKey,
  loraScaling,
  loraTensorShapes,
  parseLoraKey,
  readAdapterConfig,
  savedModuleKey,
  writeAdapterConfig,
} from './peft.js';

describe('PEFT key names', () => {
  it('names attention and MLP projections as PEFT saves them', () => {
    expect(loraKey(0, 'q_proj', 'A')).toBe('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight');
    expect(loraKey(31, 'o_proj', 'B')).toBe('base_model.model.model.layers.31.self_attn.o_proj.lora_B.weight');
    expect(loraKey(2, 'gate_proj', 'A')).toBe('base_model.model.model.layers.2.mlp.gate_proj.lora_A.weight');
    expect(loraKey(2, 'down_proj', 'B')).toBe('base_model.model.model.layers.2.mlp.down_proj.lora_B.weight');
  });

  it('parses its own names back and rejects others, naming the key', () => {
    for (const module of LORA_TARGET_MODULES) {
      for (const matrix of ['A', 'B'] as const) expect(parseLoraKey(loraKey(7, module, matrix))).toEqual({ kind: 'lora', layer: 7, module, matrix });
    }
    expect(() => parseLoraKey('base_model.model.model.layers.0.mlp.q_proj.lora_A.weight')).toThrow(/not a PEFT LoRA key/);
    expect(() => parseLoraKey('base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight')).toThrow(/lora_A\.default/);
    expect(() => loraKey(-1, 'q_proj', 'A')).toThrow(/layer/);
  });

  it('names modules saved whole as get_peft_model_state_dict does for LlamaForCausalLM, and parses them back', () => {
    expect(savedModuleKey('embed_tokens')).toBe('base_model.model.model.embed_tokens.weight');
    expect(savedModuleKey('lm_head')).toBe('base_model.model.lm_head.weight');
    for (const module of MODULES_TO_SAVE) expect(parseLoraKey(savedModuleKey(module))).toEqual({ kind: 'saved', module });
    // The in-memory wrapper names and near misses are not saved keys; the error names the key.
    for (const key of [
      'base_model.model.model.embed_tokens.modules_to_save.default.weight',
      'base_model.model.model.embed_tokens.original_module.weight',
      'base_model.model.embed_tokens.weight',
      'base_model.model.model.lm_head.weight',
      'model.embed_tokens.weight',
    ]) {
      expect(() => parseLoraKey(key), key).toThrow(`adapter tensor: ${JSON.stringify(key)} is not a PEFT LoRA key of a Llama projection nor a saved module`);
    }
  });

  it('gives lora_A [r, in] and lora_B [out, r] with GQA-sized k/v', () => {
    // Llama-3.1-8B: hidden 4096, 32 heads of 128, 8 KV heads, MLP 14336
    const shapes = loraTensorShapes(
      { hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8 },
      16,
      [...LORA_TARGET_MODULES],
    );
    expect(shapes.size).toBe(32 * 7 * 2);
    expect(shapes.get(loraKey(0, 'q_proj', 'A'))).toEqual([16, 4096]);
    expect(shapes.get(loraKey(0, 'q_proj', 'B'))).toEqual([4096, 16]);
    expect(shapes.get(loraKey(0, 'k_proj', 'B'))).toEqual([1024, 16]);
    expect(shapes.get(loraKey(0, 'up_proj', 'B'))).toEqual([14336, 16]);
    expect(shapes.get(loraKey(31, 'down_proj', 'A'))).toEqual([16, 14336]);
    const onlyQv = loraTensorShapes({ hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, head_dim: 32 }, 4, ['v_proj', 'q_proj']);
    expect([...onlyQv.keys()].slice(0, 4)).toEqual([
      loraKey(0, 'q_proj', 'A'), loraKey(0, 'q_proj', 'B'), loraKey(0, 'v_proj', 'A'), loraKey(0, 'v_proj', 'B'),
    ]);
    expect(onlyQv.get(loraKey(1, 'q_proj', 'B'))).toEqual([128, 4]);
    const withEmbed = loraTensorShapes({ hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 1000 }, 4, ['q_proj'], ['lm_head', 'embed_tokens']);
    expect([...withEmbed.keys()].slice(-2)).toEqual([savedModuleKey('embed_tokens'), savedModuleKey('lm_head')]);
    expect(withEmbed.get(savedModuleKey('embed_tokens'))).toEqual([1000, 64]);
    expect(() => loraTensorShapes({ hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 4 }, 4, ['q_proj'], ['embed_tokens'])).toThrow(/vocab_size/);
  });
});

describe('adapter_config.json', () => {
  const settings = { r: 16, loraAlpha: 32, loraDropout: 0.05, targetModules: ['v_proj', 'q_proj', 'down_proj'] as const, baseModelNameOrPath: '/models/llama' };

  it('holds the LoraConfig fields PEFT and vLLM read, keys sorted like PEFT writes them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peft-'));
    const path = writeAdapterConfig(dir, buildAdapterConfig(settings));
    const text = readFileSync(path, 'utf8');
    const json = JSON.parse(text) as Record<string, unknown>;
    expect(json).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 16,
      lora_alpha: 32,
      lora_dropout: 0.05,
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
      use_rslora: false,
      use_dora: false,
      modules_to_save: null,
      base_model_name_or_path: '/models/llama',
    });
    expect(Object.keys(json)).toEqual([...Object.keys(json)].sort());
    expect(readAdapterConfig(dir)).toEqual(json);
  });

  it('reads configs PEFT wrote, keeping fields of newer versions', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peft-'));
    writeFileSync(join(dir, ADAPTER_CONFIG_FILE), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj', 'v_proj'], peft_version: '0.17.0', use_rslora: true }));
    const config = readAdapterConfig(dir);
    expect(config.lora_dropout).toBe(0);
    expect(config['peft_version']).toBe('0.17.0');
    expect(loraScaling(config)).toBeCloseTo(16 / Math.sqrt(8), 12);
    expect(loraScaling({ r: 8, lora_alpha: 16, use_rslora: false })).toBe(2);
  });

  it('rejects what this trainer cannot load, naming the file and field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peft-'));
    const write = (cfg: object) => writeFileSync(join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(cfg));
    write({ peft_type: 'IA3', r: 8, lora_alpha: 16, target_modules: ['q_proj'] });
    expect(() => readAdapterConfig(dir)).toThrow(/adapter_config\.json: peft_type/);
    write({ peft_type: 'LORA', r: 0, lora_alpha: 16, target_modules: ['q_proj'] });
    expect(() => readAdapterConfig(dir)).toThrow(/r: /);
    write({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['c_attn'] });
    expect(() => readAdapterConfig(dir)).toThrow(/target_modules\[0\].*q_proj, k_proj/);
    write({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj'], use_dora: true });
    expect(() => readAdapterConfig(dir)).toThrow(/use_dora/);
    expect(() => readAdapterConfig(join(dir, 'missing'))).toThrow(/not found/);
    expect(() => buildAdapterConfig({ ...settings, r: 0 })).toThrow('lora.rank: must be an integer > 0 (got 0)');
    write({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q_proj'], modules_to_save: ['classifier'] });
    expect(() => readAdapterConfig(dir)).toThrow(/modules_to_save\[0\].*embed_tokens, lm_head/);
  });

  it('lists modules saved whole, tying a tied model\'s saved embedding to its head as PEFT ≥ 0.18 reads it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peft-'));
    const untied = buildAdapterConfig({ ...settings, modulesToSave: ['lm_head', 'embed_tokens'] });
    expect(untied.modules_to_save).toEqual(['embed_tokens', 'lm_head']);
    expect(untied).not.toHaveProperty('ensure_weight_tying');
    writeAdapterConfig(dir, buildAdapterConfig({ ...settings, modulesToSave: ['embed_tokens'], tiedEmbeddings: true }));
    const json = JSON.parse(readFileSync(join(dir, ADAPTER_CONFIG_FILE), 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ modules_to_save: ['embed_tokens'], ensure_weight_tying: true });
    expect(Object.keys(json)).toEqual([...Object.keys(json)].sort());
    expect(readAdapterConfig(dir)).toEqual(json);
    expect(buildAdapterConfig(settings).modules_to_save).toBeNull();
    expect(() => buildAdapterConfig({ ...settings, modulesToSave: ['lm_head'], tiedEmbeddings: true })).toThrow(/^lora\.modules_to_save: lm_head is tied to embed_tokens/);
  });
});
