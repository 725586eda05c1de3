import mysql from 'mysql2/promise';
import type { Logger } from '../logger';
import { retryOnConflict } from './errors';
import { FailoverPool } from './failover-pool';
import { ConfigError } from '../config';
import { readMysqlUrl } from './mysql-url';

export type Pool = mysql.Pool;
export type Connection = mysql.PoolConnection;

export interface DatabaseTarget {
  /** Connection options without the database, to create it: the first server of MYSQL_URL. */
  readonly server: mysql.ConnectionOptions;
  /** Every server of MYSQL_URL, the preferred first (several: a Galera cluster, CONTRACT section 11). */
  readonly servers: readonly mysql.ConnectionOptions[];
  readonly database: string;
}

export function parseMysqlUrl(url: string): DatabaseTarget {
  const parsed = readMysqlUrl(url);
  if (parsed === null) {
    throw new ConfigError('MYSQL_URL must be a URL like mysql://user:password@host:3306/database (letters, digits, _ or $ in the name); several hosts for a Galera cluster: host1:3306,host2:3306');
  }
  const servers = parsed.servers.map(({ host, port, user, password }) => ({ host, port, user, password }));
  return { server: servers[0], servers, database: parsed.database };
}

/** Creates the database when it does not exist yet (CONTRACT section 2). */
export async function ensureDatabase(target: DatabaseTarget): Promise<void> {
  // The first server that answers (a node of a cluster may be down at start).
  let connection: mysql.Connection | undefined;
  for (const [index, server] of target.servers.entries()) {
    try {
      connection = await mysql.createConnection({ ...server, connectTimeout: 5000 });
      break;
    } catch (error) {
      if (index === target.servers.length - 1) throw error;
    }
  }
  if (connection === undefined) throw new Error('MYSQL_URL names no server');
  try {
    // Only when it is missing: on Galera even CREATE DATABASE IF NOT EXISTS is DDL replicated in
    // total order, and one arriving while another gateway's migration runs its DDL can wedge a node
    // (MariaDB 10.11 was seen to hang a CREATE VIEW and the applier waiting on each other). The
    // read waits for what the cluster committed first, so a database made through another node is seen.
    await connection.query('SET SESSION wsrep_sync_wait = IF(@@wsrep_on, 1, 0)');
    const [found] = await connection.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [target.database]);
    // The name is checked by parseMysqlUrl; identifiers cannot be bound as parameters.
    if (found.length === 0) await connection.query(`CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } finally {
    await connection.end();
  }
}

export interface PoolLimits {
  /** The longest a query waits for a free connection before it fails (code POOL_ACQUIRE_TIMEOUT, error/db). */
  readonly acquireTimeoutMs?: number;
  /** MariaDB's max_statement_time for the pool's sessions (seconds; 0: none). */
  readonly statementSeconds?: number;
}

/** What a query waiting longer than the acquire timeout fails with. */
export class AcquireTimeout extends Error {
  readonly code = 'POOL_ACQUIRE_TIMEOUT';
  constructor(milliseconds: number) {
    super(`no MySQL connection came free within ${milliseconds} ms`);
  }
}

type ConnectionCallback = (error: Error | null, connection?: { release(): void }) => void;
interface CorePool {
  getConnection(callback: ConnectionCallback): void;
  _freeConnections: { length: number };
  _allConnections: { length: number };
  config: { connectionLimit: number };
}

/**
 * mysql2's pool queues a query for a connection without end; a pool held by slow work would make
 * every request wait until its deadline. Here a query that finds no connection (free or to be made)
 * waits at most `milliseconds`, then fails as a database error; a connection that comes free after
 * that goes back to the pool. The common case (a free connection) takes no timer.
 */
function limitAcquireWait(pool: Pool, milliseconds: number): void {
  const core = pool.pool as unknown as CorePool;
  const acquire = core.getConnection.bind(core);
  core.getConnection = (callback) => {
    if (core._freeConnections.length > 0 || core._allConnections.length < core.config.connectionLimit) {
      acquire(callback);
      return;
    }
    let waiting = true;
    const timer = setTimeout(() => {
      waiting = false;
      callback(new AcquireTimeout(milliseconds));
    }, milliseconds);
    acquire((error, connection) => {
      if (!waiting) {
        connection?.release();
        return;
      }
      waiting = false;
      clearTimeout(timer);
      callback(error, connection);
    });
  };
}

/** A pool on one server of MYSQL_URL. */
export function createServerPool(server: mysql.ConnectionOptions, database: string, size: number, limits: PoolLimits = {}): Pool {
  const pool = mysql.createPool({
    ...server,
    database,
    connectionLimit: size,
    maxIdle: size,
    enableKeepAlive: true,
    connectTimeout: 5000,
    dateStrings: false,
    timezone: 'Z',
    // No call-site stack captured for every query (mysql2's default): it was the largest single
    // cost of a read; errors still carry MySQL's code and message, which is what the log shows.
    trace: false,
  });
  if (limits.acquireTimeoutMs !== undefined) limitAcquireWait(pool, limits.acquireTimeoutMs);
  retryStatementsOnConflict(pool);
  // On a Galera node a read waits until the node has applied what the cluster committed before it,
  // so a read through one gateway sees a write made through another (CONTRACT section 11). Without
  // wsrep (one server) the setting is 0 and costs nothing; MySQL has no such variable (ignored).
  pool.pool.on('connection', (connection) => {
    connection.query('SET SESSION wsrep_sync_wait = IF(@@wsrep_on, 1, 0)', () => undefined);
  });
  const seconds = limits.statementSeconds ?? 0;
  if (seconds > 0) {
    // No statement runs past the limit (a runaway query cannot hold its connection for good);
    // MariaDB only (MySQL has no such variable: the error is ignored there). Queued before any
    // other command on the new connection, so it applies from the first query.
    pool.pool.on('connection', (connection) => {
      connection.query(`SET SESSION max_statement_time = ${Number(seconds)}`, () => undefined);
    });
  }
  return pool;
}

/**
 * Statements the pool runs on a connection of their own (autocommit) run again when they were a
 * deadlock victim or lost a Galera certification (1213): nothing of them was applied.
 */
function retryStatementsOnConflict(pool: Pool): void {
  const execute = pool.execute.bind(pool);
  const query = pool.query.bind(pool);
  pool.execute = ((...args: Parameters<Pool['execute']>) => retryOnConflict(() => execute(...args))) as Pool['execute'];
  pool.query = ((...args: Parameters<Pool['query']>) => retryOnConflict(() => query(...args))) as Pool['query'];
}

/**
 * The gateway's pool: on one server, that server's pool; on several (a Galera cluster), the pool of
 * the node in use, which changes when that node dies or leaves the Synced state (FailoverPool).
 */
export function createPool(target: DatabaseTarget, size: number, limits: PoolLimits = {}, logger?: Logger): Pool {
  if (target.servers.length === 1) return createServerPool(target.server, target.database, size, limits);
  return new FailoverPool(target.servers, (server) => createServerPool(server, target.database, size, limits), logger).pool;
}
