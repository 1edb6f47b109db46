/**
 * The trainer's Prometheus metrics (DESIGN §7), set from the same per-step values WatchJob carries: the
 * verl key → gauge name table lives once in services/common/metrics.ts (JOB_METRIC_TO_PROMETHEUS), so
 * dashboards and job events agree. Gauges hold the latest step of the latest running job (unlabelled:
 * one training run at a time per trainer is the normal case and keeps label sets bounded).
 */
import type { Counter, Gauge, Registry } from 'prom-client';
import { JOB_METRIC_TO_PROMETHEUS, counter, gauge } from '../../common/metrics.js';

const HELP: Record<string, string> = {
  spark_train_loss: 'Training loss of the last optimiser step (PPO: surrogate + KL + value terms; SFT: NLL)',
  spark_train_approx_kl: 'PPO: KL(behaviour || policy) over action tokens, k1 estimate',
  spark_train_kl: 'KL of the policy to the reference (base, adapters off) over action tokens, k1 estimate',
  spark_train_clipfrac: 'PPO: fraction of action tokens whose ratio was clipped',
  spark_train_entropy: 'Mean entropy of the policy over action tokens, nats',
  spark_train_grad_norm: 'Global L2 norm of the gradients before clipping',
  spark_train_lr: 'Learning rate of the last optimiser step',
  spark_train_reward: 'Mean composite reward of the last step batch',
  spark_train_advantage: 'Mean advantage over action tokens of the last step batch',
  spark_train_tokens_per_second: 'Tokens (context + action) processed per second in the last step',
  spark_train_mfu_ratio: 'Model FLOPs utilisation of the last step (model FLOPs / device peak)',
};

export class TrainMetrics {
  private readonly gauges = new Map<string, Gauge>();
  private readonly steps: Counter<'mode'>;
  /** Policies loaded for Generate / ScoreSequences (cache misses). */
  readonly modelLoads: Counter;

  constructor(registry: Registry) {
    for (const name of Object.values(JOB_METRIC_TO_PROMETHEUS)) gauge(registry, name, HELP[name] ?? name);
    for (const [key, name] of Object.entries(JOB_METRIC_TO_PROMETHEUS)) this.gauges.set(key, registry.getSingleMetric(name) as Gauge);
    this.steps = counter(registry, 'spark_train_steps_total', 'Optimiser steps completed, by training mode', ['mode']);
    // Both series exist from the start, so rate() works from the first step.
    for (const mode of ['ppo', 'sft']) this.steps.inc({ mode }, 0);
    this.modelLoads = counter(registry, 'spark_train_model_loads_total', 'Base models (with their adapter) loaded for Generate and ScoreSequences; repeated calls hit the cache');
  }

  /** Records one optimiser step's metrics (verl keys). */
  record(mode: 'ppo' | 'sft', metrics: Readonly<Record<string, number>>): void {
    for (const [key, value] of Object.entries(metrics)) {
      if (Number.isFinite(value)) this.gauges.get(key)?.set(value);
    }
    this.steps.inc({ mode });
  }
}
