import { randomInt } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { Failed, GatewayError, Invalid } from '../outcome';
import type { ChangeScope } from './change-scope';
import { isConflict, isDatabaseError } from './errors';
import { failoverOf, nodePool } from './failover-pool';
import type { Connection, Pool } from './pool';

export interface TransactionOptions {
  /** The request's change scope: its audit record is written in this transaction (the commit marker). */
  readonly audit?: ChangeScope;
  /**
   * Whether the work may run again, whole, when InnoDB (or a Galera certification) picks it as a
   * deadlock victim or its lock wait runs out (1205): true for work that touches MySQL only; false
   * for work that called the PBX.
   */
  readonly repeatable?: boolean;
}

/** The outcome of a change could not be learnt from MySQL in time (CONTRACT section 7: error/db, outcome unknown). */
export class CommitUnknown extends GatewayError {
  constructor(origin: unknown) {
    super('db', 'the database stopped answering while the change was being committed; its outcome is unknown', origin);
  }
}

/** The connection (or its node) was lost before the change committed: before COMMIT was sent, or during a COMMIT found rolled back. Nothing was committed. */
export class LostBeforeCommit extends GatewayError {
  constructor(origin: unknown, detail = 'the connection to the database was lost before the change was committed; nothing was changed') {
    super('db', detail, origin);
  }
}

/** The request passed its deadline before its change began to commit: nothing was committed. */
export class DeadlinePassed extends GatewayError {
  constructor() {
    super('internal', 'the request passed its deadline before its change was committed; nothing was changed');
  }
}

const CONFLICT_ATTEMPTS = 5;
/** How long a lost COMMIT answer may take to settle on fresh connections before the outcome is unknown. */
const SETTLE_MS = 8000;
/** How long a killed session may take to go away (InnoDB rolls its transaction back first). */
const SESSION_GONE_MS = 5000;

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** An answer from the server (it got the statement and refused it) rather than a lost connection. */
function isServerAnswer(error: unknown): boolean {
  const { sqlState, fatal } = (error ?? {}) as { sqlState?: unknown; fatal?: unknown };
  return typeof sqlState === 'string' && fatal !== true;
}

/**
 * Runs `work` in one transaction: committed when it returns, rolled back when it throws. When
 * `repeatable` (the default) it runs again whole, at most CONFLICT_ATTEMPTS times in all, after a
 * deadlock victim (1213) or a lock wait that ran out (1205), and, on a cluster, after its node was
 * lost before the change committed. When the answer to COMMIT is lost, the outcome is settled on a
 * fresh connection before anything is answered (settleCommit): the result is returned when the
 * change committed, and CommitUnknown thrown when MySQL cannot tell.
 */
export async function withTransaction<T>(pool: Pool, work: (connection: Connection) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const repeatable = options.repeatable ?? true;
  for (let attempt = 1; ; attempt += 1) {
    // The node in use now (on a cluster): the attempt, and its session's KILLs, stay on it.
    const node = nodePool(pool);
    try {
      return await attemptTransaction(pool, node, work, options.audit);
    } catch (error) {
      if (!repeatable || attempt === CONFLICT_ATTEMPTS) throw error;
      if (isConflict(error)) {
        // A short random pause, so the victims do not meet again in the same order.
        await pause(randomInt(5, 20 * attempt));
      } else if (!(error instanceof LostBeforeCommit && (await failoverOf(pool)?.movedFrom(node)))) {
        // On a cluster, work whose node was lost before it committed runs again on the next node.
        throw error;
      }
    }
  }
}

