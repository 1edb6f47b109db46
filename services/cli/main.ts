/**
 * `spark`: the one command-line entry point. Each subcommand lives in its own file beside this one;
 * errors are printed as one line (no stack) and exit non-zero.
 */
import { Command } from 'commander';
import { datasetCommand } from './dataset.js';
import { doctorCommand } from './doctor.js';
import { evalCommand } from './eval.js';
import { judgeCommand } from './judge.js';
import { modelCommand } from './model.js';
import { observeCommand } from './observe.js';
import { pipelineCommand } from './pipeline.js';
import { serveCommand } from './serve.js';
import { startCommand } from './start.js';
import { toolsCommand } from './tools.js';
import { trainCommand } from './train.js';
import { trajectoryCommand } from './trajectory.js';

export function buildProgram(): Command {
  const program = new Command('spark')
    .description('SPaRK (arXiv 2507.11371) in TypeScript: step-wise offline RL for diverse tool use')
    .version('0.1.0')
    .showHelpAfterError()
    .addCommand(serveCommand())
    .addCommand(startCommand())
    .addCommand(observeCommand())
    .addCommand(pipelineCommand())
    .addCommand(datasetCommand())
    .addCommand(judgeCommand())
    .addCommand(modelCommand())
    .addCommand(doctorCommand())
    .addCommand(evalCommand())
    .addCommand(trajectoryCommand())
    .addCommand(toolsCommand())
    .addCommand(trainCommand());
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`spark: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
