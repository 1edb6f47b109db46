/**
 * The line a training process prints after every optimiser step (`spark train run`, what a Kubernetes
 * training pod runs): one JSON object on stdout, which the trainer service reads back from the pod's
 * log and turns into WatchJob metrics. Anything else on the log is passed on as a message.
 */

export const STEP_EVENT = 'train_step';

export interface StepLine {
  step: number;
  totalSteps: number;
  metrics: Record<string, number>;
}

export function formatStepLine(s: StepLine): string {
  return JSON.stringify({ event: STEP_EVENT, step: s.step, total_steps: s.totalSteps, metrics: s.metrics });
}

/** The step event of a log line, or undefined for any other line. */
export function parseStepLine(line: string): StepLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const o = JSON.parse(line) as { event?: unknown; step?: unknown; total_steps?: unknown; metrics?: unknown };
    if (o.event !== STEP_EVENT || typeof o.step !== 'number' || typeof o.total_steps !== 'number' || typeof o.metrics !== 'object' || !o.metrics) return undefined;
    const metrics = Object.fromEntries(Object.entries(o.metrics as Record<string, unknown>).filter((e): e is [string, number] => typeof e[1] === 'number'));
    return { step: o.step, totalSteps: o.total_steps, metrics };
  } catch {
    return undefined;
  }
}
