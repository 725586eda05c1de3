import type { RowDataPacket } from 'mysql2/promise';
import type { Connection, Pool } from '../../db/pool';

/** How long a change waits for another change of the same extension (seconds). */
const LOCK_WAIT_SECONDS = 30;

/**
 * pbx_extensions: one row per extension number the gateway has worked on (CONTRACT section 7).
 * Its row lock serialises every change of one extension across gateways, and `in_doubt_since`
 * marks an extension whose two stores may disagree until a gateway repairs it.
 */
export class ExtensionStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Makes the extension's row when missing, on its own connection, before the transaction that
   * locks it: concurrent inserts of one new key inside transactions deadlock each other in InnoDB,
   * and a locking read of a missing row would take a gap lock. Call it while holding no connection
   * of the pool (a request holding one while waiting for another can starve the pool).
   */
  async ensure(number: string): Promise<void> {
    const [known] = await this.pool.execute<RowDataPacket[]>('SELECT 1 FROM pbx_extensions WHERE number = ?', [number]);
    if (known.length === 0) await this.pool.execute('INSERT IGNORE INTO pbx_extensions (number) VALUES (?)', [number]);
  }

  /**
   * Takes the extension's row lock (made by ensure()) in the connection's transaction; it is held
   * until the transaction ends, or until the session is lost, which is why a request that lost its
   * session settles afresh under a new lock (ExtensionReconciler) instead of using what it read.
   */
  async lock(connection: Connection, number: string): Promise<void> {
    const [rows] = await connection.query<RowDataPacket[]>(
      `SET STATEMENT innodb_lock_wait_timeout = ${LOCK_WAIT_SECONDS} FOR SELECT number FROM pbx_extensions WHERE number = ? FOR UPDATE`,
      [number],
    );
    if (rows.length === 0) throw new Error(`extension ${number} has no row in pbx_extensions: ensure() it first`);
  }

  /** Whether the extension is in doubt; call it under the extension's lock. */
  async isInDoubt(connection: Connection, number: string): Promise<boolean> {
    const [rows] = await connection.execute<RowDataPacket[]>('SELECT in_doubt_since FROM pbx_extensions WHERE number = ?', [number]);
    return rows.length > 0 && rows[0].in_doubt_since !== null;
  }

  async markInDoubt(number: string, reason: string): Promise<void> {
    await this.pool.execute(
      `INSERT INTO pbx_extensions (number, in_doubt_since, reason) VALUES (?, CURRENT_TIMESTAMP(3), ?)
       ON DUPLICATE KEY UPDATE in_doubt_since = COALESCE(in_doubt_since, CURRENT_TIMESTAMP(3)), reason = VALUES(reason)`,
      [number, reason.slice(0, 64)],
    );
  }

  async clearInDoubt(connection: Connection, number: string): Promise<void> {
    await connection.execute('UPDATE pbx_extensions SET in_doubt_since = NULL, reason = NULL WHERE number = ?', [number]);
  }

  /** The extensions in doubt, longest first. */
  async listInDoubt(limit: number): Promise<string[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      'SELECT number FROM pbx_extensions WHERE in_doubt_since IS NOT NULL ORDER BY in_doubt_since LIMIT ?',
      [limit],
    );
    return rows.map((row) => row.number);
  }

  async countInDoubt(): Promise<number> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SELECT COUNT(*) AS doubts FROM pbx_extensions WHERE in_doubt_since IS NOT NULL');
    return Number(rows[0].doubts);
  }
}
