/**
 * The Kubernetes executor: runs one training run as a batch/v1 Job through `@kubernetes/client-node`.
 * It creates the Job (or adopts it, when a restarted trainer finds its own Job already there), watches the
 * Job's status, lists its pods by label to report their state and stream their logs line by line, and on
 * cancellation deletes the Job with propagationPolicy Background (the pods get SIGTERM and
 * terminationGracePeriodSeconds to save a checkpoint). Works from a kubeconfig and in-cluster (service
 * account), whichever `loadKubeConfig` finds. RBAC needed: jobs create/get/list/watch/delete, pods
 * get/list, pods/log get (the chart's trainer Role).
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchV1Api, CoreV1Api, KubeConfig, Log, Watch, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { CancelledError, FailedPreconditionError, UpstreamUnavailableError } from '../../common/errors.js';
import type { Logger } from '../../common/logging.js';
import type { KubernetesExecutorConfig } from './config.js';
import { JOB_ID_LABEL, buildTrainingJob, labelValue, loadJobTemplate, type TrainingJobParams } from './manifest.js';

/** A watch is reopened after this long even when nothing happened (the API server closes it anyway). */
const WATCH_TIMEOUT_S = 300;
/** Pause before reopening a watch that failed, and how many failures in a row mean the API is down. */
const WATCH_RETRY_MS = 1_000;
const MAX_WATCH_FAILURES = 5;

export type RunPhase = 'created' | 'pending' | 'running' | 'succeeded' | 'failed';

export interface RunStatus {
  phase: RunPhase;
  /** One line for a WatchJob event: the Job's counts, or a pod's state and reason. */
  message: string;
  jobName: string;
}

export interface RunEvents {
  onStatus?(status: RunStatus): void;
  /** One line of a training pod's output. */
  onLog?(line: string, pod: string): void;
}

export interface RunOutcome {
  state: 'succeeded' | 'failed';
  message: string;
  jobName: string;
}

/** kubeconfig file when given; else KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** HTTP status of a client-node error, if it has one. */
function httpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown; statusCode?: unknown }).code ?? (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

function apiError(what: string, err: unknown): UpstreamUnavailableError {
  const body = (err as { body?: unknown }).body;
  const detail = typeof body === 'string' ? body : (body as { message?: string } | undefined)?.message ?? (err as Error).message;
  return new UpstreamUnavailableError('kubernetes', `${what}: ${httpCode(err) ? `HTTP ${httpCode(err)} ` : ''}${detail}`, { cause: err });
}

/** Complete/Failed conditions, else running (pods active) or pending. */
function jobPhase(job: V1Job): { phase: RunPhase; message: string } {
  const s = job.status ?? {};
  for (const c of s.conditions ?? []) {
    if (c.status !== 'True') continue;
    if (c.type === 'Complete') return { phase: 'succeeded', message: `job complete (${s.succeeded ?? 0} succeeded)` };
    if (c.type === 'Failed') return { phase: 'failed', message: `job failed: ${c.reason ?? 'Failed'}${c.message ? `: ${c.message}` : ''}` };
  }
  const counts = `active ${s.active ?? 0}, succeeded ${s.succeeded ?? 0}, failed ${s.failed ?? 0}`;
  return { phase: (s.active ?? 0) > 0 ? 'running' : 'pending', message: `job ${counts}` };
}

/** The Job as a failed one when it disappeared under us (someone ran kubectl delete). */
function deletedOutside(job: V1Job): V1Job {
  const gone = { type: 'Failed', status: 'True', reason: 'Deleted', message: 'the Job was deleted outside the trainer' };
  return { ...job, status: { ...job.status, conditions: [...(job.status?.conditions ?? []), gone] } };
}

/** "pod X: Pending (Unschedulable: 0/3 nodes ...)" — the reason users need when a GPU pod does not start. */
function podMessage(pod: V1Pod): string {
  const waiting = pod.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting;
  const terminated = pod.status?.containerStatuses?.find((c) => c.state?.terminated)?.state?.terminated;
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  const why = waiting ? `${waiting.reason ?? ''}${waiting.message ? `: ${waiting.message}` : ''}`
    : terminated ? `${terminated.reason ?? ''}, exit code ${terminated.exitCode}`
    : unscheduled ? `${unscheduled.reason ?? ''}${unscheduled.message ? `: ${unscheduled.message}` : ''}` : '';
  return `pod ${pod.metadata?.name}: ${pod.status?.phase ?? 'Unknown'}${why ? ` (${why})` : ''}`;
}

/** A Writable that hands complete lines to `onLine` (a partial last line is flushed at the end). */
function lineSink(onLine: (line: string) => void): Writable {
  let rest = '';
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) onLine(line.replace(/\r$/, ''));
      done();
    },
    final(done) {
      if (rest) onLine(rest);
      done();
    },
  });
}

