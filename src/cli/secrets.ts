import { ConfigError, loadConfig } from '../config';
import { isDatabaseError } from '../db/errors';
import { CommitUnknown } from '../db/transaction';
import { createLogger } from '../logger';
import { rotateKeyFile } from '../secrets/rotation';
import { UnreadableSecret } from '../secrets/secrets-at-rest';
import { newCommand } from './command';

// `npm run secrets -- rotate --new-key-file FILE` (CONTRACT section 9): re-seals every held
// password under the key in FILE, in one transaction. Running gateways keep the old key in memory:
// they must be restarted with the new one right after (README, "Secrets at rest").

/** The one line a failed rotation prints. It is one transaction: unless its COMMIT answer was lost, the database holds what it held. */
function failure(error: unknown): string {
  if (error instanceof CommitUnknown) return `${error.detail}; run the rotation again only once you know which key opens the database`;
  const unchanged = 'the database was not changed';
  if (error instanceof ConfigError) return `${error.message}; ${unchanged}`;
  if (error instanceof UnreadableSecret) return `${(error.origin as Error).message}; ${unchanged}`;
  if (isDatabaseError(error)) return `MYSQL_URL: the database did not answer as expected (${(error as { code?: string }).code ?? (error as Error).message}); ${unchanged}`;
  return `rotation failed: ${(error as Error).message}; ${unchanged}`;
}

async function main(): Promise<void> {
  const program = newCommand('npm run secrets --', 'pbx-gateway').description('Manage the key the held passwords are sealed with (SECRETS_KEY_FILE).');
  program
    .command('rotate')
    .description('re-encrypt every held password under the key in FILE (made with mode 0600 when missing), in one transaction')
    .requiredOption('--new-key-file <file>', 'the new key file')
    .action(async (options: { newKeyFile: string }) => {
      const config = loadConfig();
      const rotation = await rotateKeyFile(config, options.newKeyFile, createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr));
      if (rotation.created) process.stdout.write(`made a new key in ${rotation.newKeyFile} (mode 0600); back it up\n`);
      process.stdout.write(
        `re-encrypted ${rotation.count} secrets under ${rotation.newKeyFile}; set SECRETS_KEY_FILE to it (or move it over the old one) and restart the gateways\n`,
      );
    });
  await program.parseAsync();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`pbx-gateway: ${failure(error)}\n`);
    process.exit(1);
  },
);
