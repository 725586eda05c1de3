import { randomBytes, randomInt } from 'node:crypto';
import { DEFAULT_EXTENSION_SETTINGS, MASKED_SECRET, type Extension } from '../../src/pbx/extension';
import { GENERATED_PASSWORD_LENGTH, PASSWORD_ALPHABET } from '../../src/values/password';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { withHeldPassword, type PasswordColumns } from '../helpers/secrets';

// CONTRACT sections 4–6 (user/*), for local users: the extension on the PBX (the gateway's own
// simulator, over HTTP) and the provisioning record in MySQL. Every test makes its own extension
// numbers, so nothing depends on the order the tests run in.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

type Params = Record<string, string | number | boolean>;

const LOCAL = 'pbx.local';

/** A fresh extension number: 10 digits, so no other test's number is a prefix of it. */
function extensionNumber(): string {
  return `7${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

function localAddress(username = extensionNumber()): { user: string; username: string; domain: string } {
  return { user: `${username}@${LOCAL}`, username, domain: LOCAL };
}

async function addLocal(user: string, extra: Params = {}): Promise<{ user: Record<string, unknown>; password: string }> {
  const response = await gateway.get('user/add_local', { user, displayname: 'Local Person', ...extra });
  expect(response.body).toMatchObject({ response: 'ok' });
  return { user: response.body.user, password: response.body.password };
}

async function newLocalUser(extra: Params = {}): Promise<{ user: string; username: string; domain: string; password: string }> {
  const address = localAddress();
  const { password } = await addLocal(address.user, extra);
  return { ...address, password };
}

async function userRows(username: string, domain = LOCAL): Promise<Record<string, unknown>[]> {
  const rows = await gateway.query<Record<string, unknown> & PasswordColumns>('SELECT * FROM users WHERE username = ? AND domain = ?', [username, domain]);
  // The password is held sealed (CONTRACT section 9): the rows show it opened.
  return rows.map((row) => withHeldPassword(gateway.container.secrets, row));
}

async function addressRows(username: string, domain = LOCAL): Promise<Record<string, unknown>[]> {
  return gateway.query('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [username, domain]);
}

async function addRemote(user: string): Promise<void> {
  const response = await gateway.get('user/add_remote', {
    user,
    password: 'Remote-Secret1',
    displayname: 'Remote Person',
    registrar: 'sip.provider.example',
  });
  expect(response.body.response).toBe('ok');
}

/** The PBX calls made while `action` ran. */
async function callsDuring(action: () => Promise<unknown>): Promise<{ path: string; body: Record<string, unknown> }[]> {
  const before = gateway.pbx.calls.length;
  await action();
  return gateway.pbx.calls.slice(before) as { path: string; body: Record<string, unknown> }[];
}

function seedExtension(number: string, overrides: Partial<Extension> = {}): Extension {
  return gateway.pbx.seed({
    ...DEFAULT_EXTENSION_SETTINGS,
    name: 'Made On The PBX',
    number,
    cid_number: number,
    secret: 'Pbx-Only-Secret9',
    email: '',
    forward_policy: { Busy: '', 'No Answer': '', UnAvailable: '', All: '' },
    ...overrides,
  });
}

/** An extension imported without a known password: seeded on the PBX, a local row with password NULL. */
async function importedUser(): Promise<{ user: string; username: string; seeded: Extension }> {
  const { user, username } = localAddress();
  const seeded = seedExtension(username, { name: 'Imported Person', secret: 'Unknown-Secret7' });
  await gateway.query("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'user')", [username, LOCAL]);
  await gateway.query("INSERT INTO users (username, domain, kind, displayname, password) VALUES (?, ?, 'local', 'Imported Person', NULL)", [
    username,
    LOCAL,
  ]);
  return { user, username, seeded };
}

/** A local provisioning record whose extension is not on the PBX (deleted there by hand). */
async function recordWithoutExtension(password: string): Promise<{ user: string; username: string }> {
  const { user, username } = localAddress();
  await gateway.query("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'user')", [username, LOCAL]);
  await gateway.query("INSERT INTO users (username, domain, kind, displayname, password) VALUES (?, ?, 'local', 'Gone Person', ?)", [
    username,
    LOCAL,
    password,
  ]);
  return { user, username };
}

function localUserObject(address: { user: string; username: string; domain: string }, overrides: Params = {}): Record<string, unknown> {
  return {
    user: address.user,
    username: address.username,
    domain: address.domain,
    kind: 'local',
    displayname: 'Local Person',
    email: '',
    dialplan: '',
    linetext: '',
    ...overrides,
  };
}

function expectNoMaskedSecret(calls: { path: string; body: Record<string, unknown> }[]): void {
  for (const call of calls) expect(call.body.secret).not.toBe(MASKED_SECRET);
}

describe('user/add_local', () => {
  it('answers the user object and a generated 12-character password, the secret the PBX stored', async () => {
    const address = localAddress();
    const response = await gateway.get('user/add_local', { user: address.user, displayname: 'Local Person', email: 'local@example.com' });
    expect(response.body).toEqual({
      response: 'ok',
      user: localUserObject(address, { email: 'local@example.com' }),
      password: expect.any(String),
    });
    const { password } = response.body as { password: string };
    expect(password).toHaveLength(GENERATED_PASSWORD_LENGTH);
    expect([...password].every((character) => PASSWORD_ALPHABET.includes(character))).toBe(true);
    expect(gateway.pbx.extension(address.username)).toMatchObject({
      number: address.username,
      cid_number: address.username,
      name: 'Local Person',
      email: 'local@example.com',
      secret: password,
      user_type: 'SIP',
      forward_policy: { Busy: '', 'No Answer': '', UnAvailable: '', All: '' },
    });
  });

  it('stores the provisioning record with the password and claims the address', async () => {
    const { username, password } = await newLocalUser({ email: 'stored@example.com' });
    const rows = await userRows(username);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ kind: 'local', displayname: 'Local Person', email: 'stored@example.com', password, registrar: null });
    expect(await addressRows(username)).toEqual([{ owner: 'user' }]);
  });

  it('sends users/add with every field as a string, without _id and with the generated secret', async () => {
    const address = localAddress();
    let password = '';
    const calls = await callsDuring(async () => {
      password = (await addLocal(address.user)).password;
    });
    const adds = calls.filter((call) => call.path === '/pbx/users/add');
    expect(adds).toHaveLength(1);
    const body = adds[0].body;
    expect(body._id).toBeUndefined();
    expect(body.secret).toBe(password);
    expect(body.number).toBe(address.username);
    for (const [name, value] of Object.entries(body)) {
      if (name !== 'forward_policy') expect(typeof value).toBe('string');
    }
    expect(Object.keys(body.forward_policy as object).sort()).toEqual(['All', 'Busy', 'No Answer', 'UnAvailable']);
  });

  it('makes a different password for each user', async () => {
    const one = await newLocalUser();
    const two = await newLocalUser();
    expect(one.password).not.toBe(two.password);
  });

  it('refuses an address a user has with failed/exists and leaves the PBX alone', async () => {
    const { user, username, password } = await newLocalUser();
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/add_local', { user, displayname: 'Second' });
      expect(response.body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    });
    expect(calls.filter((call) => call.path !== '/pbx/users/search')).toEqual([]);
    expect(gateway.pbx.extension(username)).toMatchObject({ name: 'Local Person', secret: password });
    expect(await userRows(username)).toHaveLength(1);
  });

  it('refuses an address an alias has with failed/exists and adds no extension', async () => {
    const { user, username } = localAddress();
    const destination = `${tag()}@${tag()}.example`;
    await addRemote(destination);
    expect((await gateway.get('alias/add', { alias: user, destination })).body.response).toBe('ok');
    const response = await gateway.get('user/add_local', { user, displayname: 'Local Person' });
    expect(response.body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    expect(gateway.pbx.extension(username)).toBeUndefined();
    expect(await userRows(username)).toHaveLength(0);
    expect(await addressRows(username)).toEqual([{ owner: 'alias' }]);
  });

  it('refuses an extension that exists only on the PBX with failed/exists and keeps it as it was', async () => {
    const { user, username } = localAddress();
    const seeded = seedExtension(username);
    const response = await gateway.get('user/add_local', { user, displayname: 'Local Person' });
    expect(response.body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    expect(gateway.pbx.extension(username)).toEqual(seeded);
    expect(await userRows(username)).toHaveLength(0);
    expect(await addressRows(username)).toHaveLength(0);
  });

  it('does not take an extension with a longer number for the one asked for', async () => {
    const username = extensionNumber();
    seedExtension(`${username}5`);
    const { password } = await addLocal(`${username}@${LOCAL}`);
    expect(gateway.pbx.extension(username)?.secret).toBe(password);
    expect(gateway.pbx.extension(`${username}5`)?.secret).toBe('Pbx-Only-Secret9');
  });

  it('refuses a domain that is not local with failed/domain and changes nothing anywhere', async () => {
    const username = extensionNumber();
    const domain = `${tag()}.example`;
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/add_local', { user: `${username}@${domain}`, displayname: 'Local Person' });
      expect(response.body).toEqual({ response: 'failed', cause: 'domain', detail: expect.any(String) });
    });
    expect(calls).toEqual([]);
    expect(gateway.pbx.extension(username)).toBeUndefined();
    expect(await userRows(username, domain)).toHaveLength(0);
  });

  it("answers failed/pbx with the PBX's message when the PBX refuses, and stores nothing", async () => {
    const { user, username } = localAddress();
    gateway.pbx.fail('/pbx/users/add', 'refuse');
    const response = await gateway.get('user/add_local', { user, displayname: 'Local Person' });
    expect(response.body).toEqual({ response: 'failed', cause: 'pbx', detail: 'simulated refusal' });
    expect(gateway.pbx.extension(username)).toBeUndefined();
    expect(await userRows(username)).toHaveLength(0);
    expect(await addressRows(username)).toHaveLength(0);
    // The address is free again.
    await addLocal(user);
  });

  it('refuses a local username that is not an extension number with invalid/user', async () => {
    for (const username of ['alice', '1', '1234567890123456', '12a4']) {
      const response = await gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: 'Local Person' });
      expect(response.body).toEqual({ response: 'invalid', cause: 'user', detail: expect.any(String) });
      expect(await userRows(username)).toHaveLength(0);
    }
  });

  it('accepts extension numbers of exactly 2 and 15 digits', async () => {
    // Only this test uses two-digit numbers, and the simulator and database are this file's own.
    const short = String(randomInt(10, 100));
    const long = `${extensionNumber()}${String(randomInt(0, 100_000)).padStart(5, '0')}`;
    expect(long).toHaveLength(15);
    for (const number of [short, long]) {
      const { password } = await addLocal(`${number}@${LOCAL}`);
      expect(gateway.pbx.extension(number)?.secret).toBe(password);
    }
  });

  it('refuses a missing displayname with invalid/displayname', async () => {
    const { user, username } = localAddress();
    const response = await gateway.get('user/add_local', { user });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'displayname' });
    expect(gateway.pbx.extension(username)).toBeUndefined();
  });

  describe('with dry_run=true', () => {
    it('answers as it would, with dry_run: true and no password, and changes nothing on either side', async () => {
      const address = localAddress();
      const calls = await callsDuring(async () => {
        const response = await gateway.get('user/add_local', { user: address.user, displayname: 'Local Person', dry_run: true });
        expect(response.body).toEqual({ response: 'ok', user: localUserObject(address), dry_run: true });
      });
      expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search']);
      expect(gateway.pbx.extension(address.username)).toBeUndefined();
      expect(await userRows(address.username)).toHaveLength(0);
      expect(await addressRows(address.username)).toHaveLength(0);
      // Not even the extension's lock row (a dry run changes nothing anywhere).
      expect(await gateway.query('SELECT number FROM pbx_extensions WHERE number = ?', [address.username])).toHaveLength(0);
      await addLocal(address.user);
    });

    it('still refuses an extension that exists on the PBX with failed/exists', async () => {
      const { user, username } = localAddress();
      seedExtension(username);
      const response = await gateway.get('user/add_local', { user, displayname: 'Local Person', dry_run: true });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
    });

    it('still refuses a domain that is not local with failed/domain', async () => {
      const response = await gateway.get('user/add_local', {
        user: `${extensionNumber()}@${tag()}.example`,
        displayname: 'Local Person',
        dry_run: true,
      });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'domain' });
    });
  });

  it('works in a domain made local through domains/add', async () => {
    const domain = `${tag()}.example`;
    expect((await gateway.get('domains/add', { domain, local: true })).body.response).toBe('ok');
    const username = extensionNumber();
    const { user } = await addLocal(`${username}@${domain}`);
    expect(user).toMatchObject({ user: `${username}@${domain}`, kind: 'local' });
    expect(gateway.pbx.extension(username)).toBeDefined();
  });
});

describe('user/get and user/list', () => {
  it('user/get answers the local user object without a password', async () => {
    const address = localAddress();
    await addLocal(address.user, { email: 'get@example.com' });
    const response = await gateway.get('user/get', { user: address.user });
    expect(response.body).toEqual({ response: 'ok', user: localUserObject(address, { email: 'get@example.com' }) });
    expect(JSON.stringify(response.body)).not.toContain((await userRows(address.username))[0].password as string);
  });

  it('user/list shows local users with their displayname, in address order', async () => {
    const prefix = `7${String(randomInt(0, 100_000_000)).padStart(8, '0')}`;
    const numbers = [`${prefix}3`, `${prefix}1`, `${prefix}2`];
    for (const number of numbers) await addLocal(`${number}@${LOCAL}`, { displayname: `Person ${number}` });
    const response = await gateway.get('user/list', { search: `${prefix}?@${LOCAL}` });
    expect(response.body).toEqual({
      response: 'ok',
      users: [...numbers].sort().map((number) => ({ user: `${number}@${LOCAL}`, displayname: `Person ${number}` })),
    });
  });
});

describe('user/available', () => {
  it('answers ok with cause nonexistant for a free local address', async () => {
    const response = await gateway.get('user/available', { user: localAddress().user });
    expect(response.body).toEqual({ response: 'ok', cause: 'nonexistant' });
  });

  it('answers failed/exists for a local user', async () => {
    const { user } = await newLocalUser();
    expect((await gateway.get('user/available', { user })).body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
  });

  it('answers failed/exists when only the PBX has the extension', async () => {
    const { user, username } = localAddress();
    seedExtension(username);
    expect((await gateway.get('user/available', { user })).body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
  });

  it('does not ask the PBX about an address in a remote domain', async () => {
    const username = extensionNumber();
    seedExtension(username);
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/available', { user: `${username}@${tag()}.example` })).body).toEqual({
        response: 'ok',
        cause: 'nonexistant',
      });
    });
    expect(calls).toEqual([]);
  });
});

describe('user/change_pw', () => {
  it('gives the PBX the new secret and stores it, with one users/search and one users/update', async () => {
    const { user, username } = await newLocalUser();
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/change_pw', { user, password: 'New-Secret-42' });
      expect(response.body).toEqual({ response: 'ok', detail: expect.any(String) });
      expect(response.body.detail).not.toContain('New-Secret-42');
    });
    expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search', '/pbx/users/update']);
    expect(calls[1].body.secret).toBe('New-Secret-42');
    expect(gateway.pbx.extension(username)?.secret).toBe('New-Secret-42');
    expect((await userRows(username))[0].password).toBe('New-Secret-42');
  });

  it('sends the whole object back with its _id and changes nothing else on the PBX', async () => {
    const { user, username } = await newLocalUser({ email: 'whole@example.com' });
    const before = gateway.pbx.extension(username) as Extension;
    const calls = await callsDuring(() => gateway.get('user/change_pw', { user, password: 'Whole-Object-1' }));
    expect(calls[1].body).toEqual({ ...before, secret: 'Whole-Object-1' });
    expect(gateway.pbx.extension(username)).toEqual({ ...before, secret: 'Whole-Object-1' });
  });

  it('accepts the same password again', async () => {
    const { user, username, password } = await newLocalUser();
    expect((await gateway.get('user/change_pw', { user, password })).body.response).toBe('ok');
    expect(gateway.pbx.extension(username)?.secret).toBe(password);
    expect((await userRows(username))[0].password).toBe(password);
  });

  it('sets a password on an imported extension the gateway held none for', async () => {
    const { user, username } = await importedUser();
    expect((await gateway.get('user/change_pw', { user, password: 'Imported-New-1' })).body.response).toBe('ok');
    expect(gateway.pbx.extension(username)?.secret).toBe('Imported-New-1');
    expect((await userRows(username))[0].password).toBe('Imported-New-1');
  });

  it('answers failed/nonexistant for an unknown local user without asking the PBX', async () => {
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/change_pw', { user: localAddress().user, password: 'Nobody-Secret1' });
      expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
    });
    expect(calls).toEqual([]);
  });

  it('answers failed/pbx and keeps the stored password when the extension is gone from the PBX', async () => {
    const { user, username } = await recordWithoutExtension('Known-Secret-1');
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/change_pw', { user, password: 'Gone-Secret-1' });
      expect(response.body).toEqual({ response: 'failed', cause: 'pbx', detail: expect.any(String) });
    });
    expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search']);
    expect(gateway.pbx.extension(username)).toBeUndefined();
    expect((await userRows(username))[0].password).toBe('Known-Secret-1');
  });
});

describe('the masked secret', () => {
  it('is never sent back to the PBX: updates carry the password the gateway holds', async () => {
    const { user, username, password } = await newLocalUser();
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/change_email', { user, email: 'mask@example.com' })).body.response).toBe('ok');
      expect((await gateway.get('user/update', { user, displayname: 'Masked Person' })).body.response).toBe('ok');
      expect((await gateway.get('user/forward', { user, busy: '+4712345678' })).body.response).toBe('ok');
    });
    const updates = calls.filter((call) => call.path === '/pbx/users/update');
    expect(updates).toHaveLength(3);
    for (const update of updates) expect(update.body.secret).toBe(password);
    expectNoMaskedSecret(calls);
    expect(gateway.pbx.extension(username)?.secret).toBe(password);
  });

  it('is left out of updates to an imported extension the gateway holds no password for', async () => {
    const { user, username } = await importedUser();
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/change_email', { user, email: 'imported@example.com' })).body.response).toBe('ok');
      expect((await gateway.get('user/update', { user, displayname: 'Renamed Import' })).body.response).toBe('ok');
      expect((await gateway.get('user/forward', { user, all: '+4798765432' })).body.response).toBe('ok');
    });
    const updates = calls.filter((call) => call.path === '/pbx/users/update');
    expect(updates).toHaveLength(3);
    for (const update of updates) expect(Object.keys(update.body)).not.toContain('secret');
    expectNoMaskedSecret(calls);
    expect(gateway.pbx.extension(username)).toMatchObject({
      secret: 'Unknown-Secret7',
      email: 'imported@example.com',
      name: 'Renamed Import',
      forward_policy: { All: '+4798765432' },
    });
    expect((await userRows(username))[0].password).toBeNull();
  });

  it('is never answered to clients: no node shows the stored password', async () => {
    const { user, password } = await newLocalUser();
    for (const [node, params] of [
      ['user/get', {}],
      ['user/update', { linetext: 'Line' }],
      ['user/forward', {}],
      ['user/change_email', { email: 'x@example.com' }],
    ] as const) {
      const response = await gateway.get(node, { user, ...params });
      expect(response.body.response).toBe('ok');
      expect(JSON.stringify(response.body)).not.toContain(password);
      expect(JSON.stringify(response.body)).not.toContain(MASKED_SECRET);
    }
  });
});

describe('user/change_email', () => {
  it('changes the e-mail on the PBX and in MySQL, with one users/search and one users/update', async () => {
    const { user, username, password } = await newLocalUser({ email: 'old@example.com' });
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/change_email', { user, email: 'new@example.com' });
      expect(response.body).toEqual({ response: 'ok', user, email: 'new@example.com' });
    });
    expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search', '/pbx/users/update']);
    expect(gateway.pbx.extension(username)).toMatchObject({ email: 'new@example.com', secret: password });
    expect((await userRows(username))[0].email).toBe('new@example.com');
    expect((await gateway.get('user/get', { user })).body.user.email).toBe('new@example.com');
  });

  it('clears the e-mail with an empty value on both sides', async () => {
    const { user, username } = await newLocalUser({ email: 'clear@example.com' });
    expect((await gateway.get('user/change_email', { user, email: '' })).body).toEqual({ response: 'ok', user, email: '' });
    expect(gateway.pbx.extension(username)?.email).toBe('');
    expect((await userRows(username))[0].email).toBe('');
  });

  it('answers failed/domain for a remote user and does not touch the PBX', async () => {
    const remote = `${extensionNumber()}@${tag()}.example`;
    await addRemote(remote);
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/change_email', { user: remote, email: 'remote@example.com' });
      expect(response.body).toEqual({ response: 'failed', cause: 'domain', detail: expect.any(String) });
    });
    expect(calls).toEqual([]);
    const [username, domain] = remote.split('@');
    expect((await userRows(username, domain))[0].email).toBe('');
  });

  it('answers failed/nonexistant for an unknown user', async () => {
    const response = await gateway.get('user/change_email', { user: localAddress().user, email: 'nobody@example.com' });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('refuses a malformed e-mail with invalid/email and changes nothing', async () => {
    const { user, username } = await newLocalUser({ email: 'kept@example.com' });
    const response = await gateway.get('user/change_email', { user, email: 'not an email' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'email' });
    expect(gateway.pbx.extension(username)?.email).toBe('kept@example.com');
  });
});

describe('user/update', () => {
  it('sends displayname and email to the PBX and stores them, with one users/search and one users/update', async () => {
    const { user, username, domain, password } = await newLocalUser();
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/update', { user, displayname: 'New Name', email: 'upd@example.com' });
      expect(response.body).toEqual({
        response: 'ok',
        user: localUserObject({ user, username, domain }, { displayname: 'New Name', email: 'upd@example.com' }),
      });
    });
    expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search', '/pbx/users/update']);
    expect(gateway.pbx.extension(username)).toMatchObject({ name: 'New Name', email: 'upd@example.com', secret: password });
    expect((await userRows(username))[0]).toMatchObject({ displayname: 'New Name', email: 'upd@example.com' });
  });

  it('keeps dialplan and linetext in MySQL only: the PBX is not called and the extension stays as it was', async () => {
    const { user, username, domain } = await newLocalUser({ email: 'same@example.com' });
    const before = gateway.pbx.extension(username);
    const callsBefore = gateway.pbx.calls.length;
    const response = await gateway.get('user/update', { user, dialplan: '(0[0-9]*)', linetext: 'Desk 4' });
    expect(response.body).toEqual({
      response: 'ok',
      user: localUserObject({ user, username, domain }, { email: 'same@example.com', dialplan: '(0[0-9]*)', linetext: 'Desk 4' }),
    });
    expect(gateway.pbx.extension(username)).toEqual(before);
    // Nothing the PBX keeps changed, so it is not asked (not even users/search).
    expect(gateway.pbx.calls.slice(callsBefore)).toEqual([]);
    expect((await userRows(username))[0]).toMatchObject({ dialplan: '(0[0-9]*)', linetext: 'Desk 4' });
  });

  it('keeps the fields it is not given, on both sides', async () => {
    const { user, username } = await newLocalUser({ email: 'keep@example.com' });
    expect((await gateway.get('user/update', { user, displayname: 'Only Name' })).body.response).toBe('ok');
    expect(gateway.pbx.extension(username)).toMatchObject({ name: 'Only Name', email: 'keep@example.com' });
    expect((await userRows(username))[0]).toMatchObject({ displayname: 'Only Name', email: 'keep@example.com' });
  });

  it('refuses remote-only settings for a local user with failed/domain and changes nothing', async () => {
    const { user, username } = await newLocalUser();
    const before = gateway.pbx.extension(username);
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/update', { user, displayname: 'Changed', registrar: 'sip.example.com' });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'domain' });
    });
    expect(calls).toEqual([]);
    expect(gateway.pbx.extension(username)).toEqual(before);
    expect((await userRows(username))[0].displayname).toBe('Local Person');
  });

  it('refuses a request without any field with invalid/parameters', async () => {
    const { user } = await newLocalUser();
    expect((await gateway.get('user/update', { user })).body).toMatchObject({ response: 'invalid', cause: 'parameters' });
  });

  it('answers failed/nonexistant for an unknown local user', async () => {
    const response = await gateway.get('user/update', { user: localAddress().user, displayname: 'Nobody' });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });
});

describe('user/forward', () => {
  it('only reads with no forward parameter: one users/search and no write', async () => {
    const { user, username } = await newLocalUser();
    const before = gateway.pbx.extension(username);
    const calls = await callsDuring(async () => {
      const response = await gateway.get('user/forward', { user });
      expect(response.body).toEqual({ response: 'ok', user, forward: { busy: '', no_answer: '', unavailable: '', all: '' } });
    });
    expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search']);
    expect(gateway.pbx.extension(username)).toEqual(before);
  });

  it('reads the policy as the PBX has it', async () => {
    const { user, username } = await importedUser();
    const current = gateway.pbx.extension(username) as Extension;
    gateway.pbx.seed({ ...current, forward_policy: { Busy: '100', 'No Answer': '+4711111111', UnAvailable: '', All: '200' } });
    const response = await gateway.get('user/forward', { user });
    expect(response.body.forward).toEqual({ busy: '100', no_answer: '+4711111111', unavailable: '', all: '200' });
  });

  it('sets each forward, keeps the others and uses the PBX key names, with one users/search and one users/update each', async () => {
    const { user, username } = await newLocalUser();
    const steps: [Params, Record<string, string>][] = [
      [{ busy: '+4711111111' }, { busy: '+4711111111', no_answer: '', unavailable: '', all: '' }],
      [{ no_answer: '22222' }, { busy: '+4711111111', no_answer: '22222', unavailable: '', all: '' }],
      [{ unavailable: '+4733333333' }, { busy: '+4711111111', no_answer: '22222', unavailable: '+4733333333', all: '' }],
      [{ all: '44444' }, { busy: '+4711111111', no_answer: '22222', unavailable: '+4733333333', all: '44444' }],
    ];
    for (const [params, forward] of steps) {
      const calls = await callsDuring(async () => {
        const response = await gateway.get('user/forward', { user, ...params });
        expect(response.body).toEqual({ response: 'ok', user, forward });
      });
      expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search', '/pbx/users/update']);
      expect(Object.keys(calls[1].body.forward_policy as object).sort()).toEqual(['All', 'Busy', 'No Answer', 'UnAvailable']);
    }
    const policy = gateway.pbx.extension(username)?.forward_policy;
    expect(policy).toEqual({ Busy: '+4711111111', 'No Answer': '22222', UnAvailable: '+4733333333', All: '44444' });
    expect(Object.keys(policy as object).sort()).toEqual(['All', 'Busy', 'No Answer', 'UnAvailable']);
  });

  it('sets several at once and clears one with an empty value', async () => {
    const { user, username } = await newLocalUser();
    await gateway.get('user/forward', { user, busy: '111', no_answer: '222', unavailable: '333', all: '444' });
    const response = await gateway.get('user/forward', { user, no_answer: '', all: '' });
    expect(response.body.forward).toEqual({ busy: '111', no_answer: '', unavailable: '333', all: '' });
    expect(gateway.pbx.extension(username)?.forward_policy).toEqual({ Busy: '111', 'No Answer': '', UnAvailable: '333', All: '' });
  });

  it('leaves the rest of the extension and the MySQL row as they were', async () => {
    const { user, username, password } = await newLocalUser({ email: 'fwd@example.com' });
    const before = gateway.pbx.extension(username) as Extension;
    const rowBefore = (await userRows(username))[0];
    await gateway.get('user/forward', { user, busy: '555' });
    expect(gateway.pbx.extension(username)).toEqual({ ...before, forward_policy: { ...before.forward_policy, Busy: '555' } });
    expect((await userRows(username))[0]).toMatchObject({ displayname: rowBefore.displayname, email: rowBefore.email, password });
  });

  it('answers failed/domain for a remote user without asking the PBX', async () => {
    const remote = `${extensionNumber()}@${tag()}.example`;
    await addRemote(remote);
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/forward', { user: remote })).body).toEqual({ response: 'failed', cause: 'domain', detail: expect.any(String) });
      expect((await gateway.get('user/forward', { user: remote, busy: '123' })).body).toMatchObject({ response: 'failed', cause: 'domain' });
    });
    expect(calls).toEqual([]);
  });

  it('answers failed/nonexistant for an unknown user', async () => {
    const response = await gateway.get('user/forward', { user: localAddress().user, busy: '123' });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('refuses a malformed target with invalid and the parameter as cause', async () => {
    const { user, username } = await newLocalUser();
    expect((await gateway.get('user/forward', { user, busy: 'abc' })).body).toMatchObject({ response: 'invalid', cause: 'busy' });
    expect(gateway.pbx.extension(username)?.forward_policy.Busy).toBe('');
  });
});

describe('user/remove', () => {
  it('removes the extension and the record, with one users/search and one users/remove', async () => {
    const { user, username } = await newLocalUser();
    const id = gateway.pbx.extension(username)?._id;
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/remove', { user })).body).toEqual({ response: 'ok', user });
    });
    expect(calls).toEqual([
      { path: '/pbx/users/search', body: expect.anything() },
      { path: '/pbx/users/remove', body: { _id: id } },
    ]);
    expect(gateway.pbx.extension(username)).toBeUndefined();
    expect(await userRows(username)).toHaveLength(0);
    expect(await addressRows(username)).toHaveLength(0);
    expect((await gateway.get('user/available', { user })).body).toEqual({ response: 'ok', cause: 'nonexistant' });
  });

  it('lets the address be added again afterwards, with a new password', async () => {
    const { user, username, password } = await newLocalUser();
    expect((await gateway.get('user/remove', { user })).body.response).toBe('ok');
    const again = await addLocal(user);
    expect(again.password).not.toBe(password);
    expect(gateway.pbx.extension(username)?.secret).toBe(again.password);
  });

  it('removes only the exact extension, not one whose number starts with it', async () => {
    const { user, username } = await newLocalUser();
    seedExtension(`${username}9`);
    expect((await gateway.get('user/remove', { user })).body.response).toBe('ok');
    expect(gateway.pbx.extension(username)).toBeUndefined();
    expect(gateway.pbx.extension(`${username}9`)).toBeDefined();
  });

  it('refuses with failed/inuse while a hardphone points at the user, and the PBX keeps the extension', async () => {
    const { user, username } = await newLocalUser();
    const before = gateway.pbx.extension(username);
    const mac = randomBytes(6).toString('hex');
    expect((await gateway.get('phone/add', { mac, user })).body.response).toBe('ok');
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/remove', { user })).body).toEqual({ response: 'failed', cause: 'inuse', detail: expect.any(String) });
    });
    expect(calls.filter((call) => call.path === '/pbx/users/remove')).toEqual([]);
    expect(gateway.pbx.extension(username)).toEqual(before);
    expect(await userRows(username)).toHaveLength(1);

    expect((await gateway.get('phone/remove', { mac, user })).body.response).toBe('ok');
    expect((await gateway.get('user/remove', { user })).body.response).toBe('ok');
    expect(gateway.pbx.extension(username)).toBeUndefined();
  });

  it('refuses with failed/inuse while an alias points at the user, and the PBX keeps the extension', async () => {
    const { user, username } = await newLocalUser();
    const before = gateway.pbx.extension(username);
    const alias = `${tag()}@${LOCAL}`;
    expect((await gateway.get('alias/add', { alias, destination: user })).body.response).toBe('ok');
    expect((await gateway.get('user/remove', { user })).body).toEqual({ response: 'failed', cause: 'inuse', detail: expect.any(String) });
    expect(gateway.pbx.extension(username)).toEqual(before);
    expect(await userRows(username)).toHaveLength(1);
    expect(await addressRows(username)).toEqual([{ owner: 'user' }]);

    expect((await gateway.get('alias/remove', { alias })).body.response).toBe('ok');
    expect((await gateway.get('user/remove', { user })).body.response).toBe('ok');
    expect(gateway.pbx.extension(username)).toBeUndefined();
  });

  it('removes a user whose extension is already gone from the PBX, sending no users/remove', async () => {
    const { user, username } = await recordWithoutExtension('Known-Secret-2');
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/remove', { user })).body).toEqual({ response: 'ok', user });
    });
    expect(calls.map((call) => call.path)).toEqual(['/pbx/users/search']);
    expect(await userRows(username)).toHaveLength(0);
    expect(await addressRows(username)).toHaveLength(0);
  });

  it('answers failed/nonexistant for an unknown local user without touching the PBX', async () => {
    const calls = await callsDuring(async () => {
      expect((await gateway.get('user/remove', { user: localAddress().user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    });
    expect(calls).toEqual([]);
  });
});