/** Streams the logs of each pod of a run once it has started, until the pod ends or `stop()`. */
class PodLogs {
  private readonly followed = new Map<string, { controller?: AbortController; ended: Promise<void> }>();
  private readonly lastMessage = new Map<string, string>();

  constructor(
    private readonly log: Log,
    private readonly namespace: string,
    private readonly container: string,
    private readonly events: RunEvents,
    private readonly logger: Logger,
  ) {}

  /** Reports state changes of `pods` and starts following the logs of those that left Pending. */
  update(pods: V1Pod[], jobName: string, phase: RunPhase): void {
    for (const pod of pods) {
      const name = pod.metadata?.name;
      if (!name) continue;
      const message = podMessage(pod);
      if (this.lastMessage.get(name) !== message) {
        this.lastMessage.set(name, message);
        this.events.onStatus?.({ phase, message, jobName });
      }
      const started = ['Running', 'Succeeded', 'Failed'].includes(pod.status?.phase ?? '');
      if (started && !this.followed.has(name)) this.follow(name);
    }
  }

  private follow(pod: string): void {
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    const entry: { controller?: AbortController; ended: Promise<void> } = { ended };
    this.followed.set(pod, entry);
    const sink = lineSink((line) => this.events.onLog?.(line, pod));
    sink.on('finish', settle);
    sink.on('error', settle);
    this.log
      .log(this.namespace, pod, this.container, sink, { follow: true })
      .then((controller) => (entry.controller = controller))
      .catch((err: unknown) => {
        this.logger.warn({ err, pod }, 'cannot read training pod logs');
        settle();
      });
  }

  /** Waits up to `drainMs` for every followed stream to end, then cuts the rest. */
  async stop(drainMs: number): Promise<void> {
    const all = Promise.all([...this.followed.values()].map((f) => f.ended));
    await Promise.race([all, sleep(drainMs)]);
    for (const f of this.followed.values()) f.controller?.abort();
  }
}

export class KubernetesExecutor {
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly watch: Watch;
  private readonly podLog: Log;
  private readonly template?: V1Job;

