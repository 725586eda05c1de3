import { newCommand } from './cli/command';
import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { start } from './start';
import { version } from '../package.json';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  newCommand('npm start --', 'pbx-gateway')
    .description(
      'The pbx-gateway server: the provisioning nodes over HTTP, on HOST:PORT (default 127.0.0.1:8080).\n' +
        'Configured by environment variables over config/ (MYSQL_URL, PBX_URL, API_TOKENS, LOG_LEVEL, ...: README, "Configuration"); it takes no arguments.\n' +
        'Logs are JSON lines on stdout; a setting that stops the start is one line on stderr.',
    )
    .parse();
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const running = await start(config, logger, version);
  logger.info('pbx-gateway listening', { url: running.url, version, local_domains: config.localDomains });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    const forced = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    forced.unref();
    running.stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error('shutdown failed', { error: error.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  // One clear line, no stack trace, for what an operator must fix (CONTRACT section 2).
  if (error instanceof ConfigError) process.stderr.write(`pbx-gateway: ${error.message}\n`);
  else process.stderr.write(`pbx-gateway: could not start: ${(error as Error).message ?? String(error)}\n`);
  process.exit(1);
});
