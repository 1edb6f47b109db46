/**
 * `spark judge score`: try the judge's rubric by hand on a question and a file of candidate steps, with
 * the same backend, cache and configuration as `spark serve judge` (OPENAI_API_KEY, SPARK_JUDGE_*,
 * SPARK_ARTIFACT_ROOT). The question comes from the shipped MMLU-Pro splits by id (or a full source with
 * --source), or from a JSON file in the hub's columns.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError as CommanderArgError, Option } from 'commander';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { ConfigError, loadConfig } from '../common/config.js';
import { describeZodError, NotFoundError } from '../common/errors.js';
import { Candidate, ToolCall, type Question, type Step } from '../common/gen/spark/v1/common.js';
import { JudgeMode, type ScoreCandidatesResponse } from '../common/gen/spark/v1/judge.js';
import { createLogger } from '../common/logging.js';
import { describeIssue, isRowIssue, parseRow } from '../dataset/rows.js';
import { DatasetStore } from '../dataset/store.js';
import { JUDGE_MODES } from '../judge/backend.js';
import { JUDGE_SETTINGS_ENV, judgeSettingsSchema } from '../judge/config.js';
import { createJudge } from '../judge/judge.js';

const OUTPUT_FORMATS = ['json', 'table'] as const;

/** One candidate as users write it by hand. `tool_input` may be a JSON object or its text. */
const candidateFileEntry = z.object({
  action: z.string().min(1),
  thought: z.string().default(''),
  tool_input: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  tool_output: z.string().default(''),
  tool_error: z.string().default(''),
}).strict();
const candidateFile = z.array(candidateFileEntry).min(1, 'needs at least one candidate');
type CandidateEntry = z.infer<typeof candidateFileEntry>;

interface ScoreFlags {
  questionId?: number;
  questionFile?: string;
  source?: string;
  candidates: string;
  steps?: string;
  format: (typeof OUTPUT_FORMATS)[number];
  judgeMode?: string;
  threshold?: string;
  artifactRoot?: string;
}

