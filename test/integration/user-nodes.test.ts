import { randomBytes } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { withHeldPassword, type PasswordColumns } from '../helpers/secrets';

// CONTRACT sections 4 and 5 (user/*), for remote users. Every test makes its own addresses, so
// nothing depends on the order the tests run in.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

type Params = Record<string, string | number | boolean>;

const PASSWORD = 'Remote-Secret1';

/** A fresh lower-case token, safe in usernames and domain labels. */
function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** A remote domain no other test uses. */
function remoteDomain(): string {
  return `${tag()}.example`;
}

function remoteAddress(username = tag()): { user: string; username: string; domain: string } {
  const domain = remoteDomain();
  return { user: `${username}@${domain}`, username, domain };
}

async function addRemote(user: string, extra: Params = {}): Promise<Record<string, unknown>> {
  const response = await gateway.get('user/add_remote', {
    user,
    password: PASSWORD,
    displayname: 'Remote Person',
    registrar: 'sip.provider.example',
    ...extra,
  });
  expect(response.body).toMatchObject({ response: 'ok' });
  return response.body.user;
}

async function userRows(username: string, domain: string): Promise<Record<string, unknown>[]> {
  const rows = await gateway.query<Record<string, unknown> & PasswordColumns>('SELECT * FROM users WHERE username = ? AND domain = ?', [username, domain]);
  // The password is held sealed (CONTRACT section 9): the rows show it opened.
  return rows.map((row) => withHeldPassword(gateway.container.secrets, row));
}

