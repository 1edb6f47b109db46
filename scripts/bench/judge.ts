/**
 * Judge throughput benchmark: 2,000 candidate scorings against a local OpenAI-compatible server
 * (tests/helpers/openai-server.ts) whose every answer takes 20-200 ms, through the real judge (openai
 * package, concurrency limit, retries, breaker, cache). The server runs in a worker thread, as a real
 * endpoint runs apart from the judge: it must not compete with the judge for the event loop.
 *
 * The ideal: with `concurrency` requests always in flight, the work takes sum(latency) / concurrency
 * seconds (the latencies the server actually waited, so random draws do not flatter or punish us), i.e.
 * a throughput of concurrency / mean latency. Target: >= 90 % of it. Then the same 2,000 scorings again:
 * every verdict comes from the on-disk cache, and the server must see zero requests.
 *
 *   npx tsc -p tsconfig.json && node dist/scripts/bench/judge.js [--candidates 2000] [--concurrency 16]
 *       [--min-latency-ms 20] [--max-latency-ms 200] [--mode single|batch|both]
 *
 * Ends with one JSON line per figure: {"bench", "ts_s" (ours), "baseline_s" (the ideal, or the cold
 * run for the cache), "ratio" (baseline_s / ts_s: 1.0 = ideal; for the cache, the speed-up)}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { ACTION_NAMES, COT_ACTION } from '../../services/common/actions.js';
import { Candidate, Question, ToolCall } from '../../services/common/gen/spark/v1/common.js';
import { JudgeMode, type ScoreCandidatesRequest } from '../../services/common/gen/spark/v1/judge.js';
import { judgeSettingsSchema } from '../../services/judge/config.js';
import { createJudge, type Judge } from '../../services/judge/judge.js';
import { judgeResponder, OpenAIServer } from '../../tests/helpers/openai-server.js';

/** What the server worker reports. */
interface ServerStats {
  completed: number;
  maxInFlight: number;
  latencies: number[];
}

type ServerCommand = 'stats' | 'reset' | 'close';

/** The worker side: a scripted judge endpoint answering commands from the main thread. */
async function serveInWorker(): Promise<void> {
  const { latency } = workerData as { latency: [number, number] };
  const llm = await OpenAIServer.start({ latencyMs: latency, responder: judgeResponder((i) => (i * 37) % 11) });
  parentPort!.on('message', async (command: ServerCommand) => {
    if (command === 'reset') llm.resetRecords();
    if (command === 'close') await llm.close();
    const stats: ServerStats = { completed: llm.completed, maxInFlight: llm.maxInFlight, latencies: llm.latencies };
    parentPort!.postMessage(stats);
    if (command === 'close') parentPort!.close();
  });
  parentPort!.postMessage({ baseUrl: llm.baseUrl });
}

/** The main-thread handle on the server worker. */
class RemoteServer {
  private constructor(private readonly worker: Worker, readonly baseUrl: string) {}

  static async start(latency: [number, number]): Promise<RemoteServer> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { latency } });
    const { baseUrl } = await new Promise<{ baseUrl: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    return new RemoteServer(worker, baseUrl);
  }

  send(command: ServerCommand): Promise<ServerStats> {
    const reply = new Promise<ServerStats>((resolve) => this.worker.once('message', resolve));
    this.worker.postMessage(command);
    return reply;
  }
}

