/** Running the built `spark` command as a child process (as users and scripts do). */
import { spawn, spawnSync } from 'node:child_process';
import { SPARK_BIN } from '../../services/common/launcher.js';

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs `spark ...args` to completion (synchronously; tests keep commands short). */
export function runSpark(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): CliResult {
  const r = spawnSync(process.execPath, [SPARK_BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', input, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `spark ...args` without blocking the test's event loop (needed when the test also serves). */
export function runSparkAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SPARK_BIN, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
