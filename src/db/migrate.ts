import { randomInt, randomUUID } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { Umzug, type UmzugStorage } from 'umzug';
import type { Connection, Pool } from './pool';
import { retryOnConflict } from './errors';
import { migrations } from './migrations';
import type { Logger } from '../logger';

/** How long a start waits for another gateway's migration before it gives up. */
const LOCK_WAIT_MS = 120_000;
/** The migration lock's lease; the holder renews it every third of that while it migrates. */
const LOCK_LEASE_SECONDS = 30;

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** A migration statement the database refused: named, so the start says which and why (not "is MySQL running?"). */
export class MigrationFailed extends Error {
  constructor(
    readonly migration: string,
    readonly origin: unknown,
  ) {
    const { code, message } = (origin ?? {}) as { code?: string; message?: string };
    super(`migration ${migration} failed (${code ?? 'error'}: ${message ?? String(origin)}); what it did so far is kept and the next start runs it again from its first statement`);
  }
}

/** Progress is recorded on the connection that holds the lock and runs the statements. */
function tableStorage(connection: Connection): UmzugStorage {
  return {
    async executed() {
      return appliedNames(connection);
    },
    async logMigration({ name }) {
      await retryOnConflict(() => connection.execute('INSERT IGNORE INTO schema_migrations (name) VALUES (?)', [name]));
    },
    async unlogMigration({ name }) {
      await retryOnConflict(() => connection.execute('DELETE FROM schema_migrations WHERE name = ?', [name]));
    },
  };
}

async function appliedNames(connection: Pool | Connection): Promise<string[]> {
  const [rows] = await connection.query<RowDataPacket[]>('SELECT name FROM schema_migrations ORDER BY name');
  return rows.map((row) => String(row.name));
}

/**
 * Applies the pending migrations. Several gateways may start at once, on one server or on any
 * nodes of a Galera cluster (CONTRACT section 11): one takes the migration lock, a committed row
 * that every node certifies (GET_LOCK is node-local there), and migrates; the others wait until
 * nothing is pending. The holder records each migration on its own connection as it finishes; a
 * holder that dies leaves its lease to run out and the next gateway runs the unfinished migration
 * again (every statement is safe to repeat: IF NOT EXISTS, CREATE OR REPLACE).
 */
export async function migrate(pool: Pool, logger?: Logger): Promise<string[]> {
  // Statements on the pool are run again after a conflict by the pool itself (db/pool.ts). The
  // tables are created only when missing: outside the lock, no start sends DDL that could meet the
  // lock holder's in a Galera cluster (ensureDatabase in db/pool.ts says why).
  const [present] = await pool.query<RowDataPacket[]>(
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ('schema_migrations', 'schema_lock')",
  );
  const has = (name: string) => present.some((row) => row.name === name);
  if (!has('schema_migrations')) {
    await pool.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         name VARCHAR(128) NOT NULL PRIMARY KEY,
         applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
       ) ENGINE=InnoDB`,
    );
  }
  if (!has('schema_lock')) {
    await pool.query(
      `CREATE TABLE IF NOT EXISTS schema_lock (
         id TINYINT UNSIGNED NOT NULL PRIMARY KEY,
         holder CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NULL,
         until TIMESTAMP(3) NULL
       ) ENGINE=InnoDB`,
    );
  }
  await pool.query('INSERT IGNORE INTO schema_lock (id) VALUES (1)');

  const pending = async () => {
    const applied = new Set(await appliedNames(pool));
    return migrations.some((migration) => !applied.has(migration.name));
  };
  const token = randomUUID();
  const until = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    if (!(await pending())) return [];
    if (await takeLock(pool, token)) break;
    if (Date.now() > until) throw new Error(`another gateway has held the migration lock for over ${LOCK_WAIT_MS / 1000} s (table schema_lock)`);
    await pause(randomInt(100, 300));
  }
  const renew = setInterval(
    () => void pool.execute(`UPDATE schema_lock SET until = CURRENT_TIMESTAMP(3) + INTERVAL ${LOCK_LEASE_SECONDS} SECOND WHERE id = 1 AND holder = ?`, [token]).catch(() => undefined),
    (LOCK_LEASE_SECONDS * 1000) / 3,
  );
  renew.unref();
  const connection = await pool.getConnection();
  try {
    const umzug = new Umzug({
      migrations: migrations.map((migration) => ({
        name: migration.name,
        up: async () => {
          for (const statement of migration.statements) {
            await retryOnConflict(() => connection.query(statement)).catch((error: unknown) => {
              throw new MigrationFailed(migration.name, error);
            });
          }
        },
      })),
      storage: tableStorage(connection),
      logger: undefined,
    });
    const applied = await umzug.up().catch((error: unknown) => {
      // umzug wraps what a migration throws; the start reports the migration's own failure.
      throw (error as { cause?: unknown }).cause instanceof MigrationFailed ? (error as { cause: MigrationFailed }).cause : error;
    });
    for (const { name } of applied) logger?.info('migration applied', { migration: name });
    return applied.map(({ name }) => name);
  } finally {
    clearInterval(renew);
    connection.release();
    await pool.execute('UPDATE schema_lock SET holder = NULL, until = NULL WHERE id = 1 AND holder = ?', [token]).catch(() => undefined);
  }
}

/** Takes the migration lock with one committed write; false while another gateway holds it. */
async function takeLock(pool: Pool, token: string): Promise<boolean> {
  try {
    const [result] = await pool.execute<ResultSetHeader>(
      `UPDATE schema_lock SET holder = ?, until = CURRENT_TIMESTAMP(3) + INTERVAL ${LOCK_LEASE_SECONDS} SECOND
       WHERE id = 1 AND (holder IS NULL OR until < CURRENT_TIMESTAMP(3))`,
      [token],
    );
    return result.affectedRows === 1;
  } catch (error) {
    if ((error as { code?: string }).code === 'ER_LOCK_DEADLOCK') return false;
    throw error;
  }
}
