/**
 * `spark observe` (`npm run observe`): Debian's Prometheus scraping the SPaRK services that `spark start`
 * or `spark pipeline` started (found through the file written by services/common/scrape-targets.ts),
 * with the repository's recording and alert rules loaded and a live console page of tool-selection
 * entropy and per-category accuracy. Ctrl-C stops it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from '../common/config.js';
import { writeFileAtomic } from '../common/files.js';
import { REPO_ROOT } from '../common/paths.js';
import { scrapeTargetsFile, writeScrapeTargets } from '../common/scrape-targets.js';
import { wholeNumber } from './options.js';

export const RULES_FILE = join(REPO_ROOT, 'deploy', 'prometheus', 'rules.yaml');
export const CONSOLES_DIR = join(REPO_ROOT, 'deploy', 'prometheus', 'consoles');
/** Debian ships the console helper libraries as examples. */
const CONSOLE_LIBRARIES = '/usr/share/doc/prometheus/examples/console_libraries';

/** A Prometheus config scraping the file-discovered SPaRK targets every 2 s, with the repo's rules. */
export function prometheusConfig(targetsFile: string): string {
  return toYaml({
    global: { scrape_interval: '2s', evaluation_interval: '5s' },
    rule_files: [RULES_FILE],
    scrape_configs: [{
      job_name: 'spark',
      // spark_tool_selection_entropy_bits carries its own `job` label (the generation job id).
      honor_labels: true,
      file_sd_configs: [{ files: [targetsFile], refresh_interval: '5s' }],
    }],
  });
}

export interface ObserveOptions { port: number; targets: string; dataDir: string }

export function observeCommand(): Command {
  return new Command('observe')
    .description('start Prometheus scraping the running SPaRK services, with rules and a live console page')
    .option('--port <port>', 'Prometheus web port', wholeNumber('--port', 1, 65_535), 9090)
    .option('--targets <file>', 'file-discovery targets (written by spark start / spark pipeline)', scrapeTargetsFile(process.env))
    .option('--data-dir <dir>', 'Prometheus storage folder', join(REPO_ROOT, '.spark', 'observe', 'data'))
    .action(async (opts: { port: number; targets: string; dataDir: string }) => {
      if (!existsSync('/usr/bin/prometheus')) throw new ConfigError('Prometheus is not installed: run `npm run setup` (as root it installs the Debian package `prometheus`)');
      mkdirSync(opts.dataDir, { recursive: true });
      if (!existsSync(opts.targets)) writeScrapeTargets(opts.targets, {});
      const config = join(opts.dataDir, '..', 'prometheus.yml');
      writeFileAtomic(config, prometheusConfig(opts.targets));
      const base = `http://127.0.0.1:${opts.port}`;
      const prom = spawn('/usr/bin/prometheus', [
        `--config.file=${config}`, `--storage.tsdb.path=${opts.dataDir}`, `--web.listen-address=127.0.0.1:${opts.port}`,
        `--web.console.templates=${CONSOLES_DIR}`, `--web.console.libraries=${CONSOLE_LIBRARIES}`, '--storage.tsdb.retention.time=2d',
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      let lastLines: string[] = [];
      prom.stderr.on('data', (d: Buffer) => { lastLines = [...lastLines, ...d.toString().split('\n').filter(Boolean)].slice(-5); });
      const exited = new Promise<number | null>((resolve) => prom.once('exit', resolve));
      for (let i = 0; ; i++) {
        if (prom.exitCode !== null) throw new Error(`prometheus exited (code ${prom.exitCode}):\n${lastLines.join('\n')}`);
        if (await fetch(`${base}/-/ready`).then((r) => r.ok, () => false)) break;
        if (i > 300) { prom.kill(); throw new Error(`prometheus did not become ready on ${base}`); }
        await sleep(100);
      }
      process.stdout.write(`Prometheus ${base} scraping the services listed in ${opts.targets}\nlive SPaRK console: ${base}/consoles/spark.html\nrules: ${base}/rules   (Ctrl-C stops)\n`);
      const stop = () => prom.kill('SIGTERM');
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await exited;
    });
}