  constructor(
    private readonly config: KubernetesExecutorConfig,
    private readonly logger: Logger,
    kubeConfig: KubeConfig = loadKubeConfig(config.k8sKubeconfig),
  ) {
    this.batch = kubeConfig.makeApiClient(BatchV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.watch = new Watch(kubeConfig);
    this.podLog = new Log(kubeConfig);
    this.template = config.k8sJobTemplate ? loadJobTemplate(config.k8sJobTemplate) : undefined;
  }

  /** The validated Job manifest `run` would send. */
  manifestFor(params: TrainingJobParams): V1Job {
    return buildTrainingJob(params, this.config, this.template);
  }

  /**
   * Runs the training Job to its end. Resolves with the outcome (a failed Job is an outcome, not a throw);
   * rejects with CancelledError after deleting the Job when `signal` aborts, or UpstreamUnavailableError
   * when the API server stays unreachable.
   */
  async run(params: TrainingJobParams, opts: { signal: AbortSignal; events?: RunEvents }): Promise<RunOutcome> {
    const events = opts.events ?? {};
    const manifest = this.manifestFor(params);
    const name = manifest.metadata!.name!;
    if (opts.signal.aborted) throw new CancelledError('training cancelled before its Job was created');
    let job = await this.createOrAdopt(manifest, params.jobId);
    events.onStatus?.({ phase: 'created', message: `job ${name} in namespace ${this.config.k8sNamespace}`, jobName: name });
    const pods = new PodLogs(this.podLog, this.config.k8sNamespace, this.config.k8sContainerName, events, this.logger);
    const selector = `${JOB_ID_LABEL}=${labelValue(params.jobId)}`;
    const pollPods = async () => {
      try {
        const list = await this.core.listNamespacedPod({ namespace: this.config.k8sNamespace, labelSelector: selector });
        pods.update(list.items, name, jobPhase(job).phase);
      } catch (err) {
        this.logger.warn({ err: apiError('list pods', err) }, 'cannot list training pods');
      }
    };
    const timer = setInterval(() => void pollPods(), this.config.k8sPodPollMs);
    try {
      await pollPods();
      job = await this.followUntilDone(name, job, opts.signal, (j) => {
        job = j;
        events.onStatus?.({ ...jobPhase(j), jobName: name });
      });
    } catch (err) {
      clearInterval(timer);
      await pods.stop(0);
      if (opts.signal.aborted) {
        await this.delete(name);
        throw new CancelledError(`training cancelled; job ${name} deleted`, { cause: err });
      }
      throw err;
    }
    clearInterval(timer);
    await pollPods(); // a pod that ran and ended between two polls still gets its logs read
    await pods.stop(this.config.k8sLogDrainMs);
    const { phase, message } = jobPhase(job);
    return { state: phase === 'succeeded' ? 'succeeded' : 'failed', message, jobName: name };
  }

  /** Deletes the Job and, in the background, its pods. A Job already gone is fine. */
  async delete(name: string): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({ name, namespace: this.config.k8sNamespace, propagationPolicy: 'Background' });
    } catch (err) {
      if (httpCode(err) !== 404) throw apiError(`delete job ${name}`, err);
    }
  }

  private async createOrAdopt(manifest: V1Job, jobId: string): Promise<V1Job> {
    const namespace = this.config.k8sNamespace;
    try {
      return await this.batch.createNamespacedJob({ namespace, body: manifest });
    } catch (err) {
      if (httpCode(err) !== 409) throw apiError(`create job ${manifest.metadata?.name}`, err);
    }
    // Already there: ours when it carries our job id (the trainer restarted mid-run), else a clash.
    const existing = await this.batch.readNamespacedJob({ name: manifest.metadata!.name!, namespace }).catch((err: unknown) => {
      throw apiError(`read job ${manifest.metadata?.name}`, err);
    });
    if (existing.metadata?.labels?.[JOB_ID_LABEL] !== labelValue(jobId)) {
      throw new FailedPreconditionError(`a Job named ${manifest.metadata?.name} exists in ${namespace} and belongs to another run`);
    }
    this.logger.info({ job: manifest.metadata?.name }, 'adopting the existing training Job');
    return existing;
  }

  /** Watches the Job until Complete or Failed, re-reading and re-watching when a watch ends. */
  private async followUntilDone(name: string, start: V1Job, signal: AbortSignal, onChange: (job: V1Job) => void): Promise<V1Job> {
    let job = start;
    let failures = 0;
    onChange(job);
    while (!['succeeded', 'failed'].includes(jobPhase(job).phase)) {
      try {
        job = await this.watchOnce(name, job, signal, onChange);
        if (['succeeded', 'failed'].includes(jobPhase(job).phase)) break;
        job = await this.batch.readNamespacedJobStatus({ name, namespace: this.config.k8sNamespace }).catch((err: unknown) => {
          if (httpCode(err) === 404) return deletedOutside(job);
          throw err;
        });
        onChange(job);
        failures = 0;
      } catch (err) {
        if (signal.aborted) throw err;
        if (++failures >= MAX_WATCH_FAILURES) throw apiError(`watch job ${name}`, err);
        this.logger.warn({ err, failures }, 'training job watch failed; retrying');
        await sleep(WATCH_RETRY_MS, undefined, { signal });
      }
    }
    return job;
  }

  /** One watch connection: resolves with the latest Job when it is done or the watch closes. */
  private watchOnce(name: string, job: V1Job, signal: AbortSignal, onChange: (job: V1Job) => void): Promise<V1Job> {
    if (signal.aborted) return Promise.reject(new CancelledError());
    return new Promise<V1Job>((resolve, reject) => {
      let latest = job;
      let controller: AbortController | undefined;
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        fn();
      };
      const onAbort = () => settle(() => reject(new CancelledError()));
      signal.addEventListener('abort', onAbort, { once: true });
      this.watch
        .watch(
          `/apis/batch/v1/namespaces/${this.config.k8sNamespace}/jobs`,
          { fieldSelector: `metadata.name=${name}`, resourceVersion: latest.metadata?.resourceVersion, timeoutSeconds: WATCH_TIMEOUT_S },
          (type: string, obj: V1Job) => {
            if (type === 'ADDED' || type === 'MODIFIED') {
              latest = obj;
              onChange(obj);
              if (['succeeded', 'failed'].includes(jobPhase(obj).phase)) settle(() => resolve(latest));
            } else if (type === 'DELETED') {
              latest = deletedOutside(latest);
              onChange(latest);
              settle(() => resolve(latest));
            } else if (type === 'ERROR') {
              // e.g. 410 Gone (resourceVersion too old): re-read and watch again from the fresh version.
              settle(() => resolve(latest));
            }
          },
          (err: unknown) => settle(() => (err ? reject(err) : resolve(latest))),
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        })
        .catch((err: unknown) => settle(() => reject(err)));
    });
  }
}
