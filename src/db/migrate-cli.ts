import { newCommand } from '../cli/command';
import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../logger';
import { prepare } from '../start';

// `npm run migrate`: create the database when missing and apply pending migrations, then exit.
// The result is the one line on stdout; the log lines (each migration applied) go to stderr.
async function main(): Promise<void> {
  newCommand('npm run migrate --', 'pbx-gateway')
    .description(
      'Create the database (MYSQL_URL) when missing and apply the pending migrations, then exit.\n' +
        'Settings as for npm start: environment variables over config/ (README, "Configuration").',
    )
    .parse();
  const config = loadConfig();
  const container = await prepare(config, createLogger(config.logLevel, process.stderr));
  await container.close();
  process.stdout.write('database is up to date\n');
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : `migration failed: ${(error as Error).message}`;
  process.stderr.write(`pbx-gateway: ${message}\n`);
  process.exit(1);
});
