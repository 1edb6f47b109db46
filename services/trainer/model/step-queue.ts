/**
 * One native generation step at a time, in arrival order. Concurrent generations (several Generate
 * calls, or one per model of an evaluation) each issue a step per token; run side by side, every step
 * takes a libuv worker with its own OpenMP team, and on a small CPU those teams and OpenBLAS's threads
 * fight over the cores: six concurrent batch-1 decodes of the tiny model took 10× longer together than
 * one after the other (2 cores). Queued, the generations interleave step by step, so each still makes
 * progress and none waits for another to finish. On a GPU the kernels queue on one stream anyway.
 */

export class StepQueue {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `step` after every step queued before it; a failed step does not block the next. */
  async run<T>(step: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let done!: () => void;
    this.tail = new Promise<void>((resolve) => { done = resolve; });
    try {
      await before;
      return await step();
    } finally {
      done();
    }
  }
}

/** The process's queue for generation steps (model/generate.ts). */
export const generationSteps = new StepQueue();
