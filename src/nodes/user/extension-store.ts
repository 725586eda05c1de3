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
   * Takes the extension's row lock in the connection's transaction (made on first use); it is held
   * until the transaction ends, or until the session is lost, which is why a request that lost its
   * session settles afresh under a new lock (ExtensionReconciler) instead of using what it read.
   */
  async lock(connection: Connection, number: string): Promise<void> {
    await connection.query(
      `SET STATEMENT innodb_lock_wait_timeout = ${LOCK_WAIT_SECONDS} FOR
       INSERT INTO pbx_extensions (number) VALUES (?) ON DUPLICATE KEY UPDATE number = number`,
      [number],
    );
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
