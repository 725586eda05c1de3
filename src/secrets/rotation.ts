import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config';
import { migrate } from '../db/migrate';
import { createPool, ensureDatabase, parseMysqlUrl } from '../db/pool';
import { CommitUnknown } from '../db/transaction';
import type { Logger } from '../logger';
import { openKeyFile, type KeyFile } from './key-file';
import type { SecretBox } from './secret-box';
import { rotateSecrets } from './secrets-at-rest';
import { SecretsStore } from './secrets-store';

export interface Rotation {
  /** How many users' passwords were re-sealed (the check value is not counted). */
  readonly count: number;
  readonly newKeyFile: string;
  /** Whether the new key file was made by this rotation. */
  readonly created: boolean;
}

/**
 * Moves the database named by MYSQL_URL from the key in SECRETS_KEY_FILE to the one in
 * `newKeyFile` (made, mode 0600, when missing): `npm run secrets -- rotate`.
 */
export async function rotateKeyFile(
  config: { readonly mysqlUrl: string; readonly secretsKeyFile: string },
  newKeyFile: string,
  logger: Logger,
): Promise<Rotation> {
  // The current key must exist: one made here could only be refused as "does not open".
  const current = openKeyFile(config.secretsKeyFile, { create: false });
  const next = openKeyFile(path.resolve(newKeyFile), { setting: '--new-key-file' });
  if (next.box.keyId === current.box.keyId) {
    throw new ConfigError(`--new-key-file: ${next.path} holds the key in use already (SECRETS_KEY_FILE); give a new file`);
  }
  try {
    const count = await rotateDatabase(config.mysqlUrl, current, next.box, logger);
    return { count, newKeyFile: next.path, created: next.created };
  } catch (error) {
    // A key made for a rotation that did not commit seals nothing: it would only be mistaken for the
    // current one. Unless the outcome is unknown: then it may be the database's key now.
    if (next.created && !(error instanceof CommitUnknown)) fs.rmSync(next.path, { force: true });
    throw error;
  }
}

async function rotateDatabase(mysqlUrl: string, current: KeyFile, next: SecretBox, logger: Logger): Promise<number> {
  const target = parseMysqlUrl(mysqlUrl);
  await ensureDatabase(target);
  const pool = createPool(target, 2);
  try {
    await migrate(pool, logger);
    return await rotateSecrets({ pool, store: new SecretsStore(pool), box: current.box, keyFile: current.path }, next);
  } finally {
    // Never an error from here: after a commit it would undo the new key file above.
    await pool.end().catch(() => undefined);
  }
}
