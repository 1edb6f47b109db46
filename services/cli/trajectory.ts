/**
 * `spark trajectory`: rarity-first rollouts and their step-wise decomposition.
 *
 *   spark trajectory generate --n N --steps K --selection P --seed S --out DIR
 *   spark trajectory steps --in DIR --out FILE
 *
 * `generate` talks to a TrajectoryService: the one at `--trajectory ADDR` (then DIR is relative to that
 * service's artifact root), or one started in this process together with the dataset and judge services
 * it needs (then DIR is a local folder). It shows a progress bar (questions, rate, ETA, live tool-usage
 * entropy); Ctrl-C cancels the job, and running the same command again resumes it.
 */
import { mkdirSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { createClient, serverStream, unary } from '../common/client.js';
import { countBy, shannonEntropyBits } from '../common/entropy.js';
import { JobState } from '../common/gen/spark/v1/common.js';
import { GeneratorKind, SelectionPolicy, StartGenerationRequest, TrajectoryServiceClient } from '../common/gen/spark/v1/trajectory.js';
import { writeFileAtomic } from '../common/files.js';
import { createProgress } from '../common/progress.js';
import { GENERATOR_KINDS } from '../trajectory/generation.js';
import { SELECTION_POLICIES } from '../trajectory/selection.js';
import { decomposeFolder } from '../trajectory/steps.js';
import { startLocalStack } from './local-stack.js';
import { address, csvList, decimal, wholeNumber } from './options.js';

const POLICY_ENUM: Record<string, SelectionPolicy> = {
  rarity_first: SelectionPolicy.SELECTION_POLICY_RARITY_FIRST,
  lowest_viable_score: SelectionPolicy.SELECTION_POLICY_LOWEST_VIABLE_SCORE,
  highest_score: SelectionPolicy.SELECTION_POLICY_HIGHEST_SCORE,
  uniform_viable: SelectionPolicy.SELECTION_POLICY_UNIFORM_VIABLE,
};
const GENERATOR_ENUM: Record<string, GeneratorKind> = {
  heuristic: GeneratorKind.GENERATOR_KIND_HEURISTIC,
  openai: GeneratorKind.GENERATOR_KIND_OPENAI,
  policy: GeneratorKind.GENERATOR_KIND_POLICY,
};

interface GenerateFlags {
  n: number; steps: number; selection: string; seed: number; out: string; concurrency: number;
  threshold?: number; generator: string; categories?: string[]; questionIds?: number[]; dropWhenNoViable?: boolean;
  requestId?: string; trajectory?: string; dataset?: string; judge?: string; trainer?: string; model?: string; adapter?: string;
}

async function generate(flags: GenerateFlags): Promise<void> {
  // Local mode: the folder's parent is the artifact root, its name the job's out_dir.
  const local = !flags.trajectory;
  const outDir = local ? basename(resolve(flags.out)) : flags.out;
  const artifactRoot = local ? dirname(resolve(flags.out)) : '';
  if (local) mkdirSync(artifactRoot, { recursive: true });
  const stack = local
    ? await startLocalStack(flags.generator === 'policy' ? ['dataset', 'judge', 'trainer', 'trajectory'] : ['dataset', 'judge', 'trajectory'], {
      artifactRoot, env: process.env,
      given: { ...(flags.dataset && { dataset: flags.dataset }), ...(flags.judge && { judge: flags.judge }), ...(flags.trainer && { trainer: flags.trainer }) },
    })
    : undefined;
  const client = createClient(TrajectoryServiceClient, flags.trajectory ?? stack!.address.trajectory);
  const stopAll = async () => { client.close(); await stack?.stop(); };
  const requestId = flags.requestId ?? `cli:${resolve(flags.out)}:${flags.n}:${flags.seed}:${flags.selection}:${flags.steps}`;
  let job;
  try {
    job = await unary(client.startGeneration.bind(client), StartGenerationRequest.fromPartial({
      requestId, n: flags.n, maxSteps: flags.steps, selection: POLICY_ENUM[flags.selection]!, seed: flags.seed,
      threshold: flags.threshold, questionIds: flags.questionIds ?? [], categories: flags.categories ?? [], outDir,
      generator: GENERATOR_ENUM[flags.generator]!, dropWhenNoViable: !!flags.dropWhenNoViable, concurrency: flags.concurrency,
      generatorModel: flags.model ? { name: 'policy', baseModelPath: resolve(flags.model), adapter: flags.adapter ? { uri: resolve(flags.adapter) } : undefined } : undefined,
    }), { timeoutMs: 60_000 });
  } catch (err) {
    await stopAll();
    throw err;
  }
  const total = flags.questionIds?.length || flags.n;
  const progress = createProgress('generate', { unit: 'questions', total, fields: { entropy: '-' } });
  const onSigint = () => { void unary(client.cancelJob.bind(client), { jobId: job.id, reason: 'interrupted (Ctrl-C)' }, { timeoutMs: 10_000 }).catch(() => undefined); };
  process.once('SIGINT', onSigint);
  let last = job;
  try {
    for await (const ev of serverStream(client.watchJob.bind(client), { jobId: job.id, afterSeq: 0 })) {
      const done = ev.metrics['rollout/questions_done'];
      if (done !== undefined) progress.update(done, { entropy: `${(ev.metrics['rollout/tool_entropy_bits'] ?? 0).toFixed(2)} bits` });
    }
    last = await unary(client.getJob.bind(client), { jobId: job.id }, { timeoutMs: 10_000 });
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    await stopAll();
  }
  if (last.state !== JobState.JOB_STATE_SUCCEEDED) {
    throw new Error(`generation ${JobState[last.state].replace('JOB_STATE_', '').toLowerCase()}: ${last.message}${last.state === JobState.JOB_STATE_CANCELLED ? ' (run the same command again to resume)' : ''}`);
  }
  process.stdout.write(`${last.message}\ntrajectories: ${local ? resolve(flags.out) : flags.out}/trajectories.jsonl\n`);
}

function steps(flags: { in: string; out: string }): void {
  const examples = decomposeFolder(resolve(flags.in));
  writeFileAtomic(resolve(flags.out), examples.map((e) => JSON.stringify(e)).join('\n') + (examples.length ? '\n' : ''));
  const counts = countBy(examples.filter((e) => !e.is_final).map((e) => e.action));
  process.stdout.write(`${examples.length} step examples from ${new Set(examples.map((e) => e.question_id)).size} trajectories → ${flags.out}\n`);
  process.stdout.write(`actions: ${Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([a, c]) => `${a} ${c}`).join(', ')}; entropy ${shannonEntropyBits(counts).toFixed(3)} bits\n`);
}

export function trajectoryCommand(): Command {
  const cmd = new Command('trajectory').description('generate rarity-first trajectories and step-wise training examples');
  cmd.command('generate')
    .description('roll out questions (default: from the shipped 2,500-question working set) with the 9 actions')
    .requiredOption('--n <n>', 'number of questions', wholeNumber('--n', 1))
    .option('--steps <k>', 'steps per trajectory, including the final answer', wholeNumber('--steps', 1, 20), 5)
    .addOption(new Option('--selection <policy>', 'selection policy').choices(SELECTION_POLICIES).default('rarity_first'))
    .option('--seed <s>', 'seed for sampling and tie-breaks', wholeNumber('--seed'), 0)
    .requiredOption('--out <dir>', 'output folder (trajectories.jsonl, manifest.json)')
    .option('--concurrency <c>', 'questions rolled out at once', wholeNumber('--concurrency', 1, 256), 4)
    .option('--threshold <t>', 'viability threshold on the 0-10 judge score', decimal('--threshold', 0, 10))
    .addOption(new Option('--generator <kind>', 'who writes candidate steps').choices(GENERATOR_KINDS).default('heuristic'))
    .option('--categories <list>', 'only these categories, comma-separated', csvList())
    .option('--question-ids <list>', 'exactly these question ids, comma-separated', csvList(wholeNumber('--question-ids', 0)))
    .option('--drop-when-no-viable', 'drop a trajectory when a step has no viable candidate (default: keep the best)')
    .option('--request-id <id>', 'idempotency key (default: derived from the flags, so a rerun resumes)')
    .option('--trajectory <addr>', 'use a running TrajectoryService instead of starting one here', address('--trajectory'))
    .option('--dataset <addr>', 'DatasetService to use when starting the trajectory service here', address('--dataset'))
    .option('--judge <addr>', 'JudgeService to use when starting the trajectory service here', address('--judge'))
    .option('--trainer <addr>', 'TrainerService for --generator policy (default: one started here)', address('--trainer'))
    .option('--model <path>', '--generator policy: base model folder')
    .option('--adapter <dir>', '--generator policy: PEFT adapter folder')
    .action(generate);
  cmd.command('steps')
    .description('turn trajectories into step examples (SWiRL): one (context → action) example per step')
    .requiredOption('--in <dir>', 'a generation folder (trajectories.jsonl + questions.jsonl)')
    .requiredOption('--out <file>', 'step examples JSONL to write')
    .action(steps);
  return cmd;
}
