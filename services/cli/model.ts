/**
 * `spark model`: random Llama-shaped checkpoints in the real formats (`init`) and a summary of a
 * checkpoint folder (`info`). Weights are never downloaded: a real model is a folder the user gives.
 */
import { Command, Option } from 'commander';
import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../common/config.js';
import { MODEL_PRESET_NAMES, parameterCount, readLlamaConfig, type ModelPreset } from '../trainer/model/config.js';
import { INIT_DTYPES, initCheckpoint, type InitDtype } from '../trainer/model/init.js';
import { openCheckpoint } from '../trainer/model/safetensors.js';
import { wholeNumber } from './options.js';

const human = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${n}`);

function initCommand(): Command {
  return new Command('init')
    .description('write a random Llama-shaped checkpoint: config.json, safetensors, the Llama-3.1 tokenizer')
    .addOption(new Option('--preset <name>', 'model shape').choices(MODEL_PRESET_NAMES).makeOptionMandatory())
    .requiredOption('--out <dir>', 'folder to write (created; must be empty or absent)')
    .addOption(new Option('--dtype <dtype>', 'stored dtype').choices([...INIT_DTYPES]).default('bfloat16'))
    .option('--seed <n>', 'random seed', wholeNumber('--seed', 0), 0)
    .option('--layers <n>', 'override num_hidden_layers (e.g. a 2-layer 8b-shape for quick GPU checks)', wholeNumber('--layers', 1))
    .action(async (flags: { preset: ModelPreset; out: string; dtype: InitDtype; seed: number; layers?: number }) => {
      const out = resolve(flags.out);
      if (existsSync(out) && readdirSync(out).length > 0) throw new ConfigError(`--out: ${out} is not empty`);
      const overrides = flags.layers ? { num_hidden_layers: flags.layers } : {};
      const r = await initCheckpoint(out, { preset: flags.preset, dtype: flags.dtype, seed: flags.seed, overrides });
      process.stdout.write(`wrote ${flags.preset} (${human(r.parameters)} parameters, ${flags.dtype}) to ${out}: ${r.files.join(', ')}\n`);
    });
}

function infoCommand(): Command {
  return new Command('info')
    .description('summarise a checkpoint folder: shape, parameters, weight files')
    .argument('<dir>', 'checkpoint folder (config.json + safetensors)')
    .action((dir: string) => {
      const c = readLlamaConfig(dir);
      const entries = openCheckpoint(dir);
      const bytes = [...entries.values()].reduce((a, e) => a + e.nbytes, 0);
      const dtypes = [...new Set([...entries.values()].map((e) => e.dtype))].join(', ');
      process.stdout.write([
        `parameters   ${human(parameterCount(c))}`,
        `layers       ${c.numLayers} × (hidden ${c.hiddenSize}, heads ${c.numHeads}/${c.numKvHeads} kv, head_dim ${c.headDim}, mlp ${c.intermediateSize})`,
        `vocab        ${c.vocabSize}${c.tieWordEmbeddings ? ' (tied embeddings)' : ''}`,
        `rope         theta ${c.ropeTheta}${c.ropeScaling ? `, llama3 scaling ×${c.ropeScaling.factor}` : ''}`,
        `weights      ${entries.size} tensors, ${(bytes / 2 ** 20).toFixed(1)} MiB, ${dtypes}`,
      ].join('\n') + '\n');
    });
}

export function modelCommand(): Command {
  return new Command('model').description('init tiny Llama checkpoints, inspect models').addCommand(initCommand()).addCommand(infoCommand());
}
