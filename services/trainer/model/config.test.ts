import { describe, expect, it } from 'vitest';
import { MODEL_PRESETS, parameterCount, parseLlamaConfig, presetConfigJson } from './config.js';

/** Llama-3.1-8B-Instruct's config.json (Meta's release on the Hugging Face hub). */
const LLAMA31_8B = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0, bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009], hidden_act: 'silu', hidden_size: 4096, initializer_range: 0.02,
  intermediate_size: 14336, max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama', num_attention_heads: 32,
  num_hidden_layers: 32, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000, tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.43.0.dev0', use_cache: true,
  vocab_size: 128256,
};

describe('Llama config', () => {
  it('reads the Llama-3.1-8B config.json, and the 8b-shape preset matches it with 8.03 B parameters', () => {
    const c = parseLlamaConfig(LLAMA31_8B);
    expect(c).toMatchObject({ hiddenSize: 4096, numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128, vocabSize: 128_256, tieWordEmbeddings: false, eosTokenIds: [128001, 128008, 128009] });
    expect(c.ropeScaling).toEqual({ factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(parseLlamaConfig(presetConfigJson('8b-shape'))).toEqual(c);
    expect(parameterCount(c)).toBe(8_030_261_248);
    expect(Object.keys(MODEL_PRESETS)).toEqual(['tiny', 'small', '8b-shape']);
  });

  it('rejects what the decoder does not implement, naming the field', () => {
    expect(() => parseLlamaConfig({ ...LLAMA31_8B, model_type: 'mistral' })).toThrow(/model_type: unsupported model_type "mistral" \(allowed: llama\)/);
    expect(() => parseLlamaConfig({ ...LLAMA31_8B, attention_bias: true })).toThrow(/attention_bias/);
    expect(() => parseLlamaConfig({ ...LLAMA31_8B, num_key_value_heads: 5 })).toThrow(/num_attention_heads \(32\) must be a multiple of num_key_value_heads \(5\)/);
    expect(() => parseLlamaConfig({ ...LLAMA31_8B, rope_scaling: { type: 'yarn', factor: 4 } })).toThrow(/rope_scaling.*unsupported rope_type "yarn"/);
    expect(() => parseLlamaConfig({ ...LLAMA31_8B, hidden_size: undefined })).toThrow(/hidden_size/);
  });
});
