import { randomBytes, randomInt } from 'node:crypto';
import request from 'supertest';
import { DEFAULT_EXTENSION_SETTINGS, emptyForwardPolicy } from '../../src/pbx/extension';
import { SYNC_BATCH_SIZE } from '../../src/nodes/pbx/sync-service';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 5 ("Beyond the seed": audit/list) and README "Audit": every change and every
// refused change leaves one audit_log row; a change's row commits in the change's own transaction.

const READER = { name: 'viewer', token: `viewer-${randomBytes(12).toString('hex')}`, scope: 'read' as const };
const WRITER = { name: 'clerk', token: `clerk-${randomBytes(12).toString('hex')}`, scope: 'write' as const };
const ADMIN = { name: 'auditor', token: `auditor-${randomBytes(12).toString('hex')}`, scope: 'admin' as const };

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ authDisabled: false, apiTokens: [READER, WRITER, ADMIN] });
});

afterAll(async () => {
  await gateway.close();
});

type Params = Record<string, string>;

interface AuditRow {
  id: number;
  time: Date;
  token: string | null;
  node: string;
  params: string;
  response: string;
  cause: string | null;
  duration_ms: number;
  subject: string | null;
}

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

function freshNumber(): string {
  return `+4793${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
}

function extensionNumber(): string {
  return `6${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

function password(): string {
  return `Pw-${randomBytes(8).toString('hex')}`;
}

function call(node: string, params: Params, token: { token: string } = WRITER): request.Test {
  return request(gateway.app).get(`/api/${node}`).query(params).set('Authorization', `Bearer ${token.token}`);
}

async function lastId(): Promise<number> {
  const [row] = await gateway.query<{ id: number | null }>('SELECT MAX(id) AS id FROM audit_log');
  return Number(row.id ?? 0);
}

/** The audit rows written since `after` (an id from lastId), oldest first. */
async function rowsSince(after: number): Promise<AuditRow[]> {
  return gateway.query<AuditRow>('SELECT * FROM audit_log WHERE id > ? ORDER BY id', [after]);
}

async function addRemote(user: string, extra: Params = {}): Promise<void> {
  const response = await call('user/add_remote', { user, password: password(), displayname: 'Audited Person', registrar: 'sip.remote.example', ...extra });
  expect(response.body).toMatchObject({ response: 'ok' });
}

describe('what is recorded', () => {
  it('records a change once, with the token name, node, params, outcome, no cause and a duration', async () => {
    const before = await lastId();
    const number = freshNumber();
    const response = await call('numbers/add', { number });
    expect(response.body.response).toBe('ok');
    const rows = await rowsSince(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ token: 'clerk', node: 'numbers/add', response: 'ok', cause: null });
    expect(JSON.parse(rows[0].params)).toEqual({ number });
    expect(typeof rows[0].duration_ms).toBe('number');
    expect(rows[0].duration_ms).toBeGreaterThan(0);
    expect(rows[0].duration_ms).toBeLessThan(10_000);
    expect(Math.abs(new Date(rows[0].time).getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('records a change made through a transaction once (the in-transaction ok row)', async () => {
    const before = await lastId();
    const user = `${tag()}@remote.example`;
    await addRemote(user, { linetext: 'line one' });
    const rows = await rowsSince(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ token: 'clerk', node: 'user/add_remote', response: 'ok', cause: null });
    expect(JSON.parse(rows[0].params)).toMatchObject({ user, displayname: 'Audited Person', registrar: 'sip.remote.example', linetext: 'line one' });
  });

  it('records refused changes (failed and invalid) with their cause', async () => {
    const number = freshNumber();
    expect((await call('numbers/add', { number })).body.response).toBe('ok');
    const before = await lastId();
    const again = await call('numbers/add', { number });
    expect(again.body).toMatchObject({ response: 'failed', cause: 'exists' });
    const malformed = await call('numbers/add', { number: `x${tag()}` });
    expect(malformed.body).toMatchObject({ response: 'invalid', cause: 'number' });
    const unknown = await call('numbers/remove', { number, colour: 'blue' });
    expect(unknown.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
    const rows = await rowsSince(before);
    expect(rows.map((row) => [row.node, row.response, row.cause, row.token])).toEqual([
      ['numbers/add', 'failed', 'exists', 'clerk'],
      ['numbers/add', 'invalid', 'number', 'clerk'],
      ['numbers/remove', 'invalid', 'parameter', 'clerk'],
    ]);
    expect(JSON.parse(rows[0].params)).toEqual({ number });
    expect(JSON.parse(rows[2].params)).toEqual({ number, colour: 'blue' });
  });

  it('records a request whose transaction committed nothing and then failed as failed, not ok', async () => {
    const before = await lastId();
    const alias = `${tag()}@pbx.local`;
    const response = await call('alias/remove', { alias });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    const rows = await rowsSince(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ node: 'alias/remove', response: 'failed', cause: 'nonexistant', token: 'clerk' });
  });

  it('has the record in the trail by the time the client hears the answer', async () => {
    for (let index = 0; index < 5; index += 1) {
      const number = freshNumber();
      const response = await call('numbers/remove', { number });
      expect(response.body.cause).toBe('nonexistant');
      const [row] = await gateway.query<AuditRow>('SELECT * FROM audit_log ORDER BY id DESC LIMIT 1');
      expect(row).toMatchObject({ node: 'numbers/remove', response: 'failed', cause: 'nonexistant' });
      expect(JSON.parse(row.params)).toEqual({ number });
    }
  });

  it('records a change refused for scope with the token name, and does not make it', async () => {
    const before = await lastId();
    const number = freshNumber();
    const response = await call('numbers/add', { number }, READER);
    expect(response.status).toBe(403);
    const rows = await rowsSince(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ token: 'viewer', node: 'numbers/add', response: 'failed', cause: 'scope' });
    expect(await gateway.query('SELECT number FROM numbers WHERE number = ?', [number])).toHaveLength(0);
  });

  it('records a dry run as the change it would have been, and changes nothing', async () => {
    const before = await lastId();
    const user = `${tag()}@remote.example`;
    const response = await call('user/add_remote', { user, password: password(), displayname: 'Dry', registrar: 'sip.remote.example', dry_run: 'true' });
    expect(response.body).toMatchObject({ response: 'ok', dry_run: true });
    const rows = await rowsSince(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ node: 'user/add_remote', response: 'ok' });
    expect(JSON.parse(rows[0].params)).toMatchObject({ user, dry_run: 'true' });
    expect(await gateway.query("SELECT id FROM users WHERE CONCAT(username, '@', domain) = ?", [user])).toHaveLength(0);
  });

  it('writes no row for reads, unknown nodes or unknown tokens', async () => {
    const user = `${tag()}@remote.example`;
    await addRemote(user);
    const before = await lastId();
    expect((await call('user/get', { user }, READER)).body.response).toBe('ok');
    expect((await call('user/list', { search: user }, READER)).body.response).toBe('ok');
    expect((await call('user/available', { user }, READER)).body.response).toBe('failed');
    expect((await call('numbers/list', { limit: '3' }, READER)).body.response).toBe('ok');
    expect((await call('phone/get', { user }, WRITER)).body.response).toBe('ok');
    expect((await call('domains/list', {}, ADMIN)).body.response).toBe('ok');
    expect((await call('audit/list', { limit: '1' }, ADMIN)).body.response).toBe('ok');
    expect((await call('user/nosuch', { user }, WRITER)).status).toBe(404);
    expect((await call('numbers/add', { number: freshNumber() }, { token: `unknown-${randomBytes(10).toString('hex')}` })).status).toBe(401);
    expect(await rowsSince(before)).toEqual([]);
  });

  it('never stores a password, given or generated, in any column', async () => {
    const remote = `${tag()}@remote.example`;
    const secrets = [password(), password(), password(), password(), password(), password()];
    const before = await lastId();
    await addRemote(remote, { password: secrets[0] });
    expect((await call('user/change_pw', { user: remote, password: secrets[1] })).body.response).toBe('ok');
    // Refused ones too: the address is taken, and a malformed request.
    const taken = await call('user/add_remote', { user: remote, password: secrets[2], displayname: 'Again', registrar: 'sip.remote.example' });
    expect(taken.body).toMatchObject({ response: 'failed', cause: 'exists' });
    const malformed = await call('user/change_pw', { user: remote, password: secrets[3], colour: 'red' });
    expect(malformed.body).toMatchObject({ response: 'invalid' });
    // A local user: the generated password, then a changed one (sent to the PBX).
    const local = `${extensionNumber()}@pbx.local`;
    const added = await call('user/add_local', { user: local, displayname: 'Local Audited' });
    expect(added.body.response).toBe('ok');
    const generated = added.body.password as string;
    expect((await call('user/change_pw', { user: local, password: secrets[4] })).body.response).toBe('ok');
    // POST JSON with the password in the body.
    const posted = await request(gateway.app).post('/api/user/change_pw').set('X-API-Key', WRITER.token).send({ user: remote, password: secrets[5] });
    expect(posted.body.response).toBe('ok');

    const rows = await rowsSince(before);
    expect(rows.map((row) => [row.node, row.response])).toEqual([
      ['user/add_remote', 'ok'],
      ['user/change_pw', 'ok'],
      ['user/add_remote', 'failed'],
      ['user/change_pw', 'invalid'],
      ['user/add_local', 'ok'],
      ['user/change_pw', 'ok'],
      ['user/change_pw', 'ok'],
    ]);
    for (const row of rows) {
      const params = JSON.parse(row.params) as Record<string, unknown>;
      if ('password' in params) expect(params.password).toBe('[redacted]');
    }
    const everything = JSON.stringify(await gateway.query('SELECT * FROM audit_log'));
    for (const secret of [...secrets, generated]) expect(everything).not.toContain(secret);
  });
});

describe('the audit row and the change share one transaction', () => {
  const REFUSED_NAME = `Refused ${tag()}`;
  const UNAUDITABLE_NAME = `Unauditable ${tag()}`;

  beforeAll(async () => {
    // MySQL refuses a user with one display name; it refuses the ok audit row of a request with another.
    await gateway.query(
      `CREATE TRIGGER test_refuse_user BEFORE INSERT ON users FOR EACH ROW
       IF NEW.displayname = '${REFUSED_NAME}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test trigger refused the user'; END IF`,
    );
    await gateway.query(
      `CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW
       IF NEW.response = 'ok' AND NEW.params LIKE '%${UNAUDITABLE_NAME}%' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'test trigger refused the audit row'; END IF`,
    );
  });

  afterAll(async () => {
    await gateway.query('DROP TRIGGER IF EXISTS test_refuse_user');
    await gateway.query('DROP TRIGGER IF EXISTS test_refuse_audit');
  });

  it('leaves exactly one error row and no ok row when MySQL refuses the change', async () => {
    const before = await lastId();
    const user = `${tag()}@remote.example`;
    const response = await call('user/add_remote', { user, password: password(), displayname: REFUSED_NAME, registrar: 'sip.remote.example' });
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(response.body.detail).not.toContain('trigger');
    const rows = await rowsSince(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ node: 'user/add_remote', response: 'error', cause: 'db', token: 'clerk' });
    expect(await gateway.query("SELECT id FROM users WHERE CONCAT(username, '@', domain) = ?", [user])).toHaveLength(0);
  });

  it('rolls the change back when its ok audit row cannot be inserted', async () => {
    const before = await lastId();
    const user = `${tag()}@remote.example`;
    const response = await call('user/add_remote', { user, password: password(), displayname: UNAUDITABLE_NAME, registrar: 'sip.remote.example' });
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    // No user and no claimed address: the insert was in the transaction the audit row failed.
    expect(await gateway.query("SELECT id FROM users WHERE CONCAT(username, '@', domain) = ?", [user])).toHaveLength(0);
    const [username, domain] = user.split('@');
    expect(await gateway.query('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [username, domain])).toHaveLength(0);
    const rows = await rowsSince(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ node: 'user/add_remote', response: 'error', cause: 'db' });
    // The address is still free for a later request.
    await addRemote(user);
  });

  it('rolls back a local user and removes its extension from the PBX when the ok audit row cannot be inserted', async () => {
    const before = await lastId();
    const number = extensionNumber();
    const response = await call('user/add_local', { user: `${number}@pbx.local`, displayname: UNAUDITABLE_NAME });
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    expect(response.body.password).toBeUndefined();
    expect(gateway.pbx.extension(number)).toBeUndefined();
    expect(await gateway.query("SELECT id FROM users WHERE username = ? AND domain = 'pbx.local'", [number])).toHaveLength(0);
    const rows = await rowsSince(before);
    expect(rows.map((row) => [row.node, row.response, row.cause])).toEqual([['user/add_local', 'error', 'db']]);
  });

  it('records one error row for a pbx/sync that committed an import and then failed', async () => {
    const domain = `${tag()}.example`;
    expect((await call('domains/add', { domain, local: 'true' }, ADMIN)).body.response).toBe('ok');
    // A whole batch before the refused extension: imports are written a batch per transaction.
    const first = Array.from({ length: SYNC_BATCH_SIZE }, extensionNumber);
    const second = extensionNumber();
    for (const [number, name] of [...first.map((number) => [number, 'Imported First']), [second, REFUSED_NAME]]) {
      gateway.pbx.seed({ ...DEFAULT_EXTENSION_SETTINGS, name, number, cid_number: number, secret: password(), email: '', forward_policy: emptyForwardPolicy() });
    }
    const before = await lastId();
    const response = await call('pbx/sync', { domain }, ADMIN);
    expect(response.body).toMatchObject({ response: 'error', cause: 'db' });
    // The batches before the failure stay (each batch is its own transaction) ...
    const committed = Math.floor(gateway.pbx.extensions().findIndex((extension) => extension.number === second) / SYNC_BATCH_SIZE) * SYNC_BATCH_SIZE;
    expect(committed).toBeGreaterThan(0);
    expect(await gateway.query('SELECT id FROM users WHERE domain = ?', [domain])).toHaveLength(committed);
    expect(await gateway.query('SELECT id FROM users WHERE username = ? AND domain = ?', [first[0], domain])).toHaveLength(1);
    expect(await gateway.query('SELECT id FROM users WHERE username = ? AND domain = ?', [second, domain])).toHaveLength(0);
    // ... and the request's one record says how it ended.
    const rows = await rowsSince(before);
    expect(rows.map((row) => [row.node, row.response, row.cause, row.token])).toEqual([['pbx/sync', 'error', 'db', 'auditor']]);
    expect(JSON.parse(rows[0].params)).toEqual({ domain });
  });
});

describe('audit/list', () => {
  it('answers entries newest first, each {id, time, token, node, params, response, cause, duration_ms}', async () => {
    const numbers = [freshNumber(), freshNumber(), freshNumber()];
    for (const number of numbers) expect((await call('numbers/add', { number })).body.response).toBe('ok');
    expect((await call('numbers/add', { number: numbers[0] }, ADMIN)).body.cause).toBe('exists');
    const response = await call('audit/list', { limit: '4' }, ADMIN);
    expect(response.body.response).toBe('ok');
    const entries = response.body.entries as Record<string, unknown>[];
    expect(entries).toHaveLength(4);
    for (const entry of entries) {
      expect(Object.keys(entry).sort()).toEqual(['cause', 'duration_ms', 'id', 'node', 'params', 'response', 'time', 'token']);
      expect(Number.isInteger(entry.id)).toBe(true);
      expect(new Date(entry.time as string).toISOString()).toBe(entry.time);
      expect(typeof entry.duration_ms).toBe('number');
    }
    expect(entries.map((entry) => [entry.token, entry.params, entry.response, entry.cause])).toEqual([
      ['auditor', { number: numbers[0] }, 'failed', 'exists'],
      ['clerk', { number: numbers[2] }, 'ok', null],
      ['clerk', { number: numbers[1] }, 'ok', null],
      ['clerk', { number: numbers[0] }, 'ok', null],
    ]);
    const times = entries.map((entry) => Date.parse(entry.time as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('honours limit', async () => {
    for (let index = 0; index < 3; index += 1) expect((await call('numbers/add', { number: freshNumber() })).body.response).toBe('ok');
    const one = await call('audit/list', { limit: '1' }, ADMIN);
    expect(one.body.entries).toHaveLength(1);
    const two = await call('audit/list', { limit: '2' }, ADMIN);
    expect(two.body.entries).toHaveLength(2);
    expect(two.body.entries[0]).toEqual(one.body.entries[0]);
    const bad = await call('audit/list', { limit: '0' }, ADMIN);
    expect(bad.body).toMatchObject({ response: 'invalid', cause: 'limit' });
  });

  it('filters by the user a change was about, given as user= or as username and domain', async () => {
    const username = tag();
    const user = `${username}@remote.example`;
    const other = `${tag()}@remote.example`;
    const mac = randomBytes(6).toString('hex');
    await addRemote(user);
    await addRemote(other);
    expect((await call('user/update', { user, linetext: 'updated' })).body.response).toBe('ok');
    expect((await call('user/change_pw', { user, password: password() })).body.response).toBe('ok');
    expect((await call('phone/add', { mac, user })).body.response).toBe('ok');
    expect((await call('alias/add', { alias: `${tag()}@pbx.local`, destination: user })).body.response).toBe('ok');
    expect((await call('user/change_email', { user, email: 'x@example.com' })).body).toMatchObject({ response: 'failed', cause: 'domain' });
    expect((await call('user/update', { user: other, linetext: 'other' })).body.response).toBe('ok');
    expect((await call('user/get', { user }, READER)).body.response).toBe('ok');

    const expected = [
      ['user/change_email', 'failed'],
      ['alias/add', 'ok'],
      ['phone/add', 'ok'],
      ['user/change_pw', 'ok'],
      ['user/update', 'ok'],
      ['user/add_remote', 'ok'],
    ];
    const byUser = await call('audit/list', { user }, ADMIN);
    expect(byUser.body.response).toBe('ok');
    expect(byUser.body.entries.map((entry: { node: string; response: string }) => [entry.node, entry.response])).toEqual(expected);
    const byParts = await call('audit/list', { username, domain: 'remote.example' }, ADMIN);
    expect(byParts.body.entries).toEqual(byUser.body.entries);
    const limited = await call('audit/list', { user, limit: '2' }, ADMIN);
    expect(limited.body.entries).toEqual(byUser.body.entries.slice(0, 2));
    const nobody = await call('audit/list', { user: `${tag()}@remote.example` }, ADMIN);
    expect(nobody.body).toEqual({ response: 'ok', entries: [] });
  });

  it('refuses both user forms at once', async () => {
    const response = await call('audit/list', { user: `${tag()}@remote.example`, username: tag(), domain: 'remote.example' }, ADMIN);
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'user' });
  });
});
