import mysql from 'mysql2/promise';
import { ConfigError } from '../../src/config';
import { createLogger } from '../../src/logger';
import { start } from '../../src/start';
import { migrations } from '../../src/db/migrations';
import { MYSQL_SERVER, testConfig } from '../helpers/gateway';
import { Writable } from 'node:stream';

const quiet = createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));

describe('start-up', () => {
  it('creates the database, migrates it, merges LOCAL_DOMAINS and listens', async () => {
    const config = testConfig({ localDomains: ['pbx.local', 'voice.example'] });
    const running = await start(config, quiet, 'test');
    try {
      const response = await fetch(`${running.url}/api/domains/list`);
      const body = (await response.json()) as { domains: { domain: string; local: boolean }[] };
      expect(body.domains.filter((domain) => domain.local).map((domain) => domain.domain)).toEqual(['pbx.local', 'voice.example']);
      const [migrations] = await running.container.pool.query('SELECT name FROM schema_migrations');
      expect((migrations as unknown[]).length).toBeGreaterThan(0);
    } finally {
      await running.stop();
      const connection = await mysql.createConnection(MYSQL_SERVER);
      await connection.query(`DROP DATABASE IF EXISTS \`${new URL(config.mysqlUrl).pathname.slice(1)}\``);
      await connection.end();
    }
  });

  it('migrates twice without harm (a second start finds nothing to do)', async () => {
    const config = testConfig();
    const first = await start(config, quiet, 'test');
    await first.stop();
    const second = await start(config, quiet, 'test');
    try {
      const [rows] = await second.container.pool.query('SELECT COUNT(*) AS count FROM schema_migrations');
      expect((rows as { count: number }[])[0].count).toBe(migrations.length);
    } finally {
      await second.stop();
      const connection = await mysql.createConnection(MYSQL_SERVER);
      await connection.query(`DROP DATABASE IF EXISTS \`${new URL(config.mysqlUrl).pathname.slice(1)}\``);
      await connection.end();
    }
  });

  it('stops with one line naming MYSQL_URL when the database cannot be reached', async () => {
    const config = testConfig({ mysqlUrl: 'mysql://root@127.0.0.1:1/pbxgw_unreachable' });
    const failure = await start(config, quiet, 'test').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toMatch(/^MYSQL_URL: cannot use the database at 127\.0\.0\.1:1 /);
    expect((failure as Error).message).not.toContain('\n');
  });

  it('stops with one line naming MYSQL_URL when the credentials are wrong', async () => {
    const config = testConfig({ mysqlUrl: 'mysql://nobody:wrong@127.0.0.1:3306/pbxgw_denied' });
    const failure = await start(config, quiet, 'test').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ConfigError);
    expect((failure as Error).message).toMatch(/^MYSQL_URL: /);
    expect((failure as Error).message).not.toContain('wrong');
  });
});