export function judgeCommand(): Command {
  const judge = new Command('judge').description('score candidate steps with the judge (LLM or offline)');
  judge.command('score')
    .description('score a JSON array of candidate steps [{"action","thought","tool_input","tool_output"}] for one question')
    .option('--question-id <id>', 'MMLU-Pro question_id from the shipped splits (or --source)', (v: string) => {
      if (!/^\d+$/.test(v.trim())) throw new CommanderArgError(`--question-id must be a whole number >= 0 (got ${JSON.stringify(v)})`);
      return Number(v);
    })
    .option('--question-file <file>', 'a question as JSON in the hub\'s columns, instead of --question-id')
    .addOption(new Option('--source <path>', 'full MMLU-Pro data (parquet/JSONL file or folder) to find --question-id in').env('SPARK_DATASET_SOURCE'))
    .requiredOption('--candidates <file>', 'JSON array of {"action","thought","tool_input","tool_output"[,"tool_error"]}')
    .option('--steps <file>', 'steps taken so far, same shape as --candidates')
    .addOption(new Option('--format <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addOption(new Option('--judge-mode <mode>', 'batch: one call for all candidates; single: one call each (env SPARK_JUDGE_MODE)').choices(JUDGE_MODES))
    .option('--threshold <score>', 'viable when score > threshold, 0..10 (env SPARK_JUDGE_THRESHOLD; default 6)')
    .option('--artifact-root <dir>', 'where the verdict cache lives (env SPARK_ARTIFACT_ROOT; default ./artifacts)')
    .action(async (flags: ScoreFlags) => {
      const settings = loadConfig(judgeSettingsSchema, {
        env: process.env,
        envNames: JUDGE_SETTINGS_ENV,
        overrides: { judgeMode: flags.judgeMode, judgeThreshold: flags.threshold, artifactRoot: flags.artifactRoot },
        flagNames: { judgeMode: '--judge-mode', judgeThreshold: '--threshold', artifactRoot: '--artifact-root' },
      });
      const question = await findQuestion(flags);
      const candidates = readSteps(flags.candidates, '--candidates').map(toCandidate);
      const stepsSoFar = flags.steps ? readSteps(flags.steps, '--steps').map((e, index) => toStep(e, index)) : [];
      const judge = createJudge(settings, { registry: new Registry(), log: createLogger('judge', 'warn') });
      const res = await judge.scoreCandidates({
        question, stepsSoFar, candidates,
        threshold: settings.judgeThreshold,
        mode: settings.judgeMode === 'single' ? JudgeMode.JUDGE_MODE_SINGLE : JudgeMode.JUDGE_MODE_BATCH,
      });
      process.stdout.write(flags.format === 'json' ? formatJson(candidates, res) : formatTable(candidates, res));
    });
  return judge;
}

async function findQuestion(flags: ScoreFlags): Promise<Question> {
  if ((flags.questionId === undefined) === (flags.questionFile === undefined)) {
    throw new ConfigError('give exactly one of --question-id ID or --question-file FILE');
  }
  if (flags.questionFile) {
    const row = parseRow(readJson(flags.questionFile, '--question-file'), { file: flags.questionFile, row: 1 });
    if (isRowIssue(row)) throw new ConfigError(`--question-file: ${describeIssue(row)}`);
    return row;
  }
  const store = await DatasetStore.open({ source: flags.source });
  try {
    return store.question(flags.questionId!);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    const where = flags.source ? `the shipped splits or ${flags.source}` : 'the shipped splits (working-set, eval, validation); give --source for the full test split';
    throw new ConfigError(`--question-id: question ${flags.questionId} is not in ${where}`, { cause: err });
  }
}

function readJson(file: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${flag}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${flag}: ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

function readSteps(file: string, flag: string): CandidateEntry[] {
  const parsed = candidateFile.safeParse(readJson(file, flag));
  if (!parsed.success) throw new ConfigError(`${flag} ${file}: ${describeZodError(parsed.error)}`);
  return parsed.data;
}

function toolCallOf(e: CandidateEntry): ToolCall | undefined {
  if (e.tool_input === undefined && !e.tool_output && !e.tool_error) return undefined;
  const inputJson = typeof e.tool_input === 'string' ? e.tool_input : JSON.stringify(e.tool_input ?? {});
  return ToolCall.fromPartial({ name: e.action, inputJson, output: e.tool_output, error: e.tool_error });
}

function toCandidate(e: CandidateEntry): Candidate {
  return Candidate.fromPartial({ action: e.action, thought: e.thought, toolCall: toolCallOf(e) });
}

function toStep(e: CandidateEntry, index: number): Step {
  return { index, action: e.action, thought: e.thought, toolCall: toolCallOf(e), score: 0, selectionReason: 0, candidates: [], isFinal: false };
}

function formatJson(candidates: Candidate[], res: ScoreCandidatesResponse): string {
  const rows = res.scores.map((s, i) => ({ action: candidates[i].action, score: s.score, viable: s.viable, rationale: s.rationale, cached: s.cached }));
  return `${JSON.stringify(rows, null, 2)}\n`;
}

function formatTable(candidates: Candidate[], res: ScoreCandidatesResponse): string {
  const rows = res.scores.map((s, i) => [candidates[i].action, s.score.toFixed(1), s.viable ? 'yes' : 'no', s.cached ? 'yes' : 'no', s.rationale]);
  const header = ['action', 'score', 'viable', 'cached', 'rationale'];
  const widths = header.slice(0, 4).map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c < 4 ? cell.padEnd(widths[c]) : cell)).join('  ').trimEnd();
  const usage = res.usage!;
  return [
    line(header),
    ...rows.map(line),
    '',
    `backend ${res.backend}, prompt ${res.promptVersion}, viable when score > ${res.threshold}, tokens ${usage.promptTokens} prompt + ${usage.completionTokens} completion${usage.cached ? ' (all cached)' : ''}`,
    '',
  ].join('\n');
}
