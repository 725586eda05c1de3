import { startTestGateway, type TestGateway } from '../helpers/gateway';

// Users in local domains: user/add_local is not built yet, so two ways are used here to get one.
// - `userInLocalDomain` (HTTP only): a remote user is added with user/add_remote in a fresh
//   non-local domain, then domains/update makes that domain local. The user keeps kind "remote"
//   but is a user in a local domain, which is what the alias rules look at.
// - `insertLocalUser` (SQL): inserts a kind "local" user straight into `addresses` and `users`,
//   the two rows user/add_local would write, for a user in pbx.local itself.

let gateway: TestGateway;
let sequence = 0;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

/** A name no other test uses. */
function unique(prefix: string): string {
  sequence += 1;
  return `${prefix}${sequence}`;
}

/** An E.164 number no other test uses. */
function uniqueE164(): string {
  sequence += 1;
  return `+4791${String(sequence).padStart(6, '0')}`;
}

async function addDomain(domain: string, local: boolean): Promise<void> {
  expect((await gateway.get('domains/add', { domain, local })).body).toMatchObject({ response: 'ok' });
}

async function addRemoteUser(address: string): Promise<void> {
  const response = await gateway.get('user/add_remote', {
    user: address,
    password: 'S3cret-pass',
    displayname: 'Test User',
    registrar: 'sip.example.com',
  });
  expect(response.body).toMatchObject({ response: 'ok', user: { user: address } });
}

async function userInLocalDomain(): Promise<string> {
  const domain = `${unique('lu')}.example`;
  await addDomain(domain, false);
  const address = `${unique('user')}@${domain}`;
  await addRemoteUser(address);
  expect((await gateway.get('domains/update', { domain, local: true })).body).toMatchObject({ response: 'ok', domain: { local: true } });
  return address;
}

async function insertLocalUser(username: string, domain = 'pbx.local'): Promise<string> {
  await gateway.query("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'user')", [username, domain]);
  await gateway.query("INSERT INTO users (username, domain, kind, displayname) VALUES (?, ?, 'local', 'Local User')", [username, domain]);
  return `${username}@${domain}`;
}

/** A destination outside every local domain: needs no user. */
function remoteDestination(): string {
  return `${unique('dest')}@remote.example`;
}

async function addAlias(alias: string, destination: string): Promise<void> {
  expect((await gateway.get('alias/add', { alias, destination })).body).toEqual({ response: 'ok', alias, destination });
}

async function aliases(params: Record<string, string | boolean> = {}): Promise<{ alias: string; destination: string }[]> {
  const response = await gateway.get('alias/list', params);
  expect(response.body.response).toBe('ok');
  expect(Array.isArray(response.body.aliases)).toBe(true);
  return response.body.aliases;
}

