import { randomBytes, randomInt } from 'node:crypto';
import { permissions as permissionsMigration } from '../../src/db/migrations/007-permissions';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 5, user/permissions and user/change_permissions: group memberships in MySQL
// only, for local and remote users alike, readable by Kamailio's group module through the grp view.
// PERMISSIONS is the default, kamctl's list (local, ld, int, voicemail, free-pstn). Every test
// makes its own users, so nothing depends on the order the tests run in.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

type Params = Record<string, string | number | boolean>;

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

async function newRemoteUser(): Promise<{ user: string; username: string; domain: string }> {
  const username = tag();
  const domain = `${tag()}.example`;
  const user = `${username}@${domain}`;
  const response = await gateway.get('user/add_remote', { user, password: 'Remote-Secret1', displayname: 'Member', registrar: 'sip.provider.example' });
  expect(response.body).toMatchObject({ response: 'ok' });
  return { user, username, domain };
}

async function newLocalUser(): Promise<{ user: string; username: string; domain: string }> {
  const username = `7${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
  const user = `${username}@pbx.local`;
  const response = await gateway.get('user/add_local', { user, displayname: 'Local Member' });
  expect(response.body).toMatchObject({ response: 'ok' });
  return { user, username, domain: 'pbx.local' };
}

async function change(user: string, params: Params): Promise<Record<string, unknown>> {
  return (await gateway.get('user/change_permissions', { user, ...params })).body;
}

async function held(user: string): Promise<unknown> {
  const response = await gateway.get('user/permissions', { user });
  expect(response.body).toMatchObject({ response: 'ok' });
  return response.body.permissions;
}

/** The user's rows as Kamailio's group module sees them. */
async function grpRows(username: string, domain: string): Promise<Record<string, unknown>[]> {
  return gateway.query('SELECT id, username, domain, grp, last_modified FROM grp WHERE username = ? AND domain = ? ORDER BY grp', [username, domain]);
}

async function membershipCount(): Promise<number> {
  const [row] = await gateway.query<{ count: number }>('SELECT COUNT(*) AS count FROM user_permissions');
  return Number(row.count);
}

describe('user/permissions', () => {
  it('answers no permissions for a new user', async () => {
    const { user } = await newRemoteUser();
    expect((await gateway.get('user/permissions', { user })).body).toEqual({ response: 'ok', user, permissions: [] });
  });

  it('answers the names held, sorted, for either user form', async () => {
    const { user, username, domain } = await newRemoteUser();
    await change(user, { grant: 'voicemail,free-pstn,ld' });
    expect((await gateway.get('user/permissions', { user })).body).toEqual({ response: 'ok', user, permissions: ['free-pstn', 'ld', 'voicemail'] });
    expect((await gateway.get('user/permissions', { username, domain })).body).toMatchObject({ user, permissions: ['free-pstn', 'ld', 'voicemail'] });
  });

  it('fails nonexistant for an address no user has', async () => {
    const response = await gateway.get('user/permissions', { user: `${tag()}@nobody.example` });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('refuses a request without a user', async () => {
    expect((await gateway.get('user/permissions', {})).body).toMatchObject({ response: 'invalid', cause: 'user' });
  });
});

describe('user/change_permissions', () => {
  it('grants names and answers the whole set, sorted', async () => {
    const { user, username, domain } = await newRemoteUser();
    expect(await change(user, { grant: 'local,int' })).toEqual({ response: 'ok', user, permissions: ['int', 'local'] });
    expect(await change(user, { grant: 'ld' })).toEqual({ response: 'ok', user, permissions: ['int', 'ld', 'local'] });
    expect((await grpRows(username, domain)).map((row) => row.grp)).toEqual(['int', 'ld', 'local']);
  });

  it('takes a POSTed JSON body and the username, domain form', async () => {
    const { user, username, domain } = await newRemoteUser();
    const response = await gateway.post('user/change_permissions', { username, domain, grant: 'voicemail' });
    expect(response.body).toEqual({ response: 'ok', user, permissions: ['voicemail'] });
  });

  it('is ok granting a name held or revoking one not held, and changes nothing then', async () => {
    const { user, username, domain } = await newRemoteUser();
    await change(user, { grant: 'local' });
    const [before] = await grpRows(username, domain);
    expect(await change(user, { grant: 'local,local' })).toEqual({ response: 'ok', user, permissions: ['local'] });
    expect(await change(user, { revoke: 'ld' })).toEqual({ response: 'ok', user, permissions: ['local'] });
    expect(await grpRows(username, domain)).toEqual([before]);
  });

  it('ignores spaces around names and empty items; an empty grant alone changes nothing', async () => {
    const { user } = await newRemoteUser();
    expect(await change(user, { grant: ' local , ,ld,' })).toEqual({ response: 'ok', user, permissions: ['ld', 'local'] });
    expect(await change(user, { grant: '' })).toEqual({ response: 'ok', user, permissions: ['ld', 'local'] });
  });

  it('grants and revokes in one request', async () => {
    const { user } = await newRemoteUser();
    await change(user, { grant: 'local,ld' });
    expect(await change(user, { grant: 'int, voicemail', revoke: 'ld' })).toEqual({ response: 'ok', user, permissions: ['int', 'local', 'voicemail'] });
    expect(await held(user)).toEqual(['int', 'local', 'voicemail']);
  });

  it('sets the whole set, and an empty set clears it', async () => {
    const { user, username, domain } = await newRemoteUser();
    await change(user, { grant: 'local,ld,int' });
    expect(await change(user, { set: 'voicemail,ld' })).toEqual({ response: 'ok', user, permissions: ['ld', 'voicemail'] });
    expect(await held(user)).toEqual(['ld', 'voicemail']);
    expect(await change(user, { set: '' })).toEqual({ response: 'ok', user, permissions: [] });
    expect(await grpRows(username, domain)).toEqual([]);
  });

  it('works for a local user in MySQL only: the PBX is not called', async () => {
    const { user, username, domain } = await newLocalUser();
    const calls = gateway.pbx.calls.length;
    expect(await change(user, { grant: 'free-pstn' })).toEqual({ response: 'ok', user, permissions: ['free-pstn'] });
    expect(await held(user)).toEqual(['free-pstn']);
    expect(await change(user, { revoke: 'free-pstn', grant: 'int' })).toEqual({ response: 'ok', user, permissions: ['int'] });
    expect(gateway.pbx.calls.length).toBe(calls);
    expect(await grpRows(username, domain)).toMatchObject([{ username, domain, grp: 'int' }]);
  });

  describe('dry_run', () => {
    it('answers the set as it would be, with dry_run true, and changes nothing', async () => {
      const { user, username, domain } = await newRemoteUser();
      await change(user, { grant: 'local,ld' });
      const before = await grpRows(username, domain);
      expect(await change(user, { grant: 'int', revoke: 'local', dry_run: true })).toEqual({ response: 'ok', user, permissions: ['int', 'ld'], dry_run: true });
      expect(await change(user, { set: '', dry_run: true })).toEqual({ response: 'ok', user, permissions: [], dry_run: true });
      expect(await grpRows(username, domain)).toEqual(before);
    });

    it('gives the same refusals as a real change', async () => {
      const { user } = await newRemoteUser();
      expect(await change(user, { grant: 'gold', dry_run: true })).toMatchObject({ response: 'invalid', cause: 'grant' });
      expect(await change(`${tag()}@nobody.example`, { grant: 'local', dry_run: true })).toMatchObject({ response: 'failed', cause: 'nonexistant' });
      expect(await change(user, { dry_run: true })).toMatchObject({ response: 'invalid', cause: 'parameters' });
    });
  });

  describe('refusals change nothing', () => {
    const cases: [string, Params, string][] = [
      ['a grant of a name not in PERMISSIONS', { grant: 'local,gold' }, 'grant'],
      ['a revoke of a name not in PERMISSIONS', { revoke: 'LOCAL' }, 'revoke'],
      ['a set with a name not in PERMISSIONS', { set: 'ld,long distance' }, 'set'],
      ['set together with grant', { set: 'ld', grant: 'int' }, 'set'],
      ['set together with revoke', { set: 'ld', revoke: 'local' }, 'set'],
      ['no grant, revoke or set', {}, 'parameters'],
      ['a name both granted and revoked', { grant: 'int', revoke: 'int' }, 'revoke'],
      ['a dry_run that is no boolean', { grant: 'int', dry_run: 'perhaps' }, 'dry_run'],
      ['an unknown parameter', { grant: 'int', add: 'ld' }, 'parameter'],
    ];
    it.each(cases)('refuses %s with invalid', async (_what, params, cause) => {
      const { user, username, domain } = await newRemoteUser();
      await change(user, { grant: 'local' });
      const before = await grpRows(username, domain);
      expect(await change(user, params)).toEqual({ response: 'invalid', cause, detail: expect.any(String) });
      expect(await grpRows(username, domain)).toEqual(before);
    });

    it('fails nonexistant for an address no user has, and stores nothing', async () => {
      const count = await membershipCount();
      expect(await change(`${tag()}@nobody.example`, { grant: 'local' })).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
      expect(await membershipCount()).toBe(count);
    });
  });

  it('keeps every grant of parallel requests for one user', async () => {
    const { user } = await newRemoteUser();
    const names = ['local', 'ld', 'int', 'voicemail', 'free-pstn'];
    const answers = await Promise.all(names.map((name) => change(user, { grant: name })));
    for (const answer of answers) expect(answer).toMatchObject({ response: 'ok' });
    expect(await held(user)).toEqual([...names].sort());
  });

  it('writes the audit record in the change, and one for a refusal', async () => {
    const { user } = await newRemoteUser();
    const done = await gateway.get('user/change_permissions', { user, grant: 'int' });
    expect(done.body.response).toBe('ok');
    const [record] = await gateway.query('SELECT node, response, cause, subject, params FROM audit_log WHERE request_id = ?', [done.headers['x-request-id']]);
    expect(record).toMatchObject({ node: 'user/change_permissions', response: 'ok', cause: null, subject: user });
    expect(JSON.parse(String(record.params))).toEqual({ user, grant: 'int' });

    const refused = await gateway.get('user/change_permissions', { user, grant: 'gold' });
    const records = await gateway.query('SELECT response, cause FROM audit_log WHERE request_id = ?', [refused.headers['x-request-id']]);
    expect(records).toEqual([{ response: 'invalid', cause: 'grant' }]);

    const dry = await gateway.get('user/change_permissions', { user, revoke: 'int', dry_run: true });
    const dryRecords = await gateway.query('SELECT response FROM audit_log WHERE request_id = ?', [dry.headers['x-request-id']]);
    expect(dryRecords).toEqual([{ response: 'ok' }]);
  });
});

describe('user/remove', () => {
  it("removes a remote user's memberships with the user", async () => {
    const { user, username, domain } = await newRemoteUser();
    await change(user, { grant: 'local,ld' });
    expect((await gateway.get('user/remove', { user })).body).toMatchObject({ response: 'ok' });
    expect(await grpRows(username, domain)).toEqual([]);
    expect((await gateway.get('user/permissions', { user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it("removes a local user's memberships with the user", async () => {
    const { user, username, domain } = await newLocalUser();
    await change(user, { grant: 'int' });
    expect((await gateway.get('user/remove', { user })).body).toMatchObject({ response: 'ok' });
    expect(await grpRows(username, domain)).toEqual([]);
  });

  it('keeps the memberships when the removal is refused', async () => {
    const { user, username, domain } = await newRemoteUser();
    await change(user, { grant: 'ld' });
    expect((await gateway.get('phone/add', { user, mac: randomBytes(6).toString('hex') })).body).toMatchObject({ response: 'ok' });
    expect((await gateway.get('user/remove', { user })).body).toMatchObject({ response: 'failed', cause: 'inuse' });
    expect((await grpRows(username, domain)).map((row) => row.grp)).toEqual(['ld']);
  });
});

describe("Kamailio's tables", () => {
  it('has a grp view with the columns the group module reads', async () => {
    const columns = await gateway.query<{ COLUMN_NAME: string; DATA_TYPE: string }>(
      `SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'grp' ORDER BY ORDINAL_POSITION`,
    );
    expect(columns.map((column) => [column.COLUMN_NAME, column.DATA_TYPE])).toEqual([
      ['id', 'int'],
      ['username', 'varchar'],
      ['domain', 'varchar'],
      ['grp', 'varchar'],
      ['last_modified', 'datetime'],
    ]);
    const [view] = await gateway.query("SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'grp'");
    expect(view).toEqual({ TABLE_TYPE: 'VIEW' });
  });

  it('shows one row per membership, with a distinct id and a time', async () => {
    const { user, username, domain } = await newRemoteUser();
    await change(user, { grant: 'local,voicemail' });
    const rows = await grpRows(username, domain);
    expect(rows).toEqual([
      { id: expect.any(Number), username, domain, grp: 'local', last_modified: expect.any(Date) },
      { id: expect.any(Number), username, domain, grp: 'voicemail', last_modified: expect.any(Date) },
    ]);
    expect(rows[0].id).not.toBe(rows[1].id);
    // What is_user_in() asks (use_domain 1): one row when the user is in the group, none otherwise.
    const ask = 'SELECT grp FROM grp WHERE username = ? AND domain = ? AND grp = ?';
    expect(await gateway.query(ask, [username, domain, 'local'])).toHaveLength(1);
    expect(await gateway.query(ask, [username, domain, 'ld'])).toHaveLength(0);
  });

  it("has Kamailio's version table with (grp, 2)", async () => {
    const rows = await gateway.query("SELECT table_version FROM version WHERE table_name = 'grp'");
    expect(rows).toEqual([{ table_version: 2 }]);
  });

  it('migrates again safely (the migration is retried after a failure)', async () => {
    const { user, username, domain } = await newRemoteUser();
    await change(user, { grant: 'int' });
    for (const statement of permissionsMigration.statements) await gateway.query(statement);
    expect((await grpRows(username, domain)).map((row) => row.grp)).toEqual(['int']);
    expect(await gateway.query("SELECT table_version FROM version WHERE table_name = 'grp'")).toEqual([{ table_version: 2 }]);
  });
});