async function addressRows(username: string, domain: string): Promise<Record<string, unknown>[]> {
  return gateway.query('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [username, domain]);
}

function remoteUserObject(address: { user: string; username: string; domain: string }, overrides: Params = {}): Record<string, unknown> {
  return {
    user: address.user,
    username: address.username,
    domain: address.domain,
    kind: 'remote',
    displayname: 'Remote Person',
    email: '',
    dialplan: '',
    linetext: '',
    registrar: 'sip.provider.example',
    r_port: 5060,
    proxy: '',
    p_port: 5060,
    authid: address.username,
    ...overrides,
  };
}

describe('user/add_remote', () => {
  it('adds a remote user with the default settings and answers the user object', async () => {
    const address = remoteAddress();
    const response = await gateway.get('user/add_remote', {
      user: address.user,
      password: PASSWORD,
      displayname: 'Remote Person',
      registrar: 'sip.provider.example',
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address) });
  });

  it('stores the provisioning record with its password and claims the address', async () => {
    const address = remoteAddress();
    await addRemote(address.user, { r_port: 5070, proxy: 'proxy.provider.example', p_port: 5071, authid: 'auth-9' });
    const rows = await userRows(address.username, address.domain);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      kind: 'remote',
      displayname: 'Remote Person',
      email: '',
      password: PASSWORD,
      registrar: 'sip.provider.example',
      r_port: 5070,
      proxy: 'proxy.provider.example',
      p_port: 5071,
      authid: 'auth-9',
    });
    expect(await addressRows(address.username, address.domain)).toEqual([{ owner: 'user' }]);
  });

  it('takes every optional setting and shows it in the user object', async () => {
    const address = remoteAddress();
    const response = await gateway.get('user/add_remote', {
      user: address.user,
      password: PASSWORD,
      displayname: 'Remote Person',
      registrar: 'sip.provider.example',
      r_port: 5080,
      proxy: 'outbound.provider.example',
      p_port: 5090,
      authid: 'auth.id-1',
      dialplan: '(0[0-9]*|1[0-9]{2})',
      linetext: 'Line 1',
    });
    const expected = remoteUserObject(address, {
      r_port: 5080,
      proxy: 'outbound.provider.example',
      p_port: 5090,
      authid: 'auth.id-1',
      dialplan: '(0[0-9]*|1[0-9]{2})',
      linetext: 'Line 1',
    });
    expect(response.body).toEqual({ response: 'ok', user: expected });
    expect((await gateway.get('user/get', { user: address.user })).body).toEqual({ response: 'ok', user: expected });
  });

  it('takes the username and domain form and lower-cases the domain', async () => {
    const username = `Mixed.Case_${tag()}+x`;
    const domain = remoteDomain();
    const response = await gateway.get('user/add_remote', {
      username,
      domain: domain.toUpperCase(),
      password: PASSWORD,
      displayname: 'Remote Person',
      registrar: 'SIP.Provider.Example',
    });
    expect(response.body).toEqual({
      response: 'ok',
      user: remoteUserObject({ user: `${username}@${domain}`, username, domain }),
    });
    expect(await userRows(username, domain)).toHaveLength(1);
    expect(await gateway.query('SELECT domain FROM users WHERE username = ?', [username])).toEqual([{ domain }]);
  });

  it('takes its parameters as a POST JSON body', async () => {
    const address = remoteAddress();
    const response = await gateway.post('user/add_remote', {
      user: address.user,
      password: PASSWORD,
      displayname: 'Posted Person',
      registrar: 'sip.provider.example',
      r_port: 5062,
    });
    expect(response.body).toEqual({
      response: 'ok',
      user: remoteUserObject(address, { displayname: 'Posted Person', r_port: 5062 }),
    });
  });

  it('never echoes the password', async () => {
    const address = remoteAddress();
    const secret = `Unique-${tag()}`;
    const response = await gateway.get('user/add_remote', {
      user: address.user,
      password: secret,
      displayname: 'Remote Person',
      registrar: 'sip.provider.example',
    });
    expect(response.body.response).toBe('ok');
    expect(response.body.user).not.toHaveProperty('password');
    expect(response.text).not.toContain(secret);
  });

  it('refuses an address a user has already with failed/exists and keeps the first record', async () => {
    const address = remoteAddress();
    await addRemote(address.user, { displayname: 'First' });
    const response = await gateway.get('user/add_remote', {
      user: address.user,
      password: 'Other-Secret2',
      displayname: 'Second',
      registrar: 'other.provider.example',
    });
    expect(response.body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    const rows = await userRows(address.username, address.domain);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ displayname: 'First', password: PASSWORD, registrar: 'sip.provider.example' });
  });

  it('refuses the same address with the domain in another case with failed/exists', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/add_remote', {
      user: `${address.username}@${address.domain.toUpperCase()}`,
      password: PASSWORD,
      displayname: 'Remote Person',
      registrar: 'sip.provider.example',
    });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
    expect(await userRows(address.username, address.domain)).toHaveLength(1);
  });

  it('refuses a local domain with failed/domain and stores nothing', async () => {
    const username = tag();
    for (const domain of ['pbx.local', 'PBX.Local']) {
      const response = await gateway.get('user/add_remote', {
        user: `${username}@${domain}`,
        password: PASSWORD,
        displayname: 'Remote Person',
        registrar: 'sip.provider.example',
      });
      expect(response.body).toEqual({ response: 'failed', cause: 'domain', detail: expect.any(String) });
    }
    expect(await userRows(username, 'pbx.local')).toHaveLength(0);
    expect(await addressRows(username, 'pbx.local')).toHaveLength(0);
  });

  it('refuses a domain that was made local through domains/add with failed/domain', async () => {
    const domain = remoteDomain();
    expect((await gateway.get('domains/add', { domain, local: true })).body).toMatchObject({ response: 'ok' });
    const username = tag();
    const response = await gateway.get('user/add_remote', {
      user: `${username}@${domain}`,
      password: PASSWORD,
      displayname: 'Remote Person',
      registrar: 'sip.provider.example',
    });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'domain' });
    expect(await userRows(username, domain)).toHaveLength(0);
  });

  describe('refuses malformed values with invalid and the parameter as cause', () => {
    const cases: [string, Params, string][] = [
      ['a password of 7 characters', { password: 'Short-7' }, 'password'],
      ['a password of 65 characters', { password: 'x'.repeat(65) }, 'password'],
      ['a password with a space', { password: 'has a space1' }, 'password'],
      ['a password with a non-ASCII character', { password: 'pässwörd-123' }, 'password'],
      ['an empty password', { password: '' }, 'password'],
      ['a SIP address without @', { user: 'no-at-sign.example' }, 'user'],
      ['a SIP address with an empty username', { user: '@remote.example' }, 'user'],
      ['a SIP address with a space in the username', { user: 'two words@remote.example' }, 'user'],
      ['a SIP address with a username over 64 characters', { user: `${'u'.repeat(65)}@remote.example` }, 'user'],
      ['a SIP address with a malformed domain', { user: 'someone@bad_domain..example' }, 'user'],
      ['a registrar that is no host name', { registrar: 'not a host' }, 'registrar'],
      ['a port of 0', { r_port: 0 }, 'r_port'],
      ['a port over 65535', { p_port: 65536 }, 'p_port'],
      ['a port that is no number', { r_port: 'five' }, 'r_port'],
      ['a malformed proxy', { proxy: 'proxy_host!' }, 'proxy'],
      ['a malformed authid', { authid: 'auth id' }, 'authid'],
      ['a displayname with a control character', { displayname: 'bad\u0007name' }, 'displayname'],
      ['an empty displayname', { displayname: '' }, 'displayname'],
      ['a dry_run that is no boolean', { dry_run: 'perhaps' }, 'dry_run'],
      ['an email, which is no parameter of this node', { email: 'someone@example.com' }, 'parameter'],
    ];
    it.each(cases)('refuses %s', async (_what, override, cause) => {
      const address = remoteAddress();
      const response = await gateway.get('user/add_remote', {
        user: address.user,
        password: PASSWORD,
        displayname: 'Remote Person',
        registrar: 'sip.provider.example',
        ...override,
      });
      expect(response.body).toEqual({ response: 'invalid', cause, detail: expect.any(String) });
      expect(await userRows(address.username, address.domain)).toHaveLength(0);
    });
  });

  describe('refuses a missing required parameter with invalid and its name as cause', () => {
    it.each(['password', 'displayname', 'registrar'])('refuses a request without %s', async (missing) => {
      const address = remoteAddress();
      const params: Params = {
        user: address.user,
        password: PASSWORD,
        displayname: 'Remote Person',
        registrar: 'sip.provider.example',
      };
      delete params[missing];
      const response = await gateway.get('user/add_remote', params);
      expect(response.body).toEqual({ response: 'invalid', cause: missing, detail: expect.any(String) });
      expect(await userRows(address.username, address.domain)).toHaveLength(0);
    });

    it('refuses a request without a user with cause user', async () => {
      const response = await gateway.get('user/add_remote', {
        password: PASSWORD,
        displayname: 'Remote Person',
        registrar: 'sip.provider.example',
      });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'user' });
    });
  });

  describe('with dry_run=true', () => {
    it('answers as it would, with dry_run: true, and stores nothing', async () => {
      const address = remoteAddress();
      const response = await gateway.get('user/add_remote', {
        user: address.user,
        password: PASSWORD,
        displayname: 'Remote Person',
        registrar: 'sip.provider.example',
        r_port: 5099,
        dry_run: true,
      });
      expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address, { r_port: 5099 }), dry_run: true });
      expect(response.text).not.toContain(PASSWORD);
      expect(await userRows(address.username, address.domain)).toHaveLength(0);
      expect(await addressRows(address.username, address.domain)).toHaveLength(0);
      expect((await gateway.get('user/available', { user: address.user })).body).toEqual({ response: 'ok', cause: 'nonexistant' });
      expect((await gateway.get('user/get', { user: address.user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    });

    it('leaves the address free for a real add afterwards', async () => {
      const address = remoteAddress();
      const params = { user: address.user, password: PASSWORD, displayname: 'Remote Person', registrar: 'sip.provider.example' };
      expect((await gateway.get('user/add_remote', { ...params, dry_run: true })).body.response).toBe('ok');
      const real = await gateway.get('user/add_remote', params);
      expect(real.body).toEqual({ response: 'ok', user: remoteUserObject(address) });
      expect(await userRows(address.username, address.domain)).toHaveLength(1);
    });

    it('still refuses a taken address with failed/exists', async () => {
      const address = remoteAddress();
      await addRemote(address.user, { displayname: 'Keeper' });
      const response = await gateway.get('user/add_remote', {
        user: address.user,
        password: PASSWORD,
        displayname: 'Intruder',
        registrar: 'sip.provider.example',
        dry_run: true,
      });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
      expect((await userRows(address.username, address.domain))[0]).toMatchObject({ displayname: 'Keeper' });
    });

    it('still refuses a local domain with failed/domain', async () => {
      const response = await gateway.get('user/add_remote', {
        user: `${tag()}@pbx.local`,
        password: PASSWORD,
        displayname: 'Remote Person',
        registrar: 'sip.provider.example',
        dry_run: true,
      });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'domain' });
    });

    it('still refuses a short password with invalid/password', async () => {
      const address = remoteAddress();
      const response = await gateway.get('user/add_remote', {
        user: address.user,
        password: 'short',
        displayname: 'Remote Person',
        registrar: 'sip.provider.example',
        dry_run: true,
      });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'password' });
    });
  });

  it('with dry_run=false adds the user and answers without dry_run', async () => {
    const address = remoteAddress();
    const response = await gateway.get('user/add_remote', {
      user: address.user,
      password: PASSWORD,
      displayname: 'Remote Person',
      registrar: 'sip.provider.example',
      dry_run: false,
    });
    expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address) });
    expect(await userRows(address.username, address.domain)).toHaveLength(1);
  });
});