/** Whether no user and no alias holds the address in provisioning (its row in `addresses`). */
async function available(address: string): Promise<boolean> {
  const [username, domain] = address.split('@');
  const rows = await gateway.query('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [username, domain]);
  return rows.length === 0;
}

describe('alias/list', () => {
  it('lists every alias with no parameters', async () => {
    const one = { alias: `${unique('all')}@pbx.local`, destination: remoteDestination() };
    const two = { alias: `${unique('all')}@pbx.local`, destination: remoteDestination() };
    await addAlias(one.alias, one.destination);
    await addAlias(two.alias, two.destination);
    const listed = await aliases();
    expect(listed).toEqual(expect.arrayContaining([one, two]));
    for (const entry of listed) expect(Object.keys(entry).sort()).toEqual(['alias', 'destination']);
  });

  it("lists only a destination's aliases with destination", async () => {
    const destination = remoteDestination();
    const other = remoteDestination();
    const mine = [`${unique('a')}@pbx.local`, `${unique('b')}@pbx.local`];
    for (const alias of mine) await addAlias(alias, destination);
    await addAlias(`${unique('c')}@pbx.local`, other);
    const listed = await aliases({ destination });
    expect(listed).toHaveLength(2);
    expect(listed).toEqual(expect.arrayContaining(mine.map((alias) => ({ alias, destination }))));
  });

  it('answers an empty array for a destination without aliases', async () => {
    expect((await gateway.get('alias/list', { destination: remoteDestination() })).body).toEqual({ response: 'ok', aliases: [] });
  });

  it('with e164=true lists only the E.164 alias of the destination', async () => {
    const destination = remoteDestination();
    const e164 = `${uniqueE164()}@pbx.local`;
    await addAlias(`${unique('plain')}@pbx.local`, destination);
    await addAlias(e164, destination);
    expect(await aliases({ destination, e164: true })).toEqual([{ alias: e164, destination }]);
    expect(await aliases({ destination })).toHaveLength(2);
  });

  it('with e164=true answers an empty array, never false, when the destination has no E.164 alias', async () => {
    const destination = remoteDestination();
    await addAlias(`${unique('plain')}@pbx.local`, destination);
    const response = await gateway.get('alias/list', { destination, e164: true });
    expect(response.body).toEqual({ response: 'ok', aliases: [] });
    const none = await gateway.get('alias/list', { destination: remoteDestination(), e164: 'true' });
    expect(none.body).toEqual({ response: 'ok', aliases: [] });
  });

  it('with e164=false lists every alias of the destination', async () => {
    const destination = remoteDestination();
    await addAlias(`${unique('plain')}@pbx.local`, destination);
    await addAlias(`${uniqueE164()}@pbx.local`, destination);
    expect(await aliases({ destination, e164: false })).toHaveLength(2);
  });

  it('looks up one alias address with alias', async () => {
    const alias = `${unique('look')}@pbx.local`;
    const destination = remoteDestination();
    await addAlias(alias, destination);
    await addAlias(`${unique('look')}@pbx.local`, destination);
    expect(await aliases({ alias })).toEqual([{ alias, destination }]);
  });

  it('answers an empty array for an alias address that is not an alias', async () => {
    expect((await gateway.get('alias/list', { alias: `${unique('nobody')}@pbx.local` })).body).toEqual({ response: 'ok', aliases: [] });
  });

  it('matches addresses in canonical form (the domain lower-cased)', async () => {
    const username = unique('Case');
    const destination = remoteDestination();
    await addAlias(`${username}@pbx.local`, destination);
    expect(await aliases({ alias: `${username}@PBX.Local` })).toEqual([{ alias: `${username}@pbx.local`, destination }]);
    const [user, domain] = destination.split('@');
    expect(await aliases({ destination: `${user}@${domain.toUpperCase()}` })).toEqual([{ alias: `${username}@pbx.local`, destination }]);
  });

  it('refuses e164 together with alias as invalid e164', async () => {
    const response = await gateway.get('alias/list', { alias: `${unique('x')}@pbx.local`, e164: true });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'e164', detail: expect.any(String) });
  });

  it('refuses a malformed destination as invalid destination', async () => {
    for (const destination of ['nobody', 'a b@pbx.local', '@pbx.local', 'x@bad_domain']) {
      expect((await gateway.get('alias/list', { destination })).body).toMatchObject({ response: 'invalid', cause: 'destination' });
    }
  });

  it('refuses a malformed alias as invalid alias', async () => {
    for (const alias of ['nobody', 'x@', `${'u'.repeat(65)}@pbx.local`]) {
      expect((await gateway.get('alias/list', { alias })).body).toMatchObject({ response: 'invalid', cause: 'alias' });
    }
  });

  it('refuses destination and alias together', async () => {
    const response = await gateway.get('alias/list', { alias: `${unique('x')}@pbx.local`, destination: remoteDestination() });
    expect(response.body.response).toBe('invalid');
    expect(['alias', 'destination']).toContain(response.body.cause);
  });

  it('refuses an e164 value that is not a boolean', async () => {
    expect((await gateway.get('alias/list', { destination: remoteDestination(), e164: 'yes please' })).body).toMatchObject({
      response: 'invalid',
      cause: 'e164',
    });
  });
});

