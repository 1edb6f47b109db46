/**
 * TrajectoryService handlers: thin decode → one module call → encode. Tools: ListTools / RunTool over
 * the ToolRegistry (tools/); jobs: the shared WatchJob / GetJob / CancelJob. A tool that fails at run
 * time answers OK with `tool_call.error`; bad input is INVALID_ARGUMENT, an unknown tool NOT_FOUND
 * (both thrown by the registry and mapped once in services/common/errors.ts).
 */
import { COT_ACTION } from '../common/actions.js';
import { createClient, peerSecurity } from '../common/client.js';
import { InvalidArgumentError } from '../common/errors.js';
import { DatasetServiceClient } from '../common/gen/spark/v1/dataset.js';
import { ModelBackend, ModelRef } from '../common/gen/spark/v1/common.js';
import { JudgeServiceClient } from '../common/gen/spark/v1/judge.js';
import { TrainerServiceClient } from '../common/gen/spark/v1/trainer.js';
import { ChatClient } from '../common/llm/chat-client.js';
import type { ListToolsResponse, RunToolRequest, RunToolResponse } from '../common/gen/spark/v1/trajectory.js';
import type { CallContext } from '../common/handlers.js';
import { jobHandlers } from '../common/jobs.js';
import type { ServiceDeps } from '../common/service.js';
import type { TrajectoryServiceConfig } from './config.js';
import { generationHandlers } from './generation-handlers.js';
import type { GenerationSpec } from './generation.js';
import { HeuristicGenerator } from './heuristic-generator.js';
import { LlmStepGenerator, openAiComplete, trainerComplete } from './llm-generator.js';
import { datasetQuestions, judgeOverGrpc } from './remote.js';
import type { StepGenerator } from './rollout.js';
import { createTools, type ToolRegistry } from './tools/index.js';

/** Tool sets of the services started in this process, released by `closeTrajectoryTools` at shutdown. */
const open = new Set<ToolRegistry>();

export function toolHandlers(tools: ToolRegistry) {
  return {
    listTools: (): ListToolsResponse => ({ tools: tools.list() }),
    runTool: async (req: RunToolRequest, ctx: CallContext): Promise<RunToolResponse> =>
      ({ toolCall: await tools.run(req.name, req.inputJson, { signal: ctx.signal, timeoutMs: req.timeoutMs }) }),
  };
}

/** The generator a spec asks for; openai needs SPARK_GENERATOR_BASE_URL, policy a TrainerService. */
function generatorFactory(config: TrajectoryServiceConfig) {
  const sampling = { maxTokens: config.generatorMaxTokens, temperature: config.generatorTemperature };
  let openai: LlmStepGenerator | undefined;
  let trainer: TrainerServiceClient | undefined;
  return (spec: GenerationSpec): StepGenerator => {
    if (spec.generator === 'heuristic') return new HeuristicGenerator();
    if (spec.generator === 'openai') {
      if (!config.generatorBaseUrl) throw new InvalidArgumentError('generator', 'openai needs SPARK_GENERATOR_BASE_URL set on the trajectory service', 'heuristic, policy, or openai with an endpoint');
      openai ??= new LlmStepGenerator('openai', openAiComplete(new ChatClient({
        upstreamName: 'generator endpoint', baseUrl: config.generatorBaseUrl, apiKey: config.generatorApiKey ?? config.openaiApiKey,
        model: config.generatorModel, timeoutMs: config.generatorTimeoutMs, ...sampling,
        structuredOutput: 'off', retry: GENERATOR_RETRY, concurrency: config.generatorConcurrency, breakerFailures: 5, breakerCooldownMs: 30_000,
      }), sampling));
      return openai;
    }
    trainer ??= createClient(TrainerServiceClient, config.trainerAddress, peerSecurity(config));
    const model = ModelRef.fromPartial({
      name: 'policy', backend: ModelBackend.MODEL_BACKEND_TRAINER, baseModelPath: spec.generatorModel!.baseModelPath,
      adapter: spec.generatorModel!.adapter ? { uri: spec.generatorModel!.adapter } : undefined,
    });
    return new LlmStepGenerator('policy', trainerComplete(trainer, model, { ...sampling, seed: spec.seed }));
  };
}

/** Generator calls retry like the judge's: 429/5xx/timeouts, backoff with jitter. */
const GENERATOR_RETRY = { maxRetries: 5, baseDelayMs: 500, maxDelayMs: 60_000 };

export async function createTrajectoryHandlers({ config, log, metrics, jobs }: ServiceDeps<TrajectoryServiceConfig>) {
  const tools = await createTools(config, { log, metrics: metrics.registry });
  open.add(tools);
  const security = peerSecurity(config);
  const dataset = createClient(DatasetServiceClient, config.datasetAddress, security);
  const judge = judgeOverGrpc(createClient(JudgeServiceClient, config.judgeAddress, security));
  return {
    ...jobHandlers(jobs),
    ...toolHandlers(tools),
    ...generationHandlers({
      artifactRoot: config.artifactRoot,
      jobs,
      log,
      registry: metrics.registry,
      rollout: { tools: tools.asRunner(), judge, actions: [...tools.names(), COT_ACTION] },
      generatorFor: generatorFactory(config),
      resolveQuestions: datasetQuestions(dataset),
      judgeBackend: (signal) => judge.backend(signal),
    }),
  };
}

/** Stops tool workers and MCP servers (the service's onShutdown). */
export async function closeTrajectoryTools(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((t) => t.close()));
}