async function attemptTransaction<T>(pool: Pool, node: Pool, work: (connection: Connection) => Promise<T>, scope: ChangeScope | undefined): Promise<T> {
  if (scope?.signal?.aborted) throw new DeadlinePassed();
  let connection: Connection;
  try {
    connection = await node.getConnection();
  } catch (error) {
    // No session was had: nothing was done (a refused or timed-out connection, a dead node). A pool
    // that is only busy (POOL_ACQUIRE_TIMEOUT) says so in its own words (envelope.ts).
    const code = String((error as { code?: unknown } | null)?.code ?? '');
    throw isDatabaseError(error) && !isServerAnswer(error) && !code.startsWith('POOL_') ? new LostBeforeCommit(error) : error;
  }
  const threadId = connection.threadId;
  // At the deadline a statement still running is stopped (KILL QUERY on another connection), so a
  // long add_range ends with its request instead of committing after the answer.
  const stopStatement = () => void node.query(`KILL QUERY ${Number(threadId)}`).catch(() => undefined);
  scope?.signal?.addEventListener('abort', stopStatement);
  let committing = false;
  let result: T | undefined;
  try {
    await connection.beginTransaction();
    result = await work(connection);
    const auditing = scope !== undefined && !scope.recorded;
    if (auditing) await scope.write(connection);
    // No await between this check and `committing`: the deadline either stops the change here or
    // finds it committing and waits for its outcome (registry.ts, withDeadline).
    if (scope?.signal?.aborted) throw new DeadlinePassed();
    scope?.signal?.removeEventListener('abort', stopStatement);
    committing = true;
    if (scope) scope.committing = true;
    await connection.commit();
    if (auditing) scope.recorded = true;
    connection.release();
    return result;
  } catch (error) {
    scope?.signal?.removeEventListener('abort', stopStatement);
    if (committing && !isServerAnswer(error)) {
      // COMMIT was sent and its answer lost: it may have committed. Never guess (CONTRACT section 7).
      connection.destroy();
      const outcome = await settleCommit(node, threadId, scope?.recorded === false ? scope.requestId : null, pool);
      if (outcome === 'committed') {
        if (scope) scope.recorded = true;
        return result as T;
      }
      if (outcome === 'unknown') throw new CommitUnknown(error);
      throw new LostBeforeCommit(error, 'the connection to the database was lost during the commit, which was rolled back; nothing was changed');
    }
    try {
      await connection.rollback();
      connection.release();
    } catch {
      // The session is gone with its transaction (never committed: COMMIT was not sent). Make
      // sure the server drops it now rather than when it notices, so its locks go with it.
      connection.destroy();
      void endSession(node, threadId).catch(() => undefined);
      if (!(error instanceof Invalid || error instanceof Failed || error instanceof GatewayError)) throw new LostBeforeCommit(error);
    }
    throw error;
  }
}

/**
 * Ends a server session (KILL CONNECTION; none: already gone) and waits until it has gone, so
 * that its transaction is final: committed, or rolled back and its locks released.
 */
export async function endSession(pool: Pool, threadId: number): Promise<void> {
  const connection = await pool.getConnection();
  try {
    await connection.query(`KILL CONNECTION ${Number(threadId)}`).catch((error: { errno?: number }) => {
      if (error.errno !== 1094) throw error; // ER_NO_SUCH_THREAD: gone already
    });
    const until = Date.now() + SESSION_GONE_MS;
    for (;;) {
      const [rows] = await connection.query<RowDataPacket[]>('SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?', [threadId]);
      if (rows.length === 0) return;
      if (Date.now() > until) throw new Error(`session ${threadId} did not end in time`);
      await pause(20);
    }
  } finally {
    connection.release();
  }
}

/**
 * Learns on fresh connections whether the transaction of session `threadId` (on `pool`, its node), whose COMMIT answer
 * was lost, committed: the session is ended first (its COMMIT is then either done or undone),
 * then the change's commit marker, the audit record under `requestId`, is looked for. Without a
 * marker, or when MySQL does not answer within SETTLE_MS, the outcome is unknown.
 */
export async function settleCommit(
  pool: Pool,
  threadId: number,
  requestId: string | null,
  cluster: Pool = pool,
): Promise<'committed' | 'rolled-back' | 'unknown'> {
  if (requestId === null) return 'unknown';
  const until = Date.now() + SETTLE_MS;
  while (Date.now() < until) {
    try {
      await endSession(pool, threadId);
      const [rows] = await pool.query<RowDataPacket[]>('SELECT 1 FROM audit_log WHERE request_id = ?', [requestId]);
      return rows.length > 0 ? 'committed' : 'rolled-back';
    } catch {
      // The session's node cannot be asked (on a cluster: it died). A marker on the node now in use
      // proves the commit. Its absence is final only once the cluster has left that node out: until
      // then its last write sets may still be arriving.
      const failover = failoverOf(cluster);
      const origin = failover?.serverOf(pool);
      if (failover && origin) {
        const left = await failover.hasLeft(origin);
        const found = await cluster
          .query<RowDataPacket[]>('SELECT 1 FROM audit_log WHERE request_id = ?', [requestId])
          .then(([rows]) => rows.length > 0, () => null);
        if (found === true) return 'committed';
        if (found === false && left) return 'rolled-back';
      }
      await pause(200);
    }
  }
  return 'unknown';
}
