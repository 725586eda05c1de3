import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { createPool, parseMysqlUrl } from '../../src/db/pool';
import { startTestGateway, testConfig, type TestGateway } from '../helpers/gateway';

// Issue 9, finding 2: one client must not monopolise the MySQL pool. Long work (add_range, whole
// lists, sync) runs on a bounded share of it, a query waits for a connection a bounded time, and a
// statement runs a bounded time. The figures under load are in `npm run bench`; these tests pin the
// behaviour (before the fix: user/get took 25–32 s, then error/internal).

let gateway: TestGateway;
let server: http.Server;
let port: number;

beforeAll(async () => {
  gateway = await startTestGateway({ mysqlPoolSize: 10, requestTimeoutMs: 5000 });
  server = http.createServer(gateway.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  expect((await gateway.get('user/add_remote', { user: 'probe@remote.example', password: 'Probe-pass-1', displayname: 'Probe', registrar: 'sip.remote.example' })).body.response).toBe('ok');
  expect((await gateway.get('numbers/add_range', { start: '+4780000000', end: '+4780999999' })).body.response).toBe('ok');
}, 60_000);

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await gateway.close();
});

function get(path: string): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, ms: performance.now() - started }));
      })
      .on('error', reject);
  });
}

/** Times user/get every 20 ms while `load` runs; returns the latencies and answers. */
async function userGetsDuring(load: Promise<unknown>): Promise<{ ms: number[]; oks: number; total: number }> {
  let done = false;
  void load.finally(() => (done = true));
  const ms: number[] = [];
  let oks = 0;
  while (!done) {
    const answer = await get('/api/user/get?user=probe@remote.example');
    ms.push(answer.ms);
    if (JSON.parse(answer.body).response === 'ok') oks += 1;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { ms, oks, total: ms.length };
}

it('keeps user/get fast and ok while 20 clients re-add a 1,000,000-number range over and over', async () => {
  const worker = async () => {
    for (let round = 0; round < 2; round += 1) await get('/api/numbers/add_range?start=%2B4780000000&end=%2B4780999999');
  };
  const { ms, oks, total } = await userGetsDuring(Promise.all(Array.from({ length: 20 }, worker)));
  expect(total).toBeGreaterThan(10);
  expect(oks).toBe(total);
  expect(Math.max(...ms)).toBeLessThan(1000);
}, 120_000);

it('keeps user/get fast and ok while 20 clients ask for the whole pool of 1,000,000 numbers and stop reading', async () => {
  // Clients that read nothing hold their stream (and, before the fix, a MySQL connection each)
  // until the stall limit (REQUEST_TIMEOUT_MS, 5 s here): before the fix ten of them took the whole
  // pool and user/get waited seconds. Now two streams run at once and the rest wait their turn.
  const sockets = Array.from({ length: 20 }, () => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /api/numbers/list HTTP/1.1\r\nHost: localhost\r\n\r\n'));
    socket.on('error', () => undefined);
    socket.pause();
    return socket;
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const { ms, oks, total } = await userGetsDuring(new Promise((resolve) => setTimeout(resolve, 3000)));
    // Before the fix a user/get waited seconds (caught by the bound on the slowest below); how many
    // fit in 3 s depends on what else the machine runs (16 in one full CI run here), so this only asks for several.
    expect(total).toBeGreaterThan(5);
    expect(oks).toBe(total);
    expect(Math.max(...ms)).toBeLessThan(1000);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
}, 60_000);

describe('the pool', () => {
  it('answers a query that finds no free connection within the acquire timeout with a database error, and recovers', async () => {
    const pool = createPool(parseMysqlUrl(gateway.config.mysqlUrl), 2, { acquireTimeoutMs: 300 });
    try {
      const held = [await pool.getConnection(), await pool.getConnection()];
      const started = performance.now();
      await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: 'POOL_ACQUIRE_TIMEOUT' });
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(290);
      expect(waited).toBeLessThan(2000);
      for (const connection of held) connection.release();
      const [rows] = await pool.query('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });

  it('ends a statement that runs past the statement time limit', async () => {
    const pool = createPool(parseMysqlUrl(testConfig().mysqlUrl.replace(/\/[^/]+$/, '/mysql')), 1, { statementSeconds: 1 });
    try {
      const started = performance.now();
      await expect(pool.query('SELECT SLEEP(5) AS slept')).rejects.toMatchObject({ errno: 1969 });
      expect(performance.now() - started).toBeLessThan(3000);
      // The connection stays usable.
      const [rows] = await pool.query('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
