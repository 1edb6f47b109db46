/**
 * `spark pipeline [--preset smoke|paper] [--config FILE] [--out DIR] [overrides]`: runs SPaRK end to end
 * (see pipeline/run.ts) and prints the results table and where the report is. `npm start` runs it with
 * the smoke preset. Rerunning the same command resumes; Ctrl-C stops cleanly.
 */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { SELECTION_POLICIES } from '../trajectory/selection.js';
import { PRESET_NAMES, resolvePipelineConfig, type PresetName } from './pipeline/config.js';
import { runPipeline } from './pipeline/run.js';
import { address, wholeNumber } from './options.js';

interface PipelineFlags {
  preset: PresetName; config?: string; out?: string; questions?: number; steps?: number; seed?: number;
  selection?: string; model?: string; evalPerCategory?: number; dataset?: string; judge?: string; trajectory?: string; trainer?: string; evaluator?: string;
}

export function pipelineCommand(): Command {
  return new Command('pipeline')
    .description('the whole SPaRK run: data → rollouts → judge → SFT + PPO → evaluation → report')
    .addOption(new Option('--preset <name>', 'sizes: smoke (minutes on a laptop) or paper (2,500 questions, 5 steps; GPU + real judge)').choices(PRESET_NAMES).default('smoke'))
    .option('--config <file>', 'YAML file overriding any preset field (env SPARK_CONFIG_FILE)', process.env.SPARK_CONFIG_FILE)
    .option('--out <dir>', 'run folder (default: artifacts/runs/<preset>)')
    .option('--questions <n>', 'training questions rolled out', wholeNumber('--questions', 1, 2_500))
    .option('--steps <k>', 'steps per trajectory (final answer included)', wholeNumber('--steps', 2, 20))
    .option('--seed <s>', 'seed', wholeNumber('--seed'))
    .addOption(new Option('--selection <policy>', 'rollout selection policy').choices(SELECTION_POLICIES))
    .option('--model <path>', 'base model folder (env SPARK_MODEL_PATH; default: a tiny Llama made for the run)')
    .option('--eval-per-category <n>', 'evaluation questions per category (1..10)', wholeNumber('--eval-per-category', 1, 10))
    .option('--dataset <addr>', 'use a running DatasetService', address('--dataset'))
    .option('--judge <addr>', 'use a running JudgeService', address('--judge'))
    .option('--trajectory <addr>', 'use a running TrajectoryService', address('--trajectory'))
    .option('--trainer <addr>', 'use a running TrainerService', address('--trainer'))
    .option('--evaluator <addr>', 'use a running EvaluatorService', address('--evaluator'))
    .action(async (flags: PipelineFlags) => {
      const config = resolvePipelineConfig({
        preset: flags.preset, file: flags.config, env: process.env,
        flags: { questions: flags.questions, maxSteps: flags.steps, seed: flags.seed, selection: flags.selection as never, modelPath: flags.model, evalPerCategory: flags.evalPerCategory },
      });
      const controller = new AbortController();
      const onSigint = () => { process.stderr.write('\nstopping (Ctrl-C): finished stages are kept; run the same command again to resume\n'); controller.abort(new Error('interrupted by Ctrl-C')); };
      process.once('SIGINT', onSigint);
      try {
        const given = Object.fromEntries((['dataset', 'judge', 'trajectory', 'trainer', 'evaluator'] as const).filter((n) => flags[n]).map((n) => [n, flags[n]!]));
        const result = await runPipeline({ config, runDir: resolve(flags.out ?? `artifacts/runs/${flags.preset}`), given, env: process.env, signal: controller.signal });
        process.stdout.write(`\n${result.table}\n\nreport: ${result.reportPath}\nrun folder: ${result.runDir}\n`);
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
