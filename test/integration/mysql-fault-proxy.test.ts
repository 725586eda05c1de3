import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { MYSQL_SERVER } from '../helpers/gateway';
import { startMysqlFaultProxy, type MysqlFaultProxy } from '../helpers/mysql-fault-proxy';

// The fault proxy against the real server: each fault must land on exactly the statement it names,
// and the server's side of the story (committed or not) is checked over a direct connection.

const database = `pbxgw_test_${randomBytes(6).toString('hex')}`;
let direct: mysql.Connection;
let proxy: MysqlFaultProxy;
let nextId = 0;
const opened: mysql.Connection[] = [];

beforeAll(async () => {
  direct = await mysql.createConnection(MYSQL_SERVER);
  await direct.query(`CREATE DATABASE \`${database}\``);
  await direct.query(`CREATE TABLE \`${database}\`.rows_seen (id INT PRIMARY KEY, note VARCHAR(100) NOT NULL) ENGINE=InnoDB`);
  proxy = await startMysqlFaultProxy(MYSQL_SERVER);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((connection) => connection.end().catch(() => undefined)));
  await waitForOpen(0);
});

afterAll(async () => {
  await proxy?.close();
  await direct?.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await direct?.end();
});

/** A connection through the proxy; a lost connection while idle is expected here, not a crash. */
async function connect(): Promise<mysql.Connection> {
  const connection = await mysql.createConnection(proxy.url(database));
  connection.on('error', () => undefined);
  opened.push(connection);
  return connection;
}

function uniqueId(): number {
  nextId += 1;
  return nextId;
}

/** What a promise rejected with (fails the test if it resolved). */
async function failure(promise: Promise<unknown>): Promise<NodeJS.ErrnoException> {
  return promise.then(
    () => {
      throw new Error('expected a failure, it succeeded');
    },
    (error: NodeJS.ErrnoException) => error,
  );
}

async function stored(id: number): Promise<string[]> {
  const [rows] = await direct.query<mysql.RowDataPacket[]>(`SELECT note FROM \`${database}\`.rows_seen WHERE id = ?`, [id]);
  return rows.map((row) => String(row.note));
}