describe('alias/add', () => {
  it('adds an alias given as alias=username@domain', async () => {
    const alias = `${unique('form1-')}@pbx.local`;
    const destination = remoteDestination();
    const response = await gateway.get('alias/add', { alias, destination });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'ok', alias, destination });
    expect(await aliases({ alias })).toEqual([{ alias, destination }]);
  });

  it('adds an alias given as alias_username and alias_domain', async () => {
    const username = unique('form2-');
    const destination = remoteDestination();
    const response = await gateway.get('alias/add', { alias_username: username, alias_domain: 'pbx.local', destination });
    expect(response.body).toEqual({ response: 'ok', alias: `${username}@pbx.local`, destination });
    expect(await aliases({ alias: `${username}@pbx.local` })).toEqual([{ alias: `${username}@pbx.local`, destination }]);
  });

  it('answers the canonical forms (domains lower-cased, usernames kept)', async () => {
    const username = unique('Mixed.Case-');
    const destinationUser = unique('Dest.User');
    const response = await gateway.get('alias/add', {
      alias_username: username,
      alias_domain: 'PBX.LOCAL',
      destination: `${destinationUser}@Remote.Example`,
    });
    expect(response.body).toEqual({ response: 'ok', alias: `${username}@pbx.local`, destination: `${destinationUser}@remote.example` });
  });

  it('makes the alias address taken', async () => {
    const alias = `${unique('taken')}@pbx.local`;
    expect(await available(alias)).toBe(true);
    await addAlias(alias, remoteDestination());
    expect((await gateway.get('user/available', { user: alias })).body).toMatchObject({ response: 'failed', cause: 'exists' });
  });

  it('adds an alias pointing at a user in a local domain', async () => {
    const destination = await userInLocalDomain();
    const alias = `${unique('to-user')}@pbx.local`;
    await addAlias(alias, destination);
    expect(await aliases({ destination })).toEqual([{ alias, destination }]);
  });

  it('adds an alias pointing at a local user in pbx.local (user inserted with SQL)', async () => {
    const destination = await insertLocalUser(unique('4700'));
    const alias = `${uniqueE164()}@pbx.local`;
    await addAlias(alias, destination);
    expect(await aliases({ destination, e164: true })).toEqual([{ alias, destination }]);
  });

  it('allows any number of plain aliases besides one E.164 alias per destination', async () => {
    const destination = remoteDestination();
    await addAlias(`${uniqueE164()}@pbx.local`, destination);
    for (let index = 0; index < 3; index += 1) await addAlias(`${unique('plain')}@pbx.local`, destination);
    // A digits-only username without '+' is not E.164.
    await addAlias(`${uniqueE164().slice(1)}@pbx.local`, destination);
    expect(await aliases({ destination })).toHaveLength(5);
    expect(await aliases({ destination, e164: true })).toHaveLength(1);
  });

  describe('refusals', () => {
    it.each([
      ['a malformed alias', { alias: 'no-at-sign' }],
      ['an alias with a bad username', { alias: 'bad name@pbx.local' }],
      ['an alias with a bad domain', { alias: 'x@pbx..local' }],
      ['alias_username without alias_domain', { alias_username: 'lonely' }],
      ['alias_domain without alias_username', { alias_domain: 'pbx.local' }],
      ['a bad alias_username', { alias_username: 'a:b', alias_domain: 'pbx.local' }],
      ['a bad alias_domain', { alias_username: 'ab', alias_domain: 'not a domain' }],
      ['both alias forms', { alias: 'both@pbx.local', alias_username: 'both', alias_domain: 'pbx.local' }],
      ['no alias at all', {}],
      ['an empty alias', { alias: '' }],
      ['an empty alias_username', { alias_username: '', alias_domain: 'pbx.local' }],
      ['an empty alias_domain', { alias_username: 'x', alias_domain: '' }],
      ['an overlong alias', { alias: `${'u'.repeat(600)}@pbx.local` }],
      ['an overlong alias_username', { alias_username: 'u'.repeat(600), alias_domain: 'pbx.local' }],
    ])('refuses %s as invalid alias', async (_what, form) => {
      const response = await gateway.get('alias/add', { ...form, destination: remoteDestination() });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'alias', detail: expect.any(String) });
    });

    it.each([
      ['malformed', 'nobody'],
      ['with a bad domain', 'x@-bad.example'],
      ['with a bad username', 'x y@remote.example'],
    ])('refuses a destination %s as invalid destination', async (_what, destination) => {
      const alias = `${unique('inv')}@pbx.local`;
      const response = await gateway.get('alias/add', { alias, destination });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'destination' });
      expect(await available(alias)).toBe(true);
    });

    it('refuses a missing destination as invalid destination', async () => {
      const response = await gateway.get('alias/add', { alias: `${unique('inv')}@pbx.local` });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'destination' });
    });

    it('fails with nxdomain for an alias in a domain that is not local', async () => {
      const remote = `${unique('notlocal')}.example`;
      await addDomain(remote, false);
      const inRemote = await gateway.get('alias/add', { alias: `a@${remote}`, destination: remoteDestination() });
      expect(inRemote.body).toMatchObject({ response: 'failed', cause: 'nxdomain', detail: expect.any(String) });
      const unknown = await gateway.get('alias/add', { alias: `a@${unique('unknown')}.example`, destination: remoteDestination() });
      expect(unknown.body).toMatchObject({ response: 'failed', cause: 'nxdomain' });
      expect(await aliases({ alias: `a@${remote}` })).toEqual([]);
    });

    it('fails with nonexistant for a destination in a local domain without a user', async () => {
      const alias = `${unique('orphan')}@pbx.local`;
      const response = await gateway.get('alias/add', { alias, destination: `${unique('ghost')}@pbx.local` });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
      expect(await available(alias)).toBe(true);
    });

    it('fails with nonexistant for a local destination that is an alias rather than a user', async () => {
      const first = `${unique('hop')}@pbx.local`;
      await addAlias(first, remoteDestination());
      const response = await gateway.get('alias/add', { alias: `${unique('hop')}@pbx.local`, destination: first });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    });

    it('fails with exists for an alias address taken by another alias', async () => {
      const alias = `${unique('dup')}@pbx.local`;
      const destination = remoteDestination();
      await addAlias(alias, destination);
      const again = await gateway.get('alias/add', { alias, destination: remoteDestination() });
      expect(again.body).toMatchObject({ response: 'failed', cause: 'exists', detail: expect.any(String) });
      expect(await aliases({ alias })).toEqual([{ alias, destination }]);
    });

    it('fails with exists for an alias address taken by a user (remote user, domain then made local)', async () => {
      const userAddress = await userInLocalDomain();
      const response = await gateway.get('alias/add', { alias: userAddress, destination: remoteDestination() });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
      expect(response.body.detail).toContain('user');
      expect(await aliases({ alias: userAddress })).toEqual([]);
    });

    it('fails with exists for an alias address taken by a local user in pbx.local (user inserted with SQL)', async () => {
      const userAddress = await insertLocalUser(unique('4701'));
      const [username, domain] = userAddress.split('@');
      const response = await gateway.get('alias/add', { alias_username: username, alias_domain: domain, destination: remoteDestination() });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
      expect(await aliases({ alias: userAddress })).toEqual([]);
    });

    it('fails with exists for a second E.164 alias for one destination', async () => {
      const destination = remoteDestination();
      const first = `${uniqueE164()}@pbx.local`;
      await addAlias(first, destination);
      const second = `${uniqueE164()}@pbx.local`;
      const response = await gateway.get('alias/add', { alias: second, destination });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'exists', detail: expect.any(String) });
      expect(await aliases({ destination, e164: true })).toEqual([{ alias: first, destination }]);
      expect(await available(second)).toBe(true);
    });

    it('lets a destination take a new E.164 alias once the old one is removed', async () => {
      const destination = remoteDestination();
      const first = `${uniqueE164()}@pbx.local`;
      await addAlias(first, destination);
      expect((await gateway.get('alias/remove', { alias: first })).body).toEqual({ response: 'ok', alias: first });
      const second = `${uniqueE164()}@pbx.local`;
      await addAlias(second, destination);
      expect(await aliases({ destination, e164: true })).toEqual([{ alias: second, destination }]);
    });
  });

  describe('dry_run', () => {
    it('answers as it would, with dry_run true, and adds nothing', async () => {
      const alias = `${unique('dry')}@pbx.local`;
      const destination = remoteDestination();
      const response = await gateway.get('alias/add', { alias, destination, dry_run: true });
      expect(response.body).toEqual({ response: 'ok', alias, destination, dry_run: true });
      expect(await aliases({ alias })).toEqual([]);
      expect(await aliases({ destination })).toEqual([]);
      expect(await available(alias)).toBe(true);
    });

    it('runs every check: an E.164 alias for a destination that has one fails', async () => {
      const destination = remoteDestination();
      await addAlias(`${uniqueE164()}@pbx.local`, destination);
      const response = await gateway.get('alias/add', { alias: `${uniqueE164()}@pbx.local`, destination, dry_run: true });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
    });

    it('runs every check: nxdomain, nonexistant and a taken alias fail', async () => {
      expect(
        (await gateway.get('alias/add', { alias: `x@${unique('nx')}.example`, destination: remoteDestination(), dry_run: true })).body,
      ).toMatchObject({ response: 'failed', cause: 'nxdomain' });
      expect(
        (await gateway.get('alias/add', { alias: `${unique('dry')}@pbx.local`, destination: `${unique('ghost')}@pbx.local`, dry_run: true }))
          .body,
      ).toMatchObject({ response: 'failed', cause: 'nonexistant' });
      const taken = `${unique('dry')}@pbx.local`;
      await addAlias(taken, remoteDestination());
      expect((await gateway.get('alias/add', { alias: taken, destination: remoteDestination(), dry_run: true })).body).toMatchObject({
        response: 'failed',
        cause: 'exists',
      });
    });

    it('with dry_run=false adds as usual', async () => {
      const alias = `${unique('wet')}@pbx.local`;
      const destination = remoteDestination();
      expect((await gateway.get('alias/add', { alias, destination, dry_run: false })).body).toEqual({ response: 'ok', alias, destination });
      expect(await aliases({ alias })).toEqual([{ alias, destination }]);
    });
  });

  it('adds exactly one of 20 concurrent E.164 aliases for one destination', async () => {
    const destination = remoteDestination();
    const candidates = Array.from({ length: 20 }, () => `${uniqueE164()}@pbx.local`);
    const answers = await Promise.all(candidates.map((alias) => gateway.get('alias/add', { alias, destination })));
    const outcomes = answers.map((answer) => `${answer.body.response}/${answer.body.cause ?? ''}`);
    expect(outcomes.filter((outcome) => outcome === 'ok/')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'failed/exists')).toHaveLength(19);
    const winner = candidates[outcomes.indexOf('ok/')];
    expect(await aliases({ destination })).toEqual([{ alias: winner, destination }]);
    // The losers left no claim on their addresses behind.
    for (const loser of candidates.filter((alias) => alias !== winner)) expect(await available(loser)).toBe(true);
    const rows = await gateway.query<{ n: number }>('SELECT COUNT(*) AS n FROM aliases WHERE destination_username = ? AND e164 = 1', [
      destination.split('@')[0],
    ]);
    expect(Number(rows[0].n)).toBe(1);
  });

  it('adds exactly one of 20 concurrent adds of the same alias', async () => {
    const alias = `${unique('race')}@pbx.local`;
    const answers = await Promise.all(Array.from({ length: 20 }, () => gateway.get('alias/add', { alias, destination: remoteDestination() })));
    const outcomes = answers.map((answer) => `${answer.body.response}/${answer.body.cause ?? ''}`);
    expect(outcomes.filter((outcome) => outcome === 'ok/')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'failed/exists')).toHaveLength(19);
    expect(await aliases({ alias })).toHaveLength(1);
  });
});

