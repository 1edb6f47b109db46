/** Starting services in-process on loopback ephemeral ports, with a fresh artifact folder, for tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchService, type LaunchedService, type LaunchOptions, type ServiceModule } from '../../services/common/service.js';

export interface TestService extends LaunchedService {
  artifactRoot: string;
  /** Shuts down and removes the artifact folder (unless keepArtifacts). */
  stop(opts?: { keepArtifacts?: boolean }): Promise<void>;
}

export function tempDir(prefix = 'spark-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function startTestService(module: ServiceModule<any, any>, opts: LaunchOptions & { artifactRoot?: string } = {}): Promise<TestService> {
  const artifactRoot = opts.artifactRoot ?? tempDir();
  const running = await launchService(module, {
    env: opts.env ?? {},
    overrides: { port: 0, metricsPort: 0, logLevel: 'silent', shutdownGraceMs: 2_000, artifactRoot, ...opts.overrides },
  });
  return {
    ...running,
    artifactRoot,
    async stop({ keepArtifacts = false } = {}) {
      await running.shutdown('test finished');
      if (!keepArtifacts && !opts.artifactRoot) rmSync(artifactRoot, { recursive: true, force: true });
    },
  };
}
