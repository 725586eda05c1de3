import type { RowDataPacket } from 'mysql2/promise';
import type { Connection, Pool } from '../db/pool';
import { GatewayError } from '../outcome';
import { sealedKeyId } from './secret-box';

// The rows that hold secrets, as stored: the check value (secrets_check, id 1) and each user's
// password, sealed (users.secret) or still in clear (users.password, from before 004-secrets or
// from an older gateway). Opening and sealing happen in secrets-at-rest.ts; only SQL lives here.

const CHECK_ID = 1;

/** One user's held password as stored: sealed, or in clear until it is sealed. */
export interface StoredSecret {
  readonly id: number;
  readonly username: string;
  readonly domain: string;
  readonly sealed: string | null;
  readonly clear: string | null;
}

export interface SealedValue {
  readonly id: number;
  readonly sealed: string;
}

function rowToStoredSecret(row: RowDataPacket): StoredSecret {
  return { id: Number(row.id), username: row.username, domain: row.domain, sealed: row.secret, clear: row.password };
}

export class SecretsStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Makes the check row when it is missing, on its own and committed at once, before the locking
   * transaction: a locking read of a missing row would take a gap lock, and two starts inserting
   * it inside their transactions would deadlock (docs/decisions/006).
   */
  async ensureCheckRow(): Promise<void> {
    await this.pool.execute('INSERT IGNORE INTO secrets_check (id, sealed) VALUES (?, NULL)', [CHECK_ID]);
  }

  /** The sealed check value (null: none written yet), its row held until the transaction ends. */
  async lockCheck(connection: Connection): Promise<string | null> {
    const [rows] = await connection.execute<RowDataPacket[]>('SELECT sealed FROM secrets_check WHERE id = ? FOR UPDATE', [CHECK_ID]);
    if (rows.length === 0) throw new Error('the secrets_check row is missing');
    return rows[0].sealed;
  }

  async writeCheck(connection: Connection, sealed: string): Promise<void> {
    await connection.execute('UPDATE secrets_check SET sealed = ? WHERE id = ?', [sealed, CHECK_ID]);
  }

  /** Some user's sealed password, or null when none is sealed (tells which key sealed them when the check value is gone). */
  async anySealed(connection: Connection): Promise<string | null> {
    const [rows] = await connection.execute<RowDataPacket[]>('SELECT secret FROM users WHERE secret IS NOT NULL LIMIT 1');
    return rows.length > 0 ? rows[0].secret : null;
  }

  /**
   * The next `limit` users after id `afterId` holding a password (only those still in clear, with
   * `onlyClear`), in id order, locked until the transaction ends.
   */
  async nextHeld(connection: Connection, afterId: number, limit: number, onlyClear: boolean): Promise<StoredSecret[]> {
    const holding = onlyClear ? 'password IS NOT NULL' : '(secret IS NOT NULL OR password IS NOT NULL)';
    const [rows] = await connection.query<RowDataPacket[]>(
      `SELECT id, username, domain, secret, password FROM users WHERE id > ? AND ${holding} ORDER BY id LIMIT ? FOR UPDATE`,
      [afterId, limit],
    );
    return rows.map(rowToStoredSecret);
  }

  /** Stores each value sealed and clears the old clear column, in one statement for the batch. */
  async writeSealed(connection: Connection, values: readonly SealedValue[]): Promise<void> {
    if (values.length === 0) return;
    const derived = values.map((_, index) => (index === 0 ? 'SELECT ? AS id, ? AS sealed' : 'SELECT ?, ?')).join(' UNION ALL ');
    await connection.query(
      `UPDATE users JOIN (${derived}) AS sealed_values ON users.id = sealed_values.id SET users.secret = sealed_values.sealed, users.password = NULL`,
      values.flatMap(({ id, sealed }) => [id, sealed]),
    );
  }
}

/**
 * Refuses a change on a gateway whose key is no longer the database's (a rotation has committed
 * since it started): what it sealed now could not be opened after the restart. The shared lock
 * makes a change that begins during a rotation wait for it, then be refused.
 */
export async function assertKeyInUse(connection: Connection, keyId: string): Promise<void> {
  const [rows] = await connection.execute<RowDataPacket[]>('SELECT sealed FROM secrets_check WHERE id = ? LOCK IN SHARE MODE', [CHECK_ID]);
  const sealed: string | null = rows[0]?.sealed ?? null;
  if (sealed !== null && sealedKeyId(sealed) !== keyId) {
    throw new GatewayError(
      'internal',
      'the secrets key was rotated since this gateway started; restart it with the new SECRETS_KEY_FILE',
      new Error(`the database's secrets are sealed under key ${sealedKeyId(sealed)}, this gateway holds key ${keyId}: restart it with the new SECRETS_KEY_FILE`),
    );
  }
}
