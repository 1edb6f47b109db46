/**
 * Which pipeline stages are finished, kept in `<run>/pipeline-state.json` (written atomically), so that
 * running the pipeline again resumes after the last finished stage instead of redoing work.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/files.js';

export const STATE_FILE = 'pipeline-state.json';

export interface StageRecord<T = unknown> {
  finishedAt: string;
  seconds: number;
  result: T;
}

export class PipelineState {
  private readonly stages: Record<string, StageRecord>;

  constructor(private readonly runDir: string) {
    const path = join(runDir, STATE_FILE);
    this.stages = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as { stages: Record<string, StageRecord> }).stages : {};
  }

  done(name: string): boolean {
    return name in this.stages;
  }

  /** Runs `fn` unless the stage already finished in an earlier run; returns its (saved) result. */
  async stage<T>(name: string, fn: () => Promise<T>, onSkip?: (record: StageRecord<T>) => void): Promise<T> {
    const saved = this.stages[name] as StageRecord<T> | undefined;
    if (saved) {
      onSkip?.(saved);
      return saved.result;
    }
    const started = Date.now();
    const result = await fn();
    this.stages[name] = { finishedAt: new Date().toISOString(), seconds: (Date.now() - started) / 1000, result };
    writeFileAtomic(join(this.runDir, STATE_FILE), JSON.stringify({ stages: this.stages }, null, 2));
    return result;
  }

  summary(): Record<string, StageRecord> {
    return { ...this.stages };
  }
}
