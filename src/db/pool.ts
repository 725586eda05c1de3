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
