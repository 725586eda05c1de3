import mysql from 'mysql2/promise';
import { ConfigError } from '../config';
import { GatewayError } from '../outcome';
import type { AuditScope } from './audit-scope';

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

export function createPool(target: DatabaseTarget, size: number): Pool {
  return mysql.createPool({
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
}

const LOCK_WAIT_SECONDS = 30;

export interface TransactionOptions {
  /** A MySQL named lock held around the whole transaction. */
  readonly lockName?: string;
  /** The request's audit record, written in this transaction unless an earlier one did. */
  readonly audit?: AuditScope;
}

/**
 * Runs `work` in one transaction: committed when it returns, rolled back when it throws.
 * With `lockName`, a MySQL named lock is held around the whole transaction (taken before it
 * begins, released after it ends), so work on one thing queues up across every gateway process.
 * The name is prefixed with the database's, so gateways on other databases never wait on it.
 */
export async function withTransaction<T>(pool: Pool, work: (connection: Connection) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const { lockName, audit } = options;
  const connection = await pool.getConnection();
  let locked = false;
  try {
    if (lockName !== undefined) {
      const [rows] = await connection.query('SELECT GET_LOCK(LEFT(CONCAT(DATABASE(), ?, ?), 64), ?) AS got', [':', lockName, LOCK_WAIT_SECONDS]);
      if ((rows as { got: number | null }[])[0].got !== 1) throw new GatewayError('db', 'the database lock for this change was not granted in time');
      locked = true;
    }
    await connection.beginTransaction();
    const result = await work(connection);
    // The request's audit record commits with its change (CONTRACT: same transaction).
    const auditing = audit !== undefined && !audit.recorded;
    if (auditing) await audit.write(connection);
    await connection.commit();
    if (auditing) audit.recorded = true;
    return result;
  } catch (error) {
    await connection.rollback().catch(() => undefined);
    throw error;
  } finally {
    if (locked) await connection.query('SELECT RELEASE_LOCK(LEFT(CONCAT(DATABASE(), ?, ?), 64))', [':', lockName]).catch(() => undefined);
    connection.release();
  }
}