describe('user/get', () => {
  it('answers the user object with exactly its members and no password', async () => {
    const address = remoteAddress();
    await addRemote(address.user, { dialplan: '(.*)', linetext: 'Desk' });
    const response = await gateway.get('user/get', { user: address.user });
    expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address, { dialplan: '(.*)', linetext: 'Desk' }) });
    expect(Object.keys(response.body.user).sort()).toEqual(
      ['authid', 'dialplan', 'displayname', 'domain', 'email', 'kind', 'linetext', 'p_port', 'proxy', 'r_port', 'registrar', 'user', 'username'].sort(),
    );
    expect(response.text).not.toContain(PASSWORD);
  });

  it('finds the user through either form and any case of the domain', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const expected = { response: 'ok', user: remoteUserObject(address) };
    expect((await gateway.get('user/get', { user: `${address.username}@${address.domain.toUpperCase()}` })).body).toEqual(expected);
    expect((await gateway.get('user/get', { username: address.username, domain: address.domain })).body).toEqual(expected);
    expect((await gateway.post('user/get', { username: address.username, domain: address.domain.toUpperCase() })).body).toEqual(expected);
  });

  it('treats the username as case-sensitive', async () => {
    const address = remoteAddress(`lower${tag()}`);
    await addRemote(address.user);
    const response = await gateway.get('user/get', { user: `${address.username.toUpperCase()}@${address.domain}` });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('does not include hardphone associations', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const mac = randomBytes(6).toString('hex');
    expect((await gateway.get('phone/add', { mac, user: address.user })).body.response).toBe('ok');
    const response = await gateway.get('user/get', { user: address.user });
    expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address) });
    expect(response.text).not.toContain(mac);
  });

  it('answers failed/nonexistant for an unknown address', async () => {
    const response = await gateway.get('user/get', { user: `${tag()}@nowhere.example` });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('answers failed/nonexistant for an unknown address in the local domain', async () => {
    const response = await gateway.get('user/get', { user: `${tag()}@pbx.local` });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('refuses a malformed address with invalid/user', async () => {
    const response = await gateway.get('user/get', { user: 'not-an-address' });
    expect(response.body).toEqual({ response: 'invalid', cause: 'user', detail: expect.any(String) });
  });

  it('refuses an unknown parameter with invalid/parameter', async () => {
    const address = remoteAddress();
    const response = await gateway.get('user/get', { user: address.user, password: PASSWORD });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
  });
});

describe('user/list', () => {
  it('answers {user, displayname} entries ordered by address', async () => {
    const t = tag();
    const domain = remoteDomain();
    await addRemote(`${t}-charlie@${domain}`, { displayname: 'Charlie' });
    await addRemote(`${t}-alice@${domain}`, { displayname: 'Alice' });
    await addRemote(`${t}-bob@${domain}`, { displayname: 'Bob' });
    const response = await gateway.get('user/list', { search: t });
    expect(response.body).toEqual({
      response: 'ok',
      users: [
        { user: `${t}-alice@${domain}`, displayname: 'Alice' },
        { user: `${t}-bob@${domain}`, displayname: 'Bob' },
        { user: `${t}-charlie@${domain}`, displayname: 'Charlie' },
      ],
    });
  });

  it('orders by the whole address, so the domain decides between equal usernames', async () => {
    const t = tag();
    await addRemote(`${t}@zz-${t}.example`);
    await addRemote(`${t}@aa-${t}.example`);
    await addRemote(`${t}@mm-${t}.example`);
    const response = await gateway.get('user/list', { search: `${t}@` });
    expect(response.body.users.map((entry: { user: string }) => entry.user)).toEqual([
      `${t}@aa-${t}.example`,
      `${t}@mm-${t}.example`,
      `${t}@zz-${t}.example`,
    ]);
  });

  it('lists every user, in order, without a search', async () => {
    const first = remoteAddress();
    const second = remoteAddress();
    await addRemote(first.user, { displayname: 'One' });
    await addRemote(second.user, { displayname: 'Two' });
    const response = await gateway.get('user/list');
    expect(response.body.response).toBe('ok');
    const users: { user: string; displayname: string }[] = response.body.users;
    expect(users).toEqual(expect.arrayContaining([
      { user: first.user, displayname: 'One' },
      { user: second.user, displayname: 'Two' },
    ]));
    for (const entry of users) expect(Object.keys(entry).sort()).toEqual(['displayname', 'user']);
    const addresses = users.map((entry) => entry.user);
    expect(addresses).toEqual([...addresses].sort());
  });

  it('matches the search anywhere in the address (pre-post globbing)', async () => {
    const t = tag();
    const domain = remoteDomain();
    await addRemote(`pre${t}post@${domain}`);
    const middle = t.slice(2, 8);
    for (const search of [middle, `pre${t}`, `${t}post`, `post@${domain}`, domain]) {
      const response = await gateway.get('user/list', { search });
      expect(response.body.users.map((entry: { user: string }) => entry.user)).toContain(`pre${t}post@${domain}`);
    }
  });

  it("treats '*' as any run of characters", async () => {
    const t = tag();
    const domain = remoteDomain();
    await addRemote(`${t}-a-long-middle-z@${domain}`);
    await addRemote(`${t}-az@${domain}`);
    await addRemote(`${t}-b-z@${domain}`);
    const response = await gateway.get('user/list', { search: `${t}-a*z@` });
    expect(response.body.users.map((entry: { user: string }) => entry.user)).toEqual([
      `${t}-a-long-middle-z@${domain}`,
      `${t}-az@${domain}`,
    ]);
  });

  it("treats '?' as exactly one character", async () => {
    const t = tag();
    const domain = remoteDomain();
    await addRemote(`${t}-a1z@${domain}`);
    await addRemote(`${t}-a12z@${domain}`);
    await addRemote(`${t}-az@${domain}`);
    const response = await gateway.get('user/list', { search: `${t}-a?z` });
    expect(response.body.users.map((entry: { user: string }) => entry.user)).toEqual([`${t}-a1z@${domain}`]);
  });

  it("takes '_' literally, not as one character", async () => {
    const t = tag();
    const domain = remoteDomain();
    await addRemote(`${t}a_b@${domain}`);
    await addRemote(`${t}axb@${domain}`);
    const response = await gateway.get('user/list', { search: `${t}a_b` });
    expect(response.body).toEqual({ response: 'ok', users: [{ user: `${t}a_b@${domain}`, displayname: 'Remote Person' }] });
  });

  it("takes '%' literally, not as any run", async () => {
    const t = tag();
    const domain = remoteDomain();
    await addRemote(`${t}ab@${domain}`);
    await addRemote(`${t}a-long-b@${domain}`);
    const response = await gateway.get('user/list', { search: `${t}a%b` });
    expect(response.body).toEqual({ response: 'ok', users: [] });
    const star = await gateway.get('user/list', { search: `${t}a*b` });
    expect(star.body.users).toHaveLength(2);
  });

  it('finds users by display name with name: anywhere in it, any case, accents ignored, a glob', async () => {
    const t = tag();
    const domain = remoteDomain();
    await addRemote(`${t}-1@${domain}`, { displayname: `Zoë ${t} Ærø` });
    await addRemote(`${t}-2@${domain}`, { displayname: `ZOE ${t}` });
    await addRemote(`${t}-3@${domain}`, { displayname: `Chloé ${t}` });
    const names = async (params: Params) => {
      const response = await gateway.get('user/list', params);
      expect(response.body.response).toBe('ok');
      return response.body.users.map((entry: { user: string; displayname: string }) => entry.user);
    };
    expect(await names({ name: `zoe ${t}` })).toEqual([`${t}-1@${domain}`, `${t}-2@${domain}`]);
    expect(await names({ name: `${t.toUpperCase()}` })).toEqual([`${t}-1@${domain}`, `${t}-2@${domain}`, `${t}-3@${domain}`]);
    expect(await names({ name: `chl?e ${t}` })).toEqual([`${t}-3@${domain}`]);
    expect(await names({ name: `z*${t} ærø` })).toEqual([`${t}-1@${domain}`]);
    // With search, both must match; the address is not looked at by name, nor the name by search.
    expect(await names({ name: t, search: `${t}-2@` })).toEqual([`${t}-2@${domain}`]);
    expect(await names({ name: `${t}-1` })).toEqual([]);
    expect(await names({ search: 'Chloé' })).not.toContain(`${t}-3@${domain}`);
    // '%' and '_' stay literal.
    expect(await names({ name: `z%${t}` })).toEqual([]);
    // Paged like any list.
    const first = await gateway.get('user/list', { name: t, limit: 2 });
    expect(first.body).toMatchObject({ users: [{ user: `${t}-1@${domain}` }, { user: `${t}-2@${domain}` }], next: `${t}-2@${domain}` });
    const second = await gateway.get('user/list', { name: t, limit: 2, after: first.body.next });
    expect(second.body).toEqual({ response: 'ok', users: [{ user: `${t}-3@${domain}`, displayname: `Chloé ${t}` }] });
  });

  it('answers an empty array when nothing matches', async () => {
    const response = await gateway.get('user/list', { search: `${tag()}-matches-nothing` });
    expect(response.body).toEqual({ response: 'ok', users: [] });
  });

  it('no longer lists a removed user', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    expect((await gateway.get('user/list', { search: address.user })).body.users).toHaveLength(1);
    expect((await gateway.get('user/remove', { user: address.user })).body.response).toBe('ok');
    expect((await gateway.get('user/list', { search: address.user })).body).toEqual({ response: 'ok', users: [] });
  });

  it('refuses an unknown parameter with invalid/parameter', async () => {
    const response = await gateway.get('user/list', { filter: 'x' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
  });
});

describe('user/available', () => {
  it('answers ok with cause nonexistant for a free address', async () => {
    const response = await gateway.get('user/available', { user: `${tag()}@${remoteDomain()}` });
    expect(response.body).toEqual({ response: 'ok', cause: 'nonexistant' });
  });

  it('answers ok with cause nonexistant for a free address in the local domain', async () => {
    const response = await gateway.get('user/available', { user: `${tag()}@pbx.local` });
    expect(response.body).toEqual({ response: 'ok', cause: 'nonexistant' });
  });

  it('answers failed/exists for an address a remote user has', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/available', { user: address.user });
    expect(response.body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    const other = await gateway.get('user/available', { username: address.username, domain: address.domain.toUpperCase() });
    expect(other.body).toMatchObject({ response: 'failed', cause: 'exists' });
  });

  it('answers failed/exists for an address an alias has', async () => {
    const destination = remoteAddress();
    await addRemote(destination.user);
    const alias = `${tag()}@pbx.local`;
    expect((await gateway.get('alias/add', { alias, destination: destination.user })).body.response).toBe('ok');
    const response = await gateway.get('user/available', { user: alias });
    expect(response.body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
  });

  it('answers nonexistant again once the user is removed', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    expect((await gateway.get('user/remove', { user: address.user })).body.response).toBe('ok');
    expect((await gateway.get('user/available', { user: address.user })).body).toEqual({ response: 'ok', cause: 'nonexistant' });
  });

  it('refuses a malformed address with invalid/user', async () => {
    const response = await gateway.get('user/available', { user: 'nobody@' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'user' });
  });
});

describe('user/genpw', () => {
  const GENERATED = /^[ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789]{12}$/;

  it('answers the password alone as text/plain: 12 letters and digits without look-alikes', async () => {
    const response = await gateway.get('user/genpw');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toMatch(GENERATED);
    expect(response.text).not.toMatch(/[0Oo1lI]/);
  });

  it('answers a different password each time, never with a look-alike', async () => {
    const passwords = await Promise.all(Array.from({ length: 25 }, async () => (await gateway.get('user/genpw')).text));
    for (const password of passwords) expect(password).toMatch(GENERATED);
    expect(new Set(passwords).size).toBe(passwords.length);
    // Over 300 characters, a generator that never used digits or one of the cases would stand out.
    const all = passwords.join('');
    expect(all).toMatch(/[2-9]/);
    expect(all).toMatch(/[A-Z]/);
    expect(all).toMatch(/[a-z]/);
  });

  it('makes a password that user/add_remote accepts', async () => {
    const password = (await gateway.get('user/genpw')).text;
    const address = remoteAddress();
    await addRemote(address.user, { password });
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ password });
  });

  it('answers POST the same way', async () => {
    const response = await gateway.post('user/genpw', {});
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toMatch(GENERATED);
  });

  it('refuses a parameter with a JSON invalid/parameter envelope', async () => {
    const response = await gateway.get('user/genpw', { length: 20 });
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
  });
});

describe('user/change_pw', () => {
  it('stores the new password and answers with a detail that does not show it', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/change_pw', { user: address.user, password: 'Brand-New-Pass9' });
    expect(response.body).toEqual({ response: 'ok', detail: expect.any(String) });
    expect(response.text).not.toContain('Brand-New-Pass9');
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ password: 'Brand-New-Pass9' });
  });

  it('changes nothing else of the user', async () => {
    const address = remoteAddress();
    const before = await addRemote(address.user, { r_port: 5077, linetext: 'Keep me' });
    expect((await gateway.get('user/change_pw', { user: address.user, password: 'Another-Pass8' })).body.response).toBe('ok');
    expect((await gateway.get('user/get', { user: address.user })).body).toEqual({ response: 'ok', user: before });
  });

  it('accepts the same password again', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/change_pw', { user: address.user, password: PASSWORD });
    expect(response.body).toEqual({ response: 'ok', detail: expect.any(String) });
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ password: PASSWORD });
  });

  it('takes the username and domain form with the domain in any case', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.post('user/change_pw', {
      username: address.username,
      domain: address.domain.toUpperCase(),
      password: 'Posted~Pass!7',
    });
    expect(response.body.response).toBe('ok');
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ password: 'Posted~Pass!7' });
  });

  it('answers failed/nonexistant for an unknown user', async () => {
    const response = await gateway.get('user/change_pw', { user: `${tag()}@${remoteDomain()}`, password: 'Whatever-123' });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it.each([
    ['a password of 7 characters', 'Seven-7'],
    ['a password with a space', 'with space-1'],
    ['a password of 65 characters', 'p'.repeat(65)],
  ])('refuses %s with invalid/password and keeps the old one', async (_what, password) => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/change_pw', { user: address.user, password });
    expect(response.body).toEqual({ response: 'invalid', cause: 'password', detail: expect.any(String) });
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ password: PASSWORD });
  });

  it('accepts passwords of exactly 8 and 64 characters', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    for (const password of ['Eight-8!', `${'P'.repeat(63)}!`]) {
      expect((await gateway.get('user/change_pw', { user: address.user, password })).body.response).toBe('ok');
      expect((await userRows(address.username, address.domain))[0]).toMatchObject({ password });
    }
  });

  it('refuses a missing password with invalid/password', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/change_pw', { user: address.user });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'password' });
  });
});

