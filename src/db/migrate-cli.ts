import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../logger';
import { prepare } from '../start';

// `npm run migrate`: create the database when missing and apply pending migrations, then exit.
async function main(): Promise<void> {
  const config = loadConfig();
  const container = await prepare(config, createLogger(config.logLevel));
  await container.close();
  process.stdout.write('database is up to date\n');
}

main().catch((error: unknown) => {
  const message = error instanceof ConfigError ? error.message : `migration failed: ${(error as Error).message}`;
  process.stderr.write(`pbx-gateway: ${message}\n`);
  process.exit(1);
});
