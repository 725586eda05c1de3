import { randomBytes, randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import mysql from 'mysql2/promise';
import request from 'supertest';
import { createApp } from '../../src/app';
import type { Container } from '../../src/container';
import { createLogger } from '../../src/logger';
import { appDeps, prepare } from '../../src/start';
import { MYSQL_SERVER, startTestGateway, type TestGateway } from '../helpers/gateway';
import { heldPassword, type PasswordColumns } from '../helpers/secrets';
import { startMysqlFaultProxy, type ArmedFault, type FaultRule, type MysqlFaultProxy } from '../helpers/mysql-fault-proxy';

// CONTRACT section 7 with MySQL's faults at exact points: gateway A reaches MariaDB through a
// protocol-aware proxy that cuts A's connection right after a COMMIT reached the server (the
// change committed, the answer is lost), before it (nothing committed), or before a statement's
// answer; gateway B works on the same database directly, as a second gateway would. After each
// request both stores are read back: ok means both have the change, error means neither (or the
// extension was in doubt and is repaired from MySQL's record), and no ok answer is ever undone.

const LOCAL = 'pbx.local';
const UPDATE = '/pbx/users/update';

let proxy: MysqlFaultProxy;
let gateway: TestGateway;
let other: { container: Container; app: Express };
let db: mysql.Connection;
const otherLogs: string[] = [];

beforeAll(async () => {
  proxy = await startMysqlFaultProxy(MYSQL_SERVER);
  const database = `pbxgw_test_${randomBytes(6).toString('hex')}`;
  gateway = await startTestGateway({ mysqlUrl: proxy.url(database), requestTimeoutMs: 10_000, pbx: { timeoutMs: 1000 } });
  const sink = new Writable({
    write(chunk, _encoding, done) {
      otherLogs.push(String(chunk));
      done();
    },
  });
  const container = await prepare({ ...gateway.config, mysqlUrl: `${MYSQL_SERVER}/${database}` }, createLogger('debug', sink));
  other = { container, app: createApp(appDeps(container, 'test')) };
  db = await mysql.createConnection(`${MYSQL_SERVER}/${database}`);
});

afterAll(async () => {
  await db?.end();
  await other?.container.close();
  await gateway?.close();
  await proxy?.close();
});

afterEach(() => {
  for (const fault of armed.splice(0)) fault.disarm();
});

const armed: ArmedFault[] = [];

function arm(rule: FaultRule): ArmedFault {
  const fault = proxy.arm(rule);
  armed.push(fault);
  return fault;
}

/** Gateway A (through the proxy). */
function callA(node: string, params: Record<string, string>): Promise<request.Response> {
  return request(gateway.app).get(`/api/${node}`).query(params).then((response) => response);
}

/** Gateway B (straight to MariaDB). */
function callB(node: string, params: Record<string, string>): Promise<request.Response> {
  return request(other.app).get(`/api/${node}`).query(params).then((response) => response);
}

function extensionNumber(): string {
  return `7${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

function tag(): string {
  return randomBytes(4).toString('hex');
}

async function rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await db.query(sql, params);
  return result as T[];
}

interface LocalState {
  pbx: { name: string; email: string; secret?: string; forward: unknown } | undefined;
  row: { displayname: string; email: string; password: string | null; forward: unknown } | undefined;
}

async function localState(number: string): Promise<LocalState> {
  const extension = gateway.pbx.extension(number);
  const [row] = await rows<PasswordColumns & { displayname: string; email: string; forward_policy: string | null }>(
    "SELECT username, domain, displayname, email, secret, password, forward_policy FROM users WHERE username = ? AND kind = 'local'",
    [number],
  );
  return {
    pbx: extension && { name: extension.name, email: extension.email, secret: extension.secret, forward: extension.forward_policy },
    row: row && { displayname: row.displayname, email: row.email, password: heldPassword(gateway.container.secrets, row), forward: row.forward_policy === null ? null : JSON.parse(row.forward_policy) },
  };
}

/** Both stores say the same about the extension: the PBX holds what MySQL holds. */
function expectAgreement(state: LocalState): void {
  expect(state.pbx === undefined).toBe(state.row === undefined);
  if (state.pbx && state.row) {
    expect(state.pbx).toEqual({ name: state.row.displayname, email: state.row.email, secret: state.row.password, forward: state.row.forward });
  }
}

async function newLocalUser(): Promise<{ user: string; number: string; password: string }> {
  const number = extensionNumber();
  const user = `${number}@${LOCAL}`;
  const response = await callB('user/add_local', { user, displayname: `Before ${tag()}`, email: `before-${tag()}@example.com` });
  expect(response.body.response).toBe('ok');
  return { user, number, password: response.body.password };
}

async function auditOf(response: request.Response): Promise<string[]> {
  const id = response.headers['x-request-id'];
  const found = await rows<{ response: string }>('SELECT response FROM audit_log WHERE request_id = ?', [id]);
  return found.map((entry) => entry.response);
}

const COMMIT_REACHED: FaultRule = { match: /^COMMIT/i, action: 'after-send' };
const COMMIT_LOST: FaultRule = { match: /^COMMIT/i, action: 'before-send' };

/** The local-user changes, each with parameters whose values are new. */
const LOCAL_CHANGES: readonly [string, () => Record<string, string>][] = [
  ['user/change_pw', () => ({ password: `New-Secret-${tag()}` })],
  ['user/change_email', () => ({ email: `new-${tag()}@example.com` })],
  ['user/update', () => ({ displayname: `New ${tag()}` })],
  ['user/forward', () => ({ busy: String(randomInt(1000, 999_999)), all: '' })],
];

describe('the answer to COMMIT is lost after MariaDB got it (the change committed)', () => {
  it.each(LOCAL_CHANGES)('%s settles the commit on a fresh connection and answers ok, both stores changed', async (node, params) => {
    const { user, number } = await newLocalUser();
    const before = await localState(number);
    const fault = arm(COMMIT_REACHED);
    const response = await callA(node, { user, ...params() });
    expect(fault.hasFired).toBe(true);
    expect(response.body.response).toBe('ok');
    const after = await localState(number);
    expect(after).not.toEqual(before);
    expectAgreement(after);
    expect(await auditOf(response)).toEqual(['ok']);
  });

  it('user/add_local answers ok with the password, which both stores hold', async () => {
    const number = extensionNumber();
    const fault = arm(COMMIT_REACHED);
    const response = await callA('user/add_local', { user: `${number}@${LOCAL}`, displayname: 'Committed' });
    expect(fault.hasFired).toBe(true);
    expect(response.body).toMatchObject({ response: 'ok', password: expect.any(String) });
    const after = await localState(number);
    expect(after.row?.password).toBe(response.body.password);
    expectAgreement(after);
  });

  it('user/remove answers ok, the user is gone from both, and the number can be added again', async () => {
    const { user, number } = await newLocalUser();
    const fault = arm(COMMIT_REACHED);
    const response = await callA('user/remove', { user });
    expect(fault.hasFired).toBe(true);
    expect(response.body).toEqual({ response: 'ok', user });
    expect(await localState(number)).toEqual({ pbx: undefined, row: undefined });
    expect((await callA('user/add_local', { user, displayname: 'Again' })).body.response).toBe('ok');
  });
});

describe('the connection is lost before COMMIT reached MariaDB (nothing committed)', () => {
  it.each(LOCAL_CHANGES)('%s answers error/db and puts the PBX back to what MySQL holds', async (node, params) => {
    const { user, number } = await newLocalUser();
    const before = await localState(number);
    const fault = arm(COMMIT_LOST);
    const response = await callA(node, { user, ...params() });
    expect(fault.hasFired).toBe(true);
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(await localState(number)).toEqual(before);
    expect(await auditOf(response)).toEqual(['error']);
  });

  it('user/add_local answers error/db and the extension it made is removed again', async () => {
    const number = extensionNumber();
    const fault = arm(COMMIT_LOST);
    const response = await callA('user/add_local', { user: `${number}@${LOCAL}`, displayname: 'Not committed' });
    expect(fault.hasFired).toBe(true);
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(await localState(number)).toEqual({ pbx: undefined, row: undefined });
  });

  it('user/remove answers error/db and the extension is made again with everything MySQL holds', async () => {
    const { user, number } = await newLocalUser();
    expect((await callB('user/forward', { user, no_answer: '5551234' })).body.response).toBe('ok');
    const before = await localState(number);
    const fault = arm(COMMIT_LOST);
    const response = await callA('user/remove', { user });
    expect(fault.hasFired).toBe(true);
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(await localState(number)).toEqual(before);
    // The gateway works with it as before.
    expect((await callA('user/remove', { user })).body.response).toBe('ok');
  });

  it('user/change_pw answers error/db when a statement answer is lost before COMMIT, and changes nothing', async () => {
    const { user, number } = await newLocalUser();
    const before = await localState(number);
    const fault = arm({ match: /^UPDATE users SET/, action: 'after-send' });
    const response = await callA('user/change_pw', { user, password: `Lost-Update-${tag()}` });
    expect(fault.hasFired).toBe(true);
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(await localState(number)).toEqual(before);
  });
});

/** MySQL-only changes: the node, its parameters, and how to see in MySQL whether it was made. */
interface MysqlOnlyCase {
  readonly node: string;
  readonly prepare: () => Promise<{ params: Record<string, string>; made: () => Promise<boolean> }>;
}

const MYSQL_ONLY: readonly MysqlOnlyCase[] = [
  {
    node: 'numbers/add',
    prepare: async () => {
      const number = 4_740_000_000 + randomInt(0, 9_999_999);
      return { params: { number: `+${number}` }, made: async () => (await rows('SELECT 1 FROM numbers WHERE number = ?', [number])).length === 1 };
    },
  },
  {
    node: 'numbers/remove',
    prepare: async () => {
      const number = 4_750_000_000 + randomInt(0, 9_999_999);
      expect((await callB('numbers/add', { number: `+${number}` })).body.response).toBe('ok');
      return { params: { number: `+${number}` }, made: async () => (await rows('SELECT 1 FROM numbers WHERE number = ?', [number])).length === 0 };
    },
  },
  {
    node: 'phone/add',
    prepare: async () => {
      const { user, number } = await newLocalUser();
      const mac = randomBytes(6).toString('hex');
      return { params: { mac, user }, made: async () => (await rows('SELECT 1 FROM phones p JOIN users u ON u.id = p.user_id WHERE p.mac = ? AND u.username = ?', [mac, number])).length === 1 };
    },
  },
  {
    node: 'alias/add',
    prepare: async () => {
      const { user } = await newLocalUser();
      const alias = `alias-${tag()}@${LOCAL}`;
      return { params: { alias, destination: user }, made: async () => (await rows('SELECT 1 FROM aliases WHERE alias_username = ?', [alias.split('@')[0]])).length === 1 };
    },
  },
  {
    node: 'user/add_remote',
    prepare: async () => {
      const username = `remote-${tag()}`;
      return {
        params: { user: `${username}@remote.example`, password: `Remote-Secret-${tag()}`, displayname: 'Remote', registrar: 'sip.remote.example' },
        made: async () => (await rows('SELECT 1 FROM users WHERE username = ?', [username])).length === 1,
      };
    },
  },
];

describe('MySQL-only changes whose COMMIT answer is lost', () => {
  it.each(MYSQL_ONLY.map((entry) => [entry.node, entry] as const))('%s answers ok when the COMMIT reached MariaDB, and the change is there', async (_node, entry) => {
    const { params, made } = await entry.prepare();
    const fault = arm(COMMIT_REACHED);
    const response = await callA(entry.node, params);
    expect(fault.hasFired).toBe(true);
    expect(response.body.response).toBe('ok');
    expect(await made()).toBe(true);
    expect(await auditOf(response)).toEqual(['ok']);
  });

  it.each(MYSQL_ONLY.map((entry) => [entry.node, entry] as const))('%s answers error/db when the COMMIT did not reach MariaDB, and the change is not there', async (_node, entry) => {
    const { params, made } = await entry.prepare();
    const fault = arm(COMMIT_LOST);
    const response = await callA(entry.node, params);
    expect(fault.hasFired).toBe(true);
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(await made()).toBe(false);
    expect(await auditOf(response)).toEqual(['error']);
  });
});

describe('a request that lost its session (fencing)', () => {
  it('does not overwrite a change another gateway answered ok meanwhile: its retry is settled from what MySQL holds', async () => {
    const { user, number } = await newLocalUser();
    const start = gateway.pbx.calls.length;
    // A's users/update is applied but its answer is lost: A re-sends after its PBX timeout (1 s).
    gateway.pbx.fail(UPDATE, 'timeout-after');
    const requestA = callA('user/update', { user, displayname: 'Name from A' });
    while (!gateway.pbx.calls.slice(start).some((call) => call.path === UPDATE)) await new Promise((resolve) => setTimeout(resolve, 5));
    // A's MySQL session dies with its locks while A waits on the PBX; B then changes the same user.
    proxy.cutAll();
    const emailB = `b-${tag()}@example.com`;
    const answerB = await callB('user/change_email', { user, email: emailB });
    expect(answerB.body).toEqual({ response: 'ok', user, email: emailB });
    const answerA = await requestA;
    expect(answerA.body).toMatchObject({ response: 'error', cause: 'db' });
    // A re-sent its stale copy (B's e-mail missing) after B's change, then settled afresh.
    const updates = gateway.pbx.calls.slice(start).filter((call) => call.path === UPDATE).map((call) => call.body as { name: string; email: string });
    expect(updates.some((body) => body.name === 'Name from A' && body.email !== emailB)).toBe(true);
    const after = await localState(number);
    expect(after.row?.email).toBe(emailB);
    expect(after.row?.displayname).not.toBe('Name from A');
    expectAgreement(after);
  });
});

describe('double faults: the extension in doubt, then repaired', () => {
  it('a lost COMMIT answer that MySQL cannot settle answers error/db, outcome unknown, and the extension is repaired from MySQL', async () => {
    const { user, number } = await newLocalUser();
    const password = `Unknown-${tag()}`;
    const commit = arm(COMMIT_REACHED);
    // Every attempt to settle (a fresh session ending the old one) and to record the doubt in MySQL is cut.
    const blocked = Array.from({ length: 200 }, () => arm({ match: /^KILL CONNECTION|INSERT INTO pbx_extensions \(number, in_doubt_since/, action: 'before-send' }));
    const response = await callA('user/change_pw', { user, password });
    expect(commit.hasFired).toBe(true);
    expect(response.body).toEqual({ response: 'error', cause: 'db', detail: expect.stringContaining('unknown') });
    const doubt = gateway.logs.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.message === 'PBX and MySQL may disagree' && line.extension === number);
    expect(doubt).toBeDefined();
    // Held in memory while MySQL could not record it, and shown in /readyz and /metrics.
    expect(gateway.container.repairer.inDoubt).toBeGreaterThanOrEqual(1);
    expect(await gateway.container.metrics.registry.getSingleMetricAsString('pbxgw_extensions_in_doubt')).toMatch(/^pbxgw_extensions_in_doubt [1-9]/m);
    expect((await request(gateway.app).get('/readyz')).body.extensions_in_doubt).toBeGreaterThanOrEqual(1);
    for (const fault of blocked) fault.disarm();
    await gateway.container.repairer.repairNow();
    // The change committed: MySQL's record has it, and the repair made the PBX agree.
    const after = await localState(number);
    expect(after.row?.password).toBe(password);
    expectAgreement(after);
    expect(await rows('SELECT 1 FROM pbx_extensions WHERE number = ? AND in_doubt_since IS NOT NULL', [number])).toEqual([]);
    expect(gateway.container.repairer.inDoubt).toBe(0);
  }, 30_000);

  it('when undoing fails too, the extension is recorded in doubt in MySQL and repaired by the next round', async () => {
    const { user, number } = await newLocalUser();
    const before = await localState(number);
    const start = gateway.pbx.calls.length;
    arm(COMMIT_LOST);
    const requestA = callA('user/change_pw', { user, password: `Undo-Fails-${tag()}` });
    // The change's own update goes through; the one that would undo it fails.
    while (!gateway.pbx.calls.slice(start).some((call) => call.path === UPDATE)) await new Promise((resolve) => setTimeout(resolve, 5));
    gateway.pbx.fail(UPDATE, 'http500');
    const response = await requestA;
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(await rows('SELECT reason FROM pbx_extensions WHERE number = ? AND in_doubt_since IS NOT NULL', [number])).toHaveLength(1);
    expect((await localState(number)).pbx?.secret).not.toBe(before.pbx?.secret);
    // Whichever gateway gets there first repairs it, by itself: here the other one's repair round.
    other.container.repairer.start();
    try {
      for (let waited = 0; waited < 30_000; waited += 100) {
        if ((await rows('SELECT 1 FROM pbx_extensions WHERE number = ? AND in_doubt_since IS NOT NULL', [number])).length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await other.container.repairer.stop();
    }
    expect(await localState(number)).toEqual(before);
    expect(await rows('SELECT 1 FROM pbx_extensions WHERE number = ? AND in_doubt_since IS NOT NULL', [number])).toEqual([]);
    expect(otherLogs.join('')).toContain('repaired an extension in doubt');
  }, 40_000);
});

describe('answers of committed changes', () => {
  it('user/update answers ok from what it committed, with no read after the COMMIT that could fail', async () => {
    const { user } = await newLocalUser();
    const commit = arm({ match: /^COMMIT/i, action: 'delay-answer', delayMs: 200 });
    const response = callA('user/update', { user, displayname: 'Answered From Commit' });
    await commit.fired;
    // Any read of the user from now on is cut.
    const reread = arm({ match: /FROM users WHERE username = \? AND domain = \?$/, action: 'before-send' });
    const answer = await response;
    expect(answer.body).toMatchObject({ response: 'ok', user: { user, displayname: 'Answered From Commit' } });
    expect(reread.hasFired).toBe(false);
  });
});

describe('a deadline is an answer, not a cancellation', () => {
  it('numbers/add_range past the deadline answers error and never commits later; one audit record', async () => {
    const app = createApp({ ...appDeps(other.container, 'test'), requestTimeoutMs: 300 });
    const first = 4_720_000_000;
    const started = Date.now();
    const response = await request(app).get('/api/numbers/add_range').query({ start: `+${first}`, end: `+${first + 999_999}` });
    expect(response.body).toEqual({ response: 'error', cause: 'internal', detail: expect.stringContaining('300 ms') });
    expect(Date.now() - started).toBeLessThan(2000);
    // The statement is stopped; wait until nothing of it runs any more, then look.
    for (let waited = 0; waited < 20_000; waited += 100) {
      const running = await rows("SELECT 1 FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SET STATEMENT unique_checks%'");
      if (running.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await rows('SELECT COUNT(*) AS count FROM numbers WHERE number BETWEEN ? AND ?', [first, first + 999_999])).toEqual([{ count: 0 }]);
    expect(await auditOf(response)).toEqual(['error']);
  }, 30_000);
});
