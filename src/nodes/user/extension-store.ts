import { randomInt, randomUUID } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Connection, Pool } from '../../db/pool';
import { DeadlinePassed } from '../../db/transaction';
import { GatewayError } from '../../outcome';
import { withTimeout } from '../../with-timeout';

/** How long a change waits for another change of the same extension. */
const CLAIM_WAIT_MS = 30_000;
/** How long an answer waits for its claim's release. */
const RELEASE_WAIT_MS = 250;
/** A claim's lease; its holder renews it every third of that while it works. */
const CLAIM_LEASE_SECONDS = 15;

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** The change's claim was taken over (its lease ran out): what it read may be stale, nothing it sends may stand. */
export class ClaimLost extends GatewayError {
  constructor(number: string) {
    super('db', `the claim on extension ${number} was lost (the database was unreachable longer than its lease); nothing was changed`);
  }
}

/**
 * A committed claim on one extension (CONTRACT section 11): held by one change at a time on every
 * gateway and every database node, until released or its lease runs out.
 */
export interface ExtensionClaim {
  readonly number: string;
  /**
   * In the change's transaction: writes the claim row again, so the transaction fails (no row, or a
   * certification conflict on Galera) when another change has taken the claim over meanwhile.
   */
  fence(connection: Connection): Promise<void>;
}

/**
 * pbx_extensions: one row per extension number the gateway has worked on (CONTRACT section 7).
 * Its claim serialises every change of one extension across gateways and nodes (a committed row,
 * which a Galera cluster certifies, unlike GET_LOCK or a node's row locks), and `in_doubt_since`
 * marks an extension whose two stores may disagree until a gateway repairs it.
 */
export class ExtensionStore {
  /** In this process, changes of one extension queue here, so only one of them asks MySQL for the claim. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Claims of this process whose release has not been seen to land (MySQL slow or unreachable). */
  private readonly unreleased = new Map<string, string>();

  constructor(private readonly pool: Pool) {}

  /**
   * Runs `work` holding the extension's claim: waits (at most CLAIM_WAIT_MS, then error/db) while
   * another change holds it, renews the lease while `work` runs, and releases it afterwards. A
   * holder that dies leaves a claim that others take over when its lease runs out.
   */
  async withClaim<T>(number: string, work: (claim: ExtensionClaim) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const before = this.queues.get(number) ?? Promise.resolve();
    const turn = before.catch(() => undefined).then(() => this.holding(number, work, signal));
    this.queues.set(number, turn);
    try {
      return await turn;
    } finally {
      if (this.queues.get(number) === turn) this.queues.delete(number);
    }
  }

  private async holding<T>(number: string, work: (claim: ExtensionClaim) => Promise<T>, signal?: AbortSignal): Promise<T> {
    // A request whose deadline passed while it waited changes nothing: it is answered already.
    if (signal?.aborted) throw new DeadlinePassed();
    const token = randomUUID();
    await this.take(number, token, signal);
    const renew = setInterval(() => void this.renew(number, token).catch(() => undefined), (CLAIM_LEASE_SECONDS * 1000) / 3);
    renew.unref();
    const claim: ExtensionClaim = {
      number,
      fence: async (connection) => {
        const [result] = await connection.execute<ResultSetHeader>(
          `UPDATE pbx_extensions SET claim_until = CURRENT_TIMESTAMP(3) + INTERVAL ${CLAIM_LEASE_SECONDS} SECOND, claim_seq = claim_seq + 1
           WHERE number = ? AND claim = ?`,
          [number, token],
        );
        if (result.affectedRows === 0) throw new ClaimLost(number);
      },
    };
    try {
      return await work(claim);
    } finally {
      clearInterval(renew);
      // The answer waits for the release only briefly: with MySQL unreachable it would wait for a
      // connection timeout. A release still under way goes on alone; until it lands, this process's
      // next change of the number takes the claim over at once, other gateways when the lease ends.
      this.unreleased.set(number, token);
      await withTimeout(this.release(number, token), RELEASE_WAIT_MS).catch(() => undefined);
    }
  }

  /**
   * Claims the extension with one committed write (the pool runs it again after a conflict); a
   * claim held by another waits its turn. An extension without a row yet gets one first.
   */
  private async take(number: string, token: string, signal?: AbortSignal): Promise<void> {
    const until = Date.now() + CLAIM_WAIT_MS;
    for (let attempt = 0; ; attempt += 1) {
      const taken = await this.pool
        .execute<ResultSetHeader>(
          `UPDATE pbx_extensions SET claim = ?, claim_until = CURRENT_TIMESTAMP(3) + INTERVAL ${CLAIM_LEASE_SECONDS} SECOND, claim_seq = claim_seq + 1
           WHERE number = ? AND (claim IS NULL OR claim_until < CURRENT_TIMESTAMP(3) OR claim = ?)`,
          // A claim of this process not yet released is taken over at once.
          [token, number, this.unreleased.get(number) ?? ''],
        )
        .then(([result]) => result.affectedRows === 1, (error: unknown) => {
          if ((error as { code?: string }).code === 'ER_LOCK_DEADLOCK') return false;
          throw error;
        });
      if (taken) return;
      if (attempt === 0) {
        // Nothing matched: the row may not exist yet (a no-op when it does); then at once again.
        await this.pool.execute('INSERT IGNORE INTO pbx_extensions (number) VALUES (?)', [number]);
        continue;
      }
      if (signal?.aborted) throw new DeadlinePassed();
      if (Date.now() > until) throw new GatewayError('db', `extension ${number} is busy: another change of it did not end within ${CLAIM_WAIT_MS / 1000} s`);
      await pause(randomInt(2, Math.min(100, 5 + 5 * attempt)));
    }
  }

  private async release(number: string, token: string): Promise<void> {
    await this.pool.execute('UPDATE pbx_extensions SET claim = NULL, claim_until = NULL WHERE number = ? AND claim = ?', [number, token]);
    if (this.unreleased.get(number) === token) this.unreleased.delete(number);
  }

  private async renew(number: string, token: string): Promise<void> {
    await this.pool.execute(
      `UPDATE pbx_extensions SET claim_until = CURRENT_TIMESTAMP(3) + INTERVAL ${CLAIM_LEASE_SECONDS} SECOND WHERE number = ? AND claim = ?`,
      [number, token],
    );
  }

  /** Whether the extension is in doubt; call it holding the extension's claim. */
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
