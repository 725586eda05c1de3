import { ConfigError } from '../config';
import type { Connection, Pool } from '../db/pool';
import { withTransaction } from '../db/transaction';
import type { Logger } from '../logger';
import { GatewayError } from '../outcome';
import { SecretOpenError, sealedKeyId, type SecretBox } from './secret-box';
import type { SealedValue, SecretsStore, StoredSecret } from './secrets-store';

// CONTRACT section 9: what the start and a rotation do with the secrets the database holds.

/** The known text of the check value, and the context it is sealed for. */
const CHECK_TEXT = 'pbx-gateway secrets check';
const CHECK_CONTEXT = 'secrets_check';
/** Users re-sealed per statement (and read per locking read). */
const BATCH = 500;

/** The context a user's password is sealed for: its address, so a value copied to another row does not open. */
export function userSecretContext(user: { readonly username: string; readonly domain: string }): string {
  return `users.secret ${user.username}@${user.domain}`;
}

/**
 * A held password that does not open: error/internal for the request that needed it, never a crash.
 * The answer says what to do; the log (the origin) names the user, never the value.
 */
export class UnreadableSecret extends GatewayError {
  constructor(user: { readonly username: string; readonly domain: string }, cause: unknown) {
    const otherKey = cause instanceof SecretOpenError && cause.reason === 'other-key';
    super(
      'internal',
      otherKey
        ? 'a stored password is sealed under another key: if the key was rotated, restart this gateway with the new SECRETS_KEY_FILE'
        : 'a stored password does not open; the log has the details',
      new Error(`the stored password of ${user.username}@${user.domain} does not open: ${(cause as Error).message}`),
    );
    this.name = 'UnreadableSecret';
  }
}

/**
 * The password a stored row holds. The clear column wins when set: this gateway always empties it
 * when it seals, so a clear value was written later, by an older gateway (a rolling upgrade).
 */
export function openStoredSecret(box: SecretBox, row: StoredSecret): string | null {
  if (row.clear !== null || row.sealed === null) return row.clear;
  try {
    return box.open(row.sealed, userSecretContext(row));
  } catch (error) {
    throw new UnreadableSecret(row, error);
  }
}

function wrongKey(keyFile: string): ConfigError {
  return new ConfigError(
    `SECRETS_KEY_FILE: the key in ${keyFile} does not open the secrets stored in the database; use the key file they were sealed with`,
  );
}

/**
 * Checks, holding the check row, that `box` is the key the database was sealed with; with no
 * check value yet, writes one (when some password is sealed already, its key id decides).
 */
async function checkKey(connection: Connection, store: SecretsStore, box: SecretBox, keyFile: string): Promise<void> {
  const check = await store.lockCheck(connection);
  if (check === null) {
    const sealed = await store.anySealed(connection);
    if (sealed !== null && sealedKeyId(sealed) !== box.keyId) throw wrongKey(keyFile);
    await store.writeCheck(connection, box.seal(CHECK_TEXT, CHECK_CONTEXT));
    return;
  }
  try {
    if (box.open(check, CHECK_CONTEXT) !== CHECK_TEXT) throw new SecretOpenError('damaged', 'not the check text');
  } catch (error) {
    if (error instanceof SecretOpenError && error.reason === 'other-key') throw wrongKey(keyFile);
    throw new ConfigError(
      `SECRETS_KEY_FILE: the check value in table secrets_check does not open under the key in ${keyFile} (${(error as Error).message}); use the key file the database was sealed with`,
    );
  }
}

/** Seals every held password (only those in clear, with `onlyClear`) under `to`; returns how many. */
async function sealAll(connection: Connection, store: SecretsStore, from: SecretBox, to: SecretBox, onlyClear: boolean): Promise<number> {
  let count = 0;
  for (let afterId = 0; ; ) {
    const rows = await store.nextHeld(connection, afterId, BATCH, onlyClear);
    if (rows.length === 0) return count;
    const values: SealedValue[] = rows.map((row) => ({ id: row.id, sealed: to.seal(openStoredSecret(from, row) ?? '', userSecretContext(row)) }));
    await store.writeSealed(connection, values);
    count += values.length;
    afterId = rows[rows.length - 1].id;
  }
}

export interface SecretsAtRestDeps {
  readonly pool: Pool;
  readonly store: SecretsStore;
  readonly box: SecretBox;
  /** Where the key came from, for the operator's one line. */
  readonly keyFile: string;
}

/**
 * At every start: stops it (ConfigError) unless the key is the database's, then seals the
 * passwords still held in clear, in one transaction that holds the check row, so that gateways
 * starting together on one database take turns. Returns how many it sealed.
 */
export async function openSecretsAtRest(deps: SecretsAtRestDeps, logger: Logger): Promise<number> {
  const { pool, store, box, keyFile } = deps;
  await store.ensureCheckRow();
  const sealed = await withTransaction(pool, async (connection) => {
    await checkKey(connection, store, box, keyFile);
    return sealAll(connection, store, box, box, true);
  });
  if (sealed > 0) logger.info('sealed the passwords that were stored in clear', { sealed, key_file: keyFile });
  return sealed;
}

/**
 * Re-seals every held password and the check value under `next`, in one transaction with every
 * row locked: either all of them move to the new key or none does. Returns how many passwords.
 */
export async function rotateSecrets(deps: SecretsAtRestDeps, next: SecretBox): Promise<number> {
  const { pool, store, box, keyFile } = deps;
  await store.ensureCheckRow();
  return withTransaction(pool, async (connection) => {
    await checkKey(connection, store, box, keyFile);
    const count = await sealAll(connection, store, box, next, false);
    await store.writeCheck(connection, next.seal(CHECK_TEXT, CHECK_CONTEXT));
    return count;
  });
}
