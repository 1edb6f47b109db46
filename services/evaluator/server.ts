/**
 * EvaluatorService handlers: decode, call one module function, encode. Upstream clients (dataset,
 * trajectory) are built once here; the trainer's is built per model by the backends.
 */
import { createClient, peerSecurity } from '../common/client.js';
import { DatasetServiceClient } from '../common/gen/spark/v1/dataset.js';
import type { EvaluatorServiceService, GetReportRequest, ScoreResponsesRequest, StartEvaluationRequest } from '../common/gen/spark/v1/evaluator.js';
import { TrajectoryServiceClient } from '../common/gen/spark/v1/trajectory.js';
import type { Handlers } from '../common/handlers.js';
import { jobHandlers } from '../common/jobs.js';
import type { ServiceDeps } from '../common/service.js';
import { evalMetrics } from './metrics.js';
import type { EvaluatorServiceConfig } from './config.js';
import { Evaluations, scoreResponsesRpc } from './evaluations.js';
import { cotPromptSource, fetchQuestions, toolRunnerOverGrpc } from './upstreams.js';

/** Upstream clients of the evaluators started in this process, closed by `closeEvaluatorClients`. */
const open = new Set<{ close(): void }>();

/** Closes the upstream channels (the service's onShutdown). */
export function closeEvaluatorClients(): void {
  for (const client of open) client.close();
  open.clear();
}

export function createEvaluatorHandlers({ config, log, metrics, jobs }: ServiceDeps<EvaluatorServiceConfig>): Handlers<typeof EvaluatorServiceService> {
  evalMetrics(metrics.registry);
  const dataset = createClient(DatasetServiceClient, config.datasetAddress, peerSecurity(config));
  const trajectory = createClient(TrajectoryServiceClient, config.trajectoryAddress, peerSecurity(config));
  open.add(dataset).add(trajectory);
  const evaluations = new Evaluations({
    config,
    log,
    jobs,
    registry: metrics.registry,
    questions: (spec, signal) => fetchQuestions(dataset, spec, signal),
    cotPrompt: cotPromptSource(dataset),
    runTool: toolRunnerOverGrpc(trajectory),
  });
  return {
    ...jobHandlers(jobs),
    startEvaluation: (req: StartEvaluationRequest) => evaluations.start(req),
    getReport: (req: GetReportRequest) => evaluations.report(req.jobId),
    scoreResponses: (req: ScoreResponsesRequest) => scoreResponsesRpc(req),
  };
}
