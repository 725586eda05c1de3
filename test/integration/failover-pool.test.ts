import { createPool, parseMysqlUrl, type Pool } from '../../src/db/pool';
import { failoverOf } from '../../src/db/failover-pool';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { MYSQL_SERVER } from '../helpers/gateway';

// Several hosts in MYSQL_URL (CONTRACT section 11): two "nodes" here are two ways to the one
// MariaDB server, the first through a TCP proxy that can be cut as if that node died.
describe('a pool over several MySQL servers', () => {
  const server = new URL(MYSQL_SERVER);
  let proxy: TcpProxy;
  let pool: Pool;

  beforeAll(async () => {
    proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port || 3306) });
    const url = `mysql://root@${proxy.host}:${proxy.port},${server.hostname}:${server.port || 3306}/mysql`;
    pool = createPool(parseMysqlUrl(url), 2);
  });
  afterAll(async () => {
    await pool.end();
    await proxy.close();
  });

  const connectedPort = async () => {
    const [rows] = await pool.query('SELECT 1 AS one');
    expect(rows).toEqual([{ one: 1 }]);
    return failoverOf(pool)?.describe().server;
  };

  it('works on the first server while it answers, moves to the next when it dies, and names the node', async () => {
    expect(await connectedPort()).toBe(`${proxy.host}:${proxy.port}`);
    const started = Date.now();
    await proxy.cut('refuse');
    // Within a look or two every query goes to the second server.
    let moved = false;
    while (!moved && Date.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      moved = failoverOf(pool)?.describe().server === `${server.hostname}:${server.port || 3306}`;
    }
    expect(moved).toBe(true);
    expect(Date.now() - started).toBeLessThan(3500);
    expect(await connectedPort()).toBe(`${server.hostname}:${server.port || 3306}`);
    // It stays there when the first comes back (no flapping).
    await proxy.restore();
    await failoverOf(pool)?.lookNow();
    expect(await connectedPort()).toBe(`${server.hostname}:${server.port || 3306}`);
  });

  it('gives every session the read-your-writes setting (wsrep_sync_wait; off without Galera)', async () => {
    const connection = await pool.getConnection();
    try {
      await connection.beginTransaction();
      const [rows] = await connection.query('SELECT @@wsrep_sync_wait AS wait');
      // One server without Galera: the read-your-writes wait is off (it costs nothing there).
      expect(rows).toEqual([{ wait: 0 }]);
      await connection.commit();
    } finally {
      connection.release();
    }
  });
});