const { values: flags } = isMainThread ? parseArgs({
  options: {
    candidates: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    'min-latency-ms': { type: 'string', default: '20' },
    'max-latency-ms': { type: 'string', default: '200' },
    mode: { type: 'string', default: 'both' },
  },
}) : { values: {} as Record<string, string> };
function positive(name: keyof typeof flags): number {
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1 (got ${flags[name]})`);
  return n;
}

/** Steps of 9 candidates (the last one shorter) adding up to `count` candidates, all distinct. */
function workload(count: number, tag: string): ScoreCandidatesRequest[] {
  const requests: ScoreCandidatesRequest[] = [];
  for (let step = 0; step * ACTION_NAMES.length < count; step += 1) {
    const question = Question.fromPartial({
      questionId: 100_000 + step,
      question: `Benchmark question ${step} (${tag}): what is ${step} * 7?`,
      options: [String(step * 7), String(step * 7 + 1), String(step * 7 + 2), String(step * 7 + 3)],
      answer: 'A',
    });
    const n = Math.min(ACTION_NAMES.length, count - step * ACTION_NAMES.length);
    const candidates = ACTION_NAMES.slice(0, n).map((action) => Candidate.fromPartial({
      action,
      thought: `Use ${action} to multiply ${step} by 7.`,
      toolCall: action === COT_ACTION ? undefined : ToolCall.fromPartial({ name: action, inputJson: `{"expression":"${step}*7"}`, output: String(step * 7) }),
    }));
    requests.push({ question, stepsSoFar: [], candidates, mode: JudgeMode.JUDGE_MODE_UNSPECIFIED });
  }
  return requests;
}

async function timed(judge: Judge, requests: ScoreCandidatesRequest[]): Promise<{ seconds: number; scored: number; cached: number }> {
  const started = performance.now();
  const responses = await Promise.all(requests.map((r) => judge.scoreCandidates(r)));
  const seconds = (performance.now() - started) / 1_000;
  const scores = responses.flatMap((r) => r.scores);
  return { seconds, scored: scores.length, cached: scores.filter((s) => s.cached).length };
}

interface Figure {
  bench: string;
  ts_s: number;
  baseline_s: number;
  ratio: number;
}

async function runMode(llm: RemoteServer, mode: 'single' | 'batch', total: number, concurrency: number): Promise<Figure[]> {
  const artifactRoot = mkdtempSync(join(tmpdir(), 'spark-bench-judge-'));
  const settings = judgeSettingsSchema.parse({
    artifactRoot,
    judgeBaseUrl: llm.baseUrl,
    openaiApiKey: 'sk-bench',
    judgeMode: mode,
    judgeConcurrency: String(concurrency),
  });
  const judge = createJudge(settings, { registry: new Registry() });
  const requests = workload(total, mode);
  try {
    await llm.send('reset');
    const cold = await timed(judge, requests);
    const server = await llm.send('stats');
    const calls = server.completed;
    const latencySum = server.latencies.reduce((a, b) => a + b, 0) / 1_000;
    const ideal = latencySum / concurrency;
    const meanLatency = latencySum / calls;
    console.log(`${mode}: ${cold.scored} candidates in ${calls} calls, ${cold.seconds.toFixed(2)} s; peak in flight ${server.maxInFlight}/${concurrency}`);
    console.log(`  throughput ${(calls / cold.seconds).toFixed(1)} calls/s (${(cold.scored / cold.seconds).toFixed(1)} candidates/s); ideal ${(concurrency / meanLatency).toFixed(1)} calls/s at mean latency ${(meanLatency * 1_000).toFixed(1)} ms -> ${((100 * ideal) / cold.seconds).toFixed(1)} % of ideal`);

    await llm.send('reset');
    const warm = await timed(judge, requests);
    const rerunCalls = (await llm.send('stats')).completed;
    if (rerunCalls !== 0 || warm.cached !== warm.scored) throw new Error(`rerun was not fully cached: ${rerunCalls} calls, ${warm.cached}/${warm.scored} cached`);
    console.log(`  rerun: ${warm.cached}/${warm.scored} from the cache, 0 calls, ${(warm.seconds * 1_000).toFixed(1)} ms -> ${(cold.seconds / warm.seconds).toFixed(0)}x faster`);
    return [
      { bench: `judge.throughput${mode === 'single' ? '' : '.batch'}`, ts_s: cold.seconds, baseline_s: ideal, ratio: ideal / cold.seconds },
      { bench: `judge.cache_rerun${mode === 'single' ? '' : '.batch'}`, ts_s: warm.seconds, baseline_s: cold.seconds, ratio: cold.seconds / warm.seconds },
    ];
  } finally {
    rmSync(artifactRoot, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const total = positive('candidates');
  const concurrency = positive('concurrency');
  const latency: [number, number] = [positive('min-latency-ms'), positive('max-latency-ms')];
  if (!['single', 'batch', 'both'].includes(flags.mode!)) throw new Error(`--mode: allowed single, batch, both (got ${flags.mode})`);
  const llm = await RemoteServer.start(latency);
  console.log(`judge bench: ${total} candidate scorings, concurrency ${concurrency}, endpoint latency ${latency[0]}-${latency[1]} ms (uniform)`);
  const figures: Figure[] = [];
  try {
    for (const mode of flags.mode === 'both' ? (['single', 'batch'] as const) : [flags.mode as 'single' | 'batch']) {
      figures.push(...await runMode(llm, mode, total, concurrency));
    }
  } finally {
    await llm.send('close');
  }
  const round = (x: number) => Number(x.toPrecision(4));
  for (const f of figures) console.log(JSON.stringify({ bench: f.bench, ts_s: round(f.ts_s), baseline_s: round(f.baseline_s), ratio: round(f.ratio) }));
}

if (isMainThread) {
  main().catch((err: Error) => {
    console.error(`bench judge: ${err.message}`);
    process.exit(1);
  });
} else {
  void serveInWorker();
}
