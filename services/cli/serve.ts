/** `spark serve <service>`: one service in this process, configured by environment and flags. */
import { Command, InvalidArgumentError as CommanderArgError } from 'commander';
import { SERVICE_NAMES, type ServiceName } from '../common/config.js';
import { launchService } from '../common/service.js';
import { SERVICES } from './services.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description(`run one service: ${SERVICE_NAMES.join(', ')}`)
    .argument('<service>', `service name (${SERVICE_NAMES.join(', ')})`, (value: string) => {
      if (!(SERVICE_NAMES as readonly string[]).includes(value)) {
        throw new CommanderArgError(`unknown service ${JSON.stringify(value)}; allowed: ${SERVICE_NAMES.join(', ')}`);
      }
      return value as ServiceName;
    })
    .option('--host <host>', 'address to bind (env SPARK_HOST; default 127.0.0.1)')
    .option('--port <port>', 'gRPC port, 0 = any free port (env SPARK_PORT)')
    .option('--metrics-port <port>', '/metrics HTTP port, 0 = any free port (env SPARK_METRICS_PORT)')
    .option('--artifact-root <dir>', 'artifact folder (env SPARK_ARTIFACT_ROOT; default ./artifacts)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (env SPARK_LOG_LEVEL)')
    .action(async (name: ServiceName, flags: Record<string, string | undefined>) => {
      await launchService(SERVICES[name], {
        env: process.env,
        handleSignals: true,
        overrides: { host: flags.host, port: flags.port, metricsPort: flags.metricsPort, artifactRoot: flags.artifactRoot, logLevel: flags.logLevel },
        flagNames: { host: '--host', port: '--port', metricsPort: '--metrics-port', artifactRoot: '--artifact-root', logLevel: '--log-level' },
      });
    });
}