describe('alias/remove', () => {
  it('removes an alias given as alias=username@domain and answers it', async () => {
    const alias = `${unique('rm')}@pbx.local`;
    await addAlias(alias, remoteDestination());
    const response = await gateway.get('alias/remove', { alias });
    expect(response.body).toEqual({ response: 'ok', alias });
    expect(await aliases({ alias })).toEqual([]);
  });

  it('removes an alias given as alias_username and alias_domain', async () => {
    const username = unique('rm');
    await addAlias(`${username}@pbx.local`, remoteDestination());
    const response = await gateway.get('alias/remove', { alias_username: username, alias_domain: 'PBX.local' });
    expect(response.body).toEqual({ response: 'ok', alias: `${username}@pbx.local` });
    expect(await aliases({ alias: `${username}@pbx.local` })).toEqual([]);
  });

  it('frees the address so it can be used again', async () => {
    const alias = `${unique('again')}@pbx.local`;
    await addAlias(alias, remoteDestination());
    await gateway.get('alias/remove', { alias });
    expect(await available(alias)).toBe(true);
    await addAlias(alias, remoteDestination());
  });

  it('removes only the given alias', async () => {
    const destination = remoteDestination();
    const keep = `${unique('keep')}@pbx.local`;
    const drop = `${unique('drop')}@pbx.local`;
    await addAlias(keep, destination);
    await addAlias(drop, destination);
    await gateway.get('alias/remove', { alias: drop });
    expect(await aliases({ destination })).toEqual([{ alias: keep, destination }]);
  });

  it('fails with nonexistant for an alias that does not exist', async () => {
    const response = await gateway.get('alias/remove', { alias: `${unique('none')}@pbx.local` });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
    const separate = await gateway.get('alias/remove', { alias_username: unique('none'), alias_domain: 'pbx.local' });
    expect(separate.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('fails with nonexistant for a user address, and leaves the user alone', async () => {
    const userAddress = await userInLocalDomain();
    const response = await gateway.get('alias/remove', { alias: userAddress });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect((await gateway.get('user/get', { user: userAddress })).body).toMatchObject({ response: 'ok' });
  });

  it.each([
    ['no alias at all', {}],
    ['a malformed alias', { alias: 'nobody' }],
    ['an alias without username', { alias: '@pbx.local' }],
    ['an alias with a bad domain', { alias: 'x@pbx_local' }],
    ['alias_username alone', { alias_username: 'x' }],
    ['alias_domain alone', { alias_domain: 'pbx.local' }],
    ['a bad alias_username', { alias_username: 'x y', alias_domain: 'pbx.local' }],
    ['a bad alias_domain', { alias_username: 'x', alias_domain: 'pbx..local' }],
    ['both forms', { alias: 'x@pbx.local', alias_username: 'x', alias_domain: 'pbx.local' }],
    ['an empty alias', { alias: '' }],
    ['an empty alias_username', { alias_username: '', alias_domain: 'pbx.local' }],
    ['an empty alias_domain', { alias_username: 'x', alias_domain: '' }],
    ['an overlong alias', { alias: `${'u'.repeat(600)}@pbx.local` }],
    ['an overlong alias_domain', { alias_username: 'x', alias_domain: `${'d'.repeat(600)}.example` }],
  ])('refuses %s as invalid address', async (_what, form) => {
    const response = await gateway.get('alias/remove', form);
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'address', detail: expect.any(String) });
  });

  it('leaves an alias in place when the request is invalid', async () => {
    const username = unique('stay');
    await addAlias(`${username}@pbx.local`, remoteDestination());
    expect((await gateway.get('alias/remove', { alias_username: username })).body).toMatchObject({ response: 'invalid', cause: 'address' });
    expect(await aliases({ alias: `${username}@pbx.local` })).toHaveLength(1);
  });
});
