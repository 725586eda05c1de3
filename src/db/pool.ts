import mysql from 'mysql2/promise';
import { ConfigError } from '../config';

export type Pool = mysql.Pool;
export type Connection = mysql.PoolConnection;

export interface DatabaseTarget {
  /** Connection options without the database, to create it. */
  readonly server: mysql.ConnectionOptions;
  readonly database: string;
}

export function parseMysqlUrl(url: string): DatabaseTarget {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_$]{1,64}$/.test(database)) {
    throw new ConfigError('MYSQL_URL must name a database (letters, digits, _ or $), e.g. mysql://root@127.0.0.1:3306/pbxgw');
  }
  return {
    server: {
      host: parsed.hostname,
      port: parsed.port ? Number(parsed.port) : 3306,
      user: decodeURIComponent(parsed.username) || 'root',
      password: decodeURIComponent(parsed.password),
    },
    database,
  };
}

/** Creates the database when it does not exist yet (CONTRACT section 2). */
export async function ensureDatabase(target: DatabaseTarget): Promise<void> {
  const connection = await mysql.createConnection({ ...target.server, connectTimeout: 5000 });
  try {
    // The name is checked by parseMysqlUrl; identifiers cannot be bound as parameters.
    await connection.query(`CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
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

export function createPool(target: DatabaseTarget, size: number, limits: PoolLimits = {}): Pool {
  const pool = mysql.createPool({
    ...target.server,
    database: target.database,
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
