/**
 * `spark start`: all five services as separate processes on loopback, health-checked, with their
 * addresses printed; Ctrl-C stops them all. (The pipeline issue turns `npm start` into a full SPaRK run.)
 */
import { Command } from 'commander';
import { HealthClient, checkHealth } from '../common/health-client.js';
import { SERVICE_NAMES } from '../common/config.js';
import { spawnService, type SpawnedService } from '../common/launcher.js';
import { scrapeTargetsFile, writeScrapeTargets } from '../common/scrape-targets.js';

export function startCommand(): Command {
  return new Command('start')
    .description('start the five services on loopback and print their addresses (Ctrl-C stops them)')
    .option('--artifact-root <dir>', 'artifact folder shared by the services', 'artifacts')
    .option('--exit-when-healthy', 'stop the services and exit once all five answer SERVING (for scripts)')
    .action(async (flags: { artifactRoot: string; exitWhenHealthy?: boolean }) => {
      const env = { SPARK_ARTIFACT_ROOT: flags.artifactRoot };
      const started: SpawnedService[] = [];
      const stopAll = () => Promise.all(started.map((s) => s.stop()));
      try {
        for (const name of SERVICE_NAMES) started.push(await spawnService(name, { env }));
      } catch (err) {
        await stopAll();
        throw err;
      }
      writeScrapeTargets(scrapeTargetsFile(process.env), Object.fromEntries(started.map((s) => [s.name, s.metricsUrl])));
      const rows = await Promise.all(started.map(async (s) => {
        const client = new HealthClient(s.address);
        try { return { ...s, health: await checkHealth(client, '', 5_000) }; } finally { client.close(); }
      }));
      const width = Math.max(...rows.map((r) => r.name.length));
      process.stdout.write(`${'service'.padEnd(width)}  ${'grpc'.padEnd(21)}  ${'health'.padEnd(11)}  metrics\n`);
      for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${r.address.padEnd(21)}  ${r.health.padEnd(11)}  ${r.metricsUrl}\n`);
      if (rows.some((r) => r.health !== 'SERVING')) {
        await stopAll();
        throw new Error('not every service is healthy (see the table above)');
      }
      if (flags.exitWhenHealthy) { await stopAll(); return; }
      process.stdout.write('all five services are SERVING; press Ctrl-C to stop them\n');
      for (const s of started) {
        s.child.once('exit', (code) => {
          process.stderr.write(`${s.name} service exited (code ${code}); last log lines:\n${s.recentLogs.slice(-5).join('\n')}\n`);
          void stopAll().then(() => process.exit(1));
        });
      }
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      for (const s of started) s.child.removeAllListeners('exit');
      await stopAll();
    });
}