/** Waits until the server has dropped its side of a connection (and so rolled back what was open). */
async function serverForgets(threadId: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const [rows] = await direct.query<mysql.RowDataPacket[]>('SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = ?', [threadId]);
    if (rows.length === 0) return;
    if (Date.now() > deadline) throw new Error(`the server still has thread ${threadId}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitForOpen(count: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (proxy.open !== count) {
    if (Date.now() > deadline) throw new Error(`${proxy.open} connections open through the proxy, expected ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test("'after-send' on COMMIT: commit() fails with a lost connection, yet the row is committed", async () => {
  const connection = await connect();
  const id = uniqueId();
  const fault = proxy.arm({ match: /^COMMIT\b/i, action: 'after-send' });
  await connection.beginTransaction();
  await connection.query('INSERT INTO rows_seen (id, note) VALUES (?, ?)', [id, 'committed, unheard']);
  expect(fault.hasFired).toBe(false); // START TRANSACTION and the INSERT went by
  expect(await stored(id)).toEqual([]); // not committed yet

  const error = await failure(connection.commit());

  expect(error.code).toBe('PROTOCOL_CONNECTION_LOST');
  expect(fault.hasFired).toBe(true);
  expect(await fault.fired).toEqual({ command: 'query', sql: 'COMMIT', threadId: connection.threadId });
  expect(await stored(id)).toEqual(['committed, unheard']);
  await waitForOpen(0);
});

test("'before-send' on COMMIT: commit() fails and the server, never having seen it, rolls back", async () => {
  const connection = await connect();
  const id = uniqueId();
  const fault = proxy.arm({ match: /^COMMIT\b/i, action: 'before-send' });
  await connection.beginTransaction();
  await connection.query('INSERT INTO rows_seen (id, note) VALUES (?, ?)', [id, 'never committed']);

  const error = await failure(connection.commit());

  expect(error.code).toBe('PROTOCOL_CONNECTION_LOST');
  const hit = await fault.fired;
  expect(hit.threadId).toBe(connection.threadId);
  await serverForgets(connection.threadId);
  expect(await stored(id)).toEqual([]);
});

test("'after-send' on a prepared INSERT (execute(), autocommit): the client fails, the row exists", async () => {
  // On a fresh connection execute() sends COM_STMT_PREPARE then COM_STMT_EXECUTE: the rule
  // ignores the prepare by default and fires on the execution.
  const fresh = await connect();
  const first = uniqueId();
  const onFirst = proxy.arm({ match: /^INSERT INTO rows_seen\b/, action: 'after-send' });
  const error = await failure(fresh.execute('INSERT INTO rows_seen (id, note) VALUES (?, ?)', [first, 'prepared, unheard']));
  expect(error.code).toBe('PROTOCOL_CONNECTION_LOST');
  expect((await onFirst.fired).command).toBe('execute');
  expect(await stored(first)).toEqual(['prepared, unheard']);

  // A statement mysql2 has cached on the connection is executed by id alone, with no SQL sent:
  // the proxy knows it from the prepare's answer.
  const cached = await connect();
  const [second, third] = [uniqueId(), uniqueId()];
  await cached.execute('INSERT INTO rows_seen (id, note) VALUES (?, ?)', [second, 'prepared here']);
  // In between, a result of 2500 rows (packets by the thousand, sequence ids wrapping past 255):
  // the proxy must still be in step with the server's packets afterwards.
  const [many] = await cached.query<mysql.RowDataPacket[]>(
    'WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) SELECT a.i FROM n AS a CROSS JOIN n AS b',
  );
  expect(many).toHaveLength(2500);
  await cached.execute('SELECT note FROM rows_seen WHERE id = ?', [second]);
  const onCached = proxy.arm({ match: /^INSERT INTO rows_seen\b/, action: 'after-send' });
  expect(await failure(cached.execute('INSERT INTO rows_seen (id, note) VALUES (?, ?)', [third, 'cached, unheard']))).toMatchObject({
    code: 'PROTOCOL_CONNECTION_LOST',
  });
  expect(await onCached.fired).toMatchObject({ command: 'execute', sql: 'INSERT INTO rows_seen (id, note) VALUES (?, ?)' });
  expect(await stored(third)).toEqual(['cached, unheard']);
});

test("a rule for 'prepare' cuts execute() before its statement exists", async () => {
  const connection = await connect();
  const id = uniqueId();
  const fault = proxy.arm({ match: /^INSERT INTO rows_seen\b/, action: 'before-send', commands: ['prepare'] });
  const error = await failure(connection.execute('INSERT INTO rows_seen (id, note) VALUES (?, ?)', [id, 'never prepared']));
  expect(error.code).toBe('PROTOCOL_CONNECTION_LOST');
  expect((await fault.fired).command).toBe('prepare');
  expect(await stored(id)).toEqual([]);
});

test("'delay-answer' holds the answer back, then delivers it intact", async () => {
  const connection = await connect();
  const fault = proxy.arm({ match: /^SELECT 1$/, action: 'delay-answer', delayMs: 300 });
  const started = performance.now();
  const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT 1');
  const elapsed = performance.now() - started;

  expect(fault.hasFired).toBe(true);
  expect(elapsed).toBeGreaterThanOrEqual(250);
  expect(rows).toEqual([{ 1: 1 }]);
  // Only that answer: the next one comes at once.
  const next = performance.now();
  const [again] = await connection.query<mysql.RowDataPacket[]>('SELECT 1');
  expect(again).toEqual([{ 1: 1 }]);
  expect(performance.now() - next).toBeLessThan(250);
});

test("'after-send' with afterMs cuts while the statement still runs on the server", async () => {
  const connection = await connect();
  const fault = proxy.arm({ match: /SLEEP/, action: 'after-send', afterMs: 100 });
  const started = performance.now();
  const error = await failure(connection.query('SELECT SLEEP(2) AS slept'));
  const elapsed = performance.now() - started;
  expect(error.code).toBe('PROTOCOL_CONNECTION_LOST');
  expect(elapsed).toBeGreaterThanOrEqual(90);
  expect(elapsed).toBeLessThan(1500);
  // The server got it and is still at it (a closed socket does not stop a running statement).
  const { threadId } = await fault.fired;
  const [running] = await direct.query<mysql.RowDataPacket[]>('SELECT INFO FROM information_schema.PROCESSLIST WHERE ID = ?', [threadId]);
  expect(running).toEqual([{ INFO: 'SELECT SLEEP(2) AS slept' }]);
  await direct.query('KILL ?', [threadId]);
});

test('a statement split over many TCP chunks is read whole', async () => {
  const connection = await connect();
  // About 2 MB of SQL, matched on its very end: the proxy must have joined every chunk.
  const filler = 'x'.repeat(2_000_000);
  const fault = proxy.arm({ match: /'tail-marker' AS tail$/, action: 'before-send' });
  const [rows] = await connection.query<mysql.RowDataPacket[]>(`SELECT LENGTH('${filler}') AS size`);
  expect(rows).toEqual([{ size: 2_000_000 }]);
  expect(fault.hasFired).toBe(false);
  const error = await failure(connection.query(`SELECT LENGTH('${filler}') AS size, 'tail-marker' AS tail`));
  expect(error.code).toBe('PROTOCOL_CONNECTION_LOST');
  expect(fault.hasFired).toBe(true);
});

test('a rule that matches nothing leaves traffic alone; cutAll() drops open connections only', async () => {
  const idle = proxy.arm({ match: /^NO STATEMENT LOOKS LIKE THIS/, action: 'before-send' });
  const connection = await connect();
  for (let i = 0; i < 30; i += 1) {
    const id = uniqueId();
    await connection.beginTransaction();
    await connection.execute('INSERT INTO rows_seen (id, note) VALUES (?, ?)', [id, `pass ${i}`]);
    await connection.commit();
    const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT note FROM rows_seen WHERE id = ?', [id]);
    expect(rows).toEqual([{ note: `pass ${i}` }]);
  }
  expect(idle.hasFired).toBe(false);
  idle.disarm();

  const other = await connect();
  const otherHearsOfIt = new Promise<NodeJS.ErrnoException>((resolve) => other.once('error', resolve));
  expect(proxy.open).toBe(2);
  proxy.cutAll();
  expect(proxy.open).toBe(0);
  // A query sent before mysql2 has read the close fails as the lost connection itself...
  expect((await failure(connection.query('SELECT 1'))).code).toBe('PROTOCOL_CONNECTION_LOST');
  // ...an idle connection hears of it as an 'error' event, and refuses queries afterwards.
  expect((await otherHearsOfIt).code).toBe('PROTOCOL_CONNECTION_LOST');
  expect((await failure(other.query('SELECT 1'))).message).toMatch(/closed state/);

  const fresh = await connect();
  const [rows] = await fresh.query<mysql.RowDataPacket[]>('SELECT 1 AS one');
  expect(rows).toEqual([{ one: 1 }]);
});

test('a pool drops a connection the proxy cut and opens a new one', async () => {
  const pool = mysql.createPool({ uri: proxy.url(database), connectionLimit: 1 });
  const connectionId = async () => {
    const [rows] = await pool.query<mysql.RowDataPacket[]>('SELECT CONNECTION_ID() AS id');
    return Number(rows[0].id);
  };
  try {
    const first = await connectionId();

    // Cut during a query: that query fails, and the pool has dropped the connection.
    const fault = proxy.arm({ match: /^SELECT 'doomed'/, action: 'after-send' });
    expect((await failure(pool.query("SELECT 'doomed'"))).code).toBe('PROTOCOL_CONNECTION_LOST');
    expect(fault.hasFired).toBe(true);
    const second = await connectionId();
    expect(second).not.toBe(first);

    // Cut while idle in the pool: a query sent at once still gets the dead connection and fails
    // (the pool does not check a connection before handing it out); the one after gets a new one.
    proxy.cutAll();
    expect((await failure(pool.query('SELECT 1'))).code).toBe('PROTOCOL_CONNECTION_LOST');
    const third = await connectionId();
    expect(third).not.toBe(second);

    // Cut while idle, and noticed ('error' event) before the next query: nothing fails.
    const held = await pool.getConnection();
    const heard = new Promise<void>((resolve) => held.once('error', () => resolve()));
    held.release();
    proxy.cutAll();
    await heard;
    const fourth = await connectionId();
    expect(fourth).not.toBe(third);
  } finally {
    await pool.end();
  }
});
