import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import { validateConfig, type Config, type PbxConfig } from '../../src/config';
import type { Container } from '../../src/container';
import { createLogger } from '../../src/logger';
import { appDeps, prepare, withSimulator } from '../../src/start';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';

export const MYSQL_SERVER = process.env.TEST_MYSQL_SERVER ?? 'mysql://root@127.0.0.1:3306';

/**
 * One secrets key for every test gateway and test file, made (mode 0600, race-safe) by the first
 * start that finds it missing: the test databases are throwaway, so they may share one key.
 */
export const TEST_KEY_FILE = path.join(os.tmpdir(), `pbxgw-test-secrets-${process.getuid?.() ?? 'user'}`, 'secrets.key');

/** What a test may set: any setting, and any part of the PBX settings. */
export type TestOverrides = Partial<Omit<Config, 'pbx'>> & { pbx?: Partial<PbxConfig> };

/** A configuration for tests: built here, never read from process.env or config/. */
export function testConfig(overrides: TestOverrides = {}): Config {
  const database = `pbxgw_test_${randomBytes(6).toString('hex')}`;
  return validateConfig({
    host: '127.0.0.1',
    port: 0,
    mysqlUrl: `${MYSQL_SERVER}/${database}`,
    mysqlPoolSize: 10,
    localDomains: ['pbx.local'],
    logLevel: 'debug',
    numbersMaxRange: 1_000_000,
    authDisabled: true,
    rateLimitPerMinute: 0,
    apiTokens: [],
    secretsKeyFile: TEST_KEY_FILE,
    // A start without API_TOKENS writes its token here, never into the checkout's secrets/.
    startTokenFile: path.join(path.dirname(TEST_KEY_FILE), 'start-token'),
    ...overrides,
    pbx: { url: '', apiKey: '', username: '', password: '', timeoutMs: 2000, ...overrides.pbx },
  });
}

export interface TestGateway {
  readonly app: Express;
  /** The built-in Simotel simulator this gateway talks to over HTTP. */
  readonly pbx: PbxSimulator;
  readonly container: Container;
  readonly config: Config;
  /** Every line the gateway logged, as written. */
  readonly logs: string[];
  /** GET /api/<node> with query parameters; resolves to the supertest response. */
  get(node: string, params?: Record<string, string | number | boolean>): request.Test;
  /** POST /api/<node> with a JSON body. */
  post(node: string, body: unknown): request.Test;
  /** Runs SQL against the test database (for assertions on what is stored). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** A gateway on its own, freshly migrated database; close() drops the database. */
export async function startTestGateway(overrides: TestOverrides = {}): Promise<TestGateway> {
  const pbx = await startPbxSimulator();
  const config = withSimulator(testConfig(overrides), pbx);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const container = await prepare(config, logger);
  const app = createApp(appDeps(container, 'test'));
  const database = new URL(config.mysqlUrl).pathname.slice(1);
  return {
    app,
    pbx,
    container,
    config,
    logs,
    get: (node, params = {}) => request(app).get(`/api/${node}`).query(params),
    post: (node, body) => request(app).post(`/api/${node}`).send(body as object),
    async query<T>(sql: string, params: unknown[] = []) {
      const [rows] = await container.pool.query(sql, params);
      return rows as T[];
    },
    async close() {
      await container.close();
      await pbx.close();
      const connection = await mysql.createConnection(MYSQL_SERVER);
      await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await connection.end();
    },
  };
}