describe('user/update', () => {
  it('refuses a request without any field with invalid/parameters and changes nothing', async () => {
    const address = remoteAddress();
    const before = await addRemote(address.user);
    const response = await gateway.get('user/update', { user: address.user });
    expect(response.body).toEqual({ response: 'invalid', cause: 'parameters', detail: expect.any(String) });
    expect((await gateway.get('user/get', { user: address.user })).body.user).toEqual(before);
  });

  it('changes the displayname and answers the whole user object', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/update', { user: address.user, displayname: 'Renamed Person' });
    expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address, { displayname: 'Renamed Person' }) });
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ displayname: 'Renamed Person', password: PASSWORD });
  });

  it('changes every remote setting, dialplan and linetext at once', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const changes = {
      registrar: 'new-registrar.example',
      r_port: 5161,
      proxy: 'new-proxy.example',
      p_port: 5162,
      authid: 'new-auth',
      dialplan: '9(.*)',
      linetext: 'Front desk',
    };
    const response = await gateway.get('user/update', { user: address.user, ...changes });
    const expected = remoteUserObject(address, changes);
    expect(response.body).toEqual({ response: 'ok', user: expected });
    expect((await gateway.get('user/get', { user: address.user })).body).toEqual({ response: 'ok', user: expected });
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ ...changes, password: PASSWORD });
  });

  it('keeps the fields it is not given', async () => {
    const address = remoteAddress();
    await addRemote(address.user, { proxy: 'kept-proxy.example', linetext: 'Kept', dialplan: 'kept' });
    const response = await gateway.get('user/update', { user: address.user, r_port: 6000 });
    expect(response.body.user).toEqual(
      remoteUserObject(address, { proxy: 'kept-proxy.example', linetext: 'Kept', dialplan: 'kept', r_port: 6000 }),
    );
  });

  it('clears the proxy, dialplan and linetext with empty values', async () => {
    const address = remoteAddress();
    await addRemote(address.user, { proxy: 'old-proxy.example', linetext: 'Old', dialplan: 'old' });
    const response = await gateway.get('user/update', { user: address.user, proxy: '', linetext: '', dialplan: '' });
    expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address) });
  });

  it('takes a POST JSON body and the username and domain form', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.post('user/update', { username: address.username, domain: address.domain.toUpperCase(), p_port: 5999 });
    expect(response.body).toEqual({ response: 'ok', user: remoteUserObject(address, { p_port: 5999 }) });
  });

  it('refuses email for a remote user with failed/domain and changes nothing', async () => {
    const address = remoteAddress();
    const before = await addRemote(address.user);
    const response = await gateway.get('user/update', { user: address.user, email: 'someone@example.com', displayname: 'Not Applied' });
    expect(response.body).toEqual({ response: 'failed', cause: 'domain', detail: expect.any(String) });
    expect((await gateway.get('user/get', { user: address.user })).body.user).toEqual(before);
    expect((await userRows(address.username, address.domain))[0]).toMatchObject({ email: '', displayname: 'Remote Person' });
  });

  it('refuses an empty email for a remote user with failed/domain', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/update', { user: address.user, email: '' });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'domain' });
  });

  it('answers failed/nonexistant for an unknown user', async () => {
    const response = await gateway.get('user/update', { user: `${tag()}@${remoteDomain()}`, displayname: 'Nobody' });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('refuses a request without any field with invalid/parameters even for an unknown user', async () => {
    const response = await gateway.get('user/update', { user: `${tag()}@${remoteDomain()}` });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'parameters' });
  });

  describe('refuses malformed values with invalid and the parameter as cause', () => {
    const cases: [string, Params, string][] = [
      ['a port that is no number', { r_port: 'x' }, 'r_port'],
      ['a port of 0', { p_port: 0 }, 'p_port'],
      ['a registrar that is no host name', { registrar: 'bad host' }, 'registrar'],
      ['an empty registrar', { registrar: '' }, 'registrar'],
      ['a displayname over 128 characters', { displayname: 'd'.repeat(129) }, 'displayname'],
      ['a linetext over 64 characters', { linetext: 'l'.repeat(65) }, 'linetext'],
      ['a linetext with a control character', { linetext: 'tab\there' }, 'linetext'],
      ['a malformed authid', { authid: 'a/b' }, 'authid'],
      ['a malformed email', { email: 'not-an-email' }, 'email'],
      ['a password, which user/change_pw changes', { password: 'Some-Password1' }, 'parameter'],
      ['a kind, which cannot change', { kind: 'local' }, 'parameter'],
    ];
    it.each(cases)('refuses %s', async (_what, change, cause) => {
      const address = remoteAddress();
      const before = await addRemote(address.user);
      const response = await gateway.get('user/update', { user: address.user, ...change });
      expect(response.body).toEqual({ response: 'invalid', cause, detail: expect.any(String) });
      expect((await gateway.get('user/get', { user: address.user })).body.user).toEqual(before);
      expect((await userRows(address.username, address.domain))[0]).toMatchObject({ password: PASSWORD });
    });
  });
});

describe('user/remove', () => {
  it('removes the user, answers its address and frees the address', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/remove', { user: address.user });
    expect(response.body).toEqual({ response: 'ok', user: address.user });
    expect(await userRows(address.username, address.domain)).toHaveLength(0);
    expect(await addressRows(address.username, address.domain)).toHaveLength(0);
    expect((await gateway.get('user/get', { user: address.user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('lets the address be added again afterwards, with new settings', async () => {
    const address = remoteAddress();
    await addRemote(address.user, { displayname: 'Before' });
    expect((await gateway.get('user/remove', { user: address.user })).body.response).toBe('ok');
    const again = await gateway.get('user/add_remote', {
      user: address.user,
      password: 'Second-Life9',
      displayname: 'After',
      registrar: 'after.example',
    });
    expect(again.body).toEqual({
      response: 'ok',
      user: remoteUserObject(address, { displayname: 'After', registrar: 'after.example' }),
    });
    const rows = await userRows(address.username, address.domain);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ displayname: 'After', password: 'Second-Life9' });
  });

  it('takes the username and domain form and answers the canonical address', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const response = await gateway.get('user/remove', { username: address.username, domain: address.domain.toUpperCase() });
    expect(response.body).toEqual({ response: 'ok', user: address.user });
    expect(await userRows(address.username, address.domain)).toHaveLength(0);
  });

  it('answers failed/nonexistant for an unknown user', async () => {
    const response = await gateway.get('user/remove', { user: `${tag()}@${remoteDomain()}` });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('answers failed/nonexistant when removing the same user twice', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    expect((await gateway.get('user/remove', { user: address.user })).body.response).toBe('ok');
    expect((await gateway.get('user/remove', { user: address.user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('refuses with failed/inuse while a hardphone points at the user, and removes it once the phone is gone', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const mac = randomBytes(6).toString('hex');
    expect((await gateway.get('phone/add', { mac, user: address.user })).body.response).toBe('ok');
    const refused = await gateway.get('user/remove', { user: address.user });
    expect(refused.body).toEqual({ response: 'failed', cause: 'inuse', detail: expect.any(String) });
    expect(await userRows(address.username, address.domain)).toHaveLength(1);
    expect(await addressRows(address.username, address.domain)).toEqual([{ owner: 'user' }]);
    expect(await gateway.query('SELECT mac FROM phones WHERE mac = ?', [mac])).toHaveLength(1);

    expect((await gateway.get('phone/remove', { mac, user: address.user })).body.response).toBe('ok');
    expect((await gateway.get('user/remove', { user: address.user })).body).toEqual({ response: 'ok', user: address.user });
    expect(await userRows(address.username, address.domain)).toHaveLength(0);
  });

  it('refuses with failed/inuse while an alias points at the user, and removes it once the alias is gone', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const alias = `${tag()}@pbx.local`;
    expect((await gateway.get('alias/add', { alias, destination: address.user })).body).toEqual({
      response: 'ok',
      alias,
      destination: address.user,
    });
    const refused = await gateway.get('user/remove', { user: address.user });
    expect(refused.body).toEqual({ response: 'failed', cause: 'inuse', detail: expect.any(String) });
    expect(await userRows(address.username, address.domain)).toHaveLength(1);
    expect((await gateway.get('user/get', { user: address.user })).body.response).toBe('ok');

    expect((await gateway.get('alias/remove', { alias })).body.response).toBe('ok');
    expect((await gateway.get('user/remove', { user: address.user })).body).toEqual({ response: 'ok', user: address.user });
    expect(await userRows(address.username, address.domain)).toHaveLength(0);
  });

  it('refuses with failed/inuse for an alias that was made before the user existed', async () => {
    const address = remoteAddress();
    const alias = `${tag()}@pbx.local`;
    expect((await gateway.get('alias/add', { alias, destination: address.user })).body.response).toBe('ok');
    await addRemote(address.user);
    const refused = await gateway.get('user/remove', { user: address.user });
    expect(refused.body).toMatchObject({ response: 'failed', cause: 'inuse' });
    expect(await userRows(address.username, address.domain)).toHaveLength(1);
  });

  it('refuses with failed/inuse while an E.164 alias points at the user', async () => {
    const address = remoteAddress();
    await addRemote(address.user);
    const digits = String(Number.parseInt(randomBytes(4).toString('hex'), 16)).padStart(10, '7').slice(0, 10);
    const alias = `+47${digits}@pbx.local`;
    expect((await gateway.get('alias/add', { alias, destination: address.user })).body.response).toBe('ok');
    expect((await gateway.get('user/remove', { user: address.user })).body).toMatchObject({ response: 'failed', cause: 'inuse' });
  });

  it('refuses a malformed address with invalid/user', async () => {
    const response = await gateway.get('user/remove', { user: 'bad address@x.example' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'user' });
  });
});
