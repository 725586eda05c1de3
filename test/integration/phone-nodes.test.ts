import { randomBytes } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT sections 4 and 5 (phone/*). Every test makes its own users and MAC addresses, so
// nothing depends on the order the tests run in.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** A fresh canonical MAC: 12 lower-case hex digits. */
function newMac(): string {
  return randomBytes(6).toString('hex');
}

/** `001a2b3c4d5e` → `00:1A:2B:3C:4D:5E` (or with another separator, in upper case). */
function spelled(mac: string, separator: string): string {
  return (mac.match(/../g) as string[]).join(separator).toUpperCase();
}

/** A remote user that exists, in a domain of its own. */
async function newUser(): Promise<string> {
  const user = `${tag()}@${tag()}.example`;
  const response = await gateway.get('user/add_remote', {
    user,
    password: 'Phone-Secret1',
    displayname: 'Phone Owner',
    registrar: 'sip.provider.example',
  });
  expect(response.body.response).toBe('ok');
  return user;
}

async function addPhone(mac: string, user: string): Promise<void> {
  expect((await gateway.get('phone/add', { mac, user })).body).toEqual({ response: 'ok', mac, user });
}

async function phoneRows(mac: string): Promise<{ mac: string; address: string }[]> {
  return gateway.query(
    `SELECT p.mac, CONCAT(u.username, '@', u.domain) AS address FROM phones p JOIN users u ON u.id = p.user_id
     WHERE p.mac = ? ORDER BY address`,
    [mac],
  );
}

describe('phone/add', () => {
  it('associates a phone with a remote user and answers mac and user', async () => {
    const user = await newUser();
    const mac = newMac();
    const response = await gateway.get('phone/add', { mac, user });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'ok', mac, user });
    expect(await phoneRows(mac)).toEqual([{ mac, address: user }]);
  });

  it.each([
    ['colon-separated upper case', ':'],
    ['dash-separated upper case', '-'],
    ['plain upper case', ''],
  ])('canonicalises a %s MAC to 12 lower-case hex digits', async (_what, separator) => {
    const user = await newUser();
    const mac = newMac();
    const response = await gateway.get('phone/add', { mac: spelled(mac, separator), user });
    expect(response.body).toEqual({ response: 'ok', mac, user });
    expect(await phoneRows(mac)).toEqual([{ mac, address: user }]);
  });

  it('canonicalises a mixed-case MAC', async () => {
    const user = await newUser();
    const response = await gateway.get('phone/add', { mac: 'aB:cD:eF:01:23:4f', user });
    expect(response.body).toEqual({ response: 'ok', mac: 'abcdef01234f', user });
  });

  it('takes the username and domain form and lower-cases the domain in the answer', async () => {
    const user = await newUser();
    const [username, domain] = user.split('@');
    const mac = newMac();
    const response = await gateway.post('phone/add', { mac, username, domain: domain.toUpperCase() });
    expect(response.body).toEqual({ response: 'ok', mac, user });
    expect(await phoneRows(mac)).toEqual([{ mac, address: user }]);
  });

  it('puts several users on one phone and several phones on one user', async () => {
    const [first, second] = [await newUser(), await newUser()];
    const [shared, other] = [newMac(), newMac()];
    await addPhone(shared, first);
    await addPhone(shared, second);
    await addPhone(other, first);
    expect(await phoneRows(shared)).toEqual([...[first, second].sort()].map((address) => ({ mac: shared, address })));
    expect(await phoneRows(other)).toEqual([{ mac: other, address: first }]);
  });

  it('refuses an association that exists with failed/exists and keeps one row', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    const response = await gateway.get('phone/add', { mac, user });
    expect(response.body).toEqual({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    expect(await phoneRows(mac)).toHaveLength(1);
  });

  it('refuses an association that exists when the MAC and domain are spelled differently', async () => {
    const user = await newUser();
    const [username, domain] = user.split('@');
    const mac = newMac();
    await addPhone(mac, user);
    const response = await gateway.get('phone/add', { mac: spelled(mac, '-'), user: `${username}@${domain.toUpperCase()}` });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
    expect(await phoneRows(mac)).toHaveLength(1);
  });

  it('refuses an unknown remote user with failed/nonexistant and stores nothing', async () => {
    const mac = newMac();
    const response = await gateway.get('phone/add', { mac, user: `${tag()}@${tag()}.example` });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
    expect(await phoneRows(mac)).toHaveLength(0);
    expect(await gateway.query('SELECT * FROM phones WHERE mac = ?', [mac])).toHaveLength(0);
  });

  it('refuses an unknown user in the local domain with failed/nonexistant', async () => {
    const mac = newMac();
    const response = await gateway.get('phone/add', { mac, user: `${tag()}@pbx.local` });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(await gateway.query('SELECT * FROM phones WHERE mac = ?', [mac])).toHaveLength(0);
  });

  it('refuses an alias address, which is no user, with failed/nonexistant', async () => {
    const user = await newUser();
    const alias = `${tag()}@pbx.local`;
    expect((await gateway.get('alias/add', { alias, destination: user })).body.response).toBe('ok');
    const mac = newMac();
    const response = await gateway.get('phone/add', { mac, user: alias });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(await gateway.query('SELECT * FROM phones WHERE mac = ?', [mac])).toHaveLength(0);
  });

  it('refuses a user that was removed with failed/nonexistant', async () => {
    const user = await newUser();
    expect((await gateway.get('user/remove', { user })).body.response).toBe('ok');
    const mac = newMac();
    expect((await gateway.get('phone/add', { mac, user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  describe('refuses a malformed MAC with invalid/mac', () => {
    it.each([
      ['11 hex digits', '001122334455'.slice(1)],
      ['13 hex digits', '0011223344556'],
      ['a non-hex digit', '00112233445g'],
      ['mixed separators', '00:11-22:33:44:55'],
      ['a dot separator', '00.11.22.33.44.55'],
      ['separators in the wrong places', '0011:2233:4455'],
      ['a trailing separator', '00:11:22:33:44:55:'],
      ['a missing group', '00:11:22:33:44'],
      ['spaces', '00 11 22 33 44 55'],
      ['an empty value', ''],
    ])('refuses %s', async (_what, mac) => {
      const user = await newUser();
      const response = await gateway.get('phone/add', { mac, user });
      expect(response.body).toEqual({ response: 'invalid', cause: 'mac', detail: expect.any(String) });
      const [username, domain] = user.split('@');
      expect(
        await gateway.query('SELECT p.mac FROM phones p JOIN users u ON u.id = p.user_id WHERE u.username = ? AND u.domain = ?', [username, domain]),
      ).toHaveLength(0);
    });
  });

  it('refuses a missing mac with invalid/mac', async () => {
    const user = await newUser();
    expect((await gateway.get('phone/add', { user })).body).toMatchObject({ response: 'invalid', cause: 'mac' });
  });

  it('refuses a malformed SIP address with invalid/user', async () => {
    const response = await gateway.get('phone/add', { mac: newMac(), user: 'no-domain@' });
    expect(response.body).toEqual({ response: 'invalid', cause: 'user', detail: expect.any(String) });
  });

  it('refuses a missing user with invalid/user', async () => {
    const response = await gateway.get('phone/add', { mac: newMac() });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'user' });
  });

  it('refuses an unknown parameter with invalid/parameter', async () => {
    const user = await newUser();
    const mac = newMac();
    const response = await gateway.get('phone/add', { mac, user, model: 'desk-phone' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
    expect(await phoneRows(mac)).toHaveLength(0);
  });

  describe('with dry_run=true', () => {
    it('answers as it would, with dry_run: true, and stores nothing', async () => {
      const user = await newUser();
      const mac = newMac();
      const response = await gateway.get('phone/add', { mac: spelled(mac, ':'), user, dry_run: true });
      expect(response.body).toEqual({ response: 'ok', mac, user, dry_run: true });
      expect(await gateway.query('SELECT * FROM phones WHERE mac = ?', [mac])).toHaveLength(0);
      expect((await gateway.get('phone/get', { mac })).body).toEqual({ response: 'ok', users: [] });
    });

    it('leaves the association free for a real add afterwards', async () => {
      const user = await newUser();
      const mac = newMac();
      expect((await gateway.get('phone/add', { mac, user, dry_run: true })).body.response).toBe('ok');
      await addPhone(mac, user);
      expect(await phoneRows(mac)).toEqual([{ mac, address: user }]);
    });

    it('still refuses an existing association with failed/exists', async () => {
      const user = await newUser();
      const mac = newMac();
      await addPhone(mac, user);
      const response = await gateway.get('phone/add', { mac, user, dry_run: true });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'exists' });
      expect(await phoneRows(mac)).toHaveLength(1);
    });

    it('still refuses an unknown user with failed/nonexistant', async () => {
      const mac = newMac();
      const response = await gateway.get('phone/add', { mac, user: `${tag()}@${tag()}.example`, dry_run: true });
      expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    });

    it('still refuses a malformed MAC with invalid/mac', async () => {
      const user = await newUser();
      const response = await gateway.get('phone/add', { mac: 'zz:zz:zz:zz:zz:zz', user, dry_run: true });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'mac' });
    });
  });

  it('with dry_run=false adds the association and answers without dry_run', async () => {
    const user = await newUser();
    const mac = newMac();
    const response = await gateway.get('phone/add', { mac, user, dry_run: false });
    expect(response.body).toEqual({ response: 'ok', mac, user });
    expect(await phoneRows(mac)).toHaveLength(1);
  });
});

describe('phone/get', () => {
  it('with mac answers the addresses on that phone, ordered', async () => {
    const users = [await newUser(), await newUser(), await newUser()];
    const mac = newMac();
    for (const user of users) await addPhone(mac, user);
    const response = await gateway.get('phone/get', { mac });
    expect(response.body).toEqual({ response: 'ok', users: [...users].sort() });
  });

  it('with a user answers that user’s MACs, ordered', async () => {
    const user = await newUser();
    const macs = [newMac(), newMac(), newMac()];
    for (const mac of macs) await addPhone(mac, user);
    const response = await gateway.get('phone/get', { user });
    expect(response.body).toEqual({ response: 'ok', macs: [...macs].sort() });
  });

  it('canonicalises the MAC it is asked about', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    for (const spelling of [spelled(mac, ':'), spelled(mac, '-'), mac.toUpperCase()]) {
      expect((await gateway.get('phone/get', { mac: spelling })).body).toEqual({ response: 'ok', users: [user] });
    }
  });

  it('takes the username and domain form with the domain in any case', async () => {
    const user = await newUser();
    const [username, domain] = user.split('@');
    const mac = newMac();
    await addPhone(mac, user);
    expect((await gateway.get('phone/get', { username, domain: domain.toUpperCase() })).body).toEqual({ response: 'ok', macs: [mac] });
    expect((await gateway.get('phone/get', { user: `${username}@${domain.toUpperCase()}` })).body).toEqual({ response: 'ok', macs: [mac] });
  });

  it('answers ok with an empty users array for a MAC without phones', async () => {
    expect((await gateway.get('phone/get', { mac: newMac() })).body).toEqual({ response: 'ok', users: [] });
  });

  it('answers ok with an empty macs array for a user without phones', async () => {
    const user = await newUser();
    expect((await gateway.get('phone/get', { user })).body).toEqual({ response: 'ok', macs: [] });
  });

  it('answers ok with an empty macs array for an unknown user', async () => {
    expect((await gateway.get('phone/get', { user: `${tag()}@${tag()}.example` })).body).toEqual({ response: 'ok', macs: [] });
  });

  it('does not list the other users of a shared phone for one user', async () => {
    const [mine, theirs] = [await newUser(), await newUser()];
    const [shared, own] = [newMac(), newMac()];
    await addPhone(shared, mine);
    await addPhone(shared, theirs);
    await addPhone(own, theirs);
    expect((await gateway.get('phone/get', { user: mine })).body).toEqual({ response: 'ok', macs: [shared] });
    expect((await gateway.get('phone/get', { user: theirs })).body).toEqual({ response: 'ok', macs: [own, shared].sort() });
  });

  it('refuses mac and user together with invalid/mac', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    const response = await gateway.get('phone/get', { mac, user });
    expect(response.body).toEqual({ response: 'invalid', cause: 'mac', detail: expect.any(String) });
  });

  it('refuses neither mac nor user with invalid/mac', async () => {
    const response = await gateway.get('phone/get');
    expect(response.body).toEqual({ response: 'invalid', cause: 'mac', detail: expect.any(String) });
  });

  it('refuses a malformed MAC with invalid/mac', async () => {
    expect((await gateway.get('phone/get', { mac: '00:11:22:33:44' })).body).toMatchObject({ response: 'invalid', cause: 'mac' });
  });

  it('refuses a malformed user with invalid/user', async () => {
    expect((await gateway.get('phone/get', { user: 'a b@c.example' })).body).toMatchObject({ response: 'invalid', cause: 'user' });
  });
});

describe('phone/list', () => {
  /** Phones whose MACs share a fresh 6-digit prefix, so a search can pick them out. */
  async function phonesWithPrefix(suffixes: string[]): Promise<{ prefix: string; macs: string[] }> {
    const prefix = randomBytes(3).toString('hex');
    const user = await newUser();
    const macs = suffixes.map((suffix) => `${prefix}${suffix}`);
    for (const mac of macs) await addPhone(mac, user);
    return { prefix, macs };
  }

  it('answers the MACs in order, each once, however many users share it', async () => {
    const { prefix, macs } = await phonesWithPrefix(['cccccc', 'aaaaaa', 'bbbbbb']);
    await addPhone(macs[0], await newUser());
    const response = await gateway.get('phone/list', { search: prefix });
    expect(response.body).toEqual({ response: 'ok', macs: [`${prefix}aaaaaa`, `${prefix}bbbbbb`, `${prefix}cccccc`] });
  });

  it('lists every phone, ordered and distinct, without a search', async () => {
    const { macs } = await phonesWithPrefix(['000001', '000002']);
    const response = await gateway.get('phone/list');
    expect(response.body.response).toBe('ok');
    const listed: string[] = response.body.macs;
    expect(listed).toEqual(expect.arrayContaining(macs));
    expect(listed).toEqual([...listed].sort());
    expect(new Set(listed).size).toBe(listed.length);
    for (const mac of listed) expect(mac).toMatch(/^[0-9a-f]{12}$/);
  });

  it('matches the search anywhere in the MAC (pre-post globbing)', async () => {
    const { prefix, macs } = await phonesWithPrefix(['5a5b5c']);
    for (const search of [prefix, `${prefix.slice(2)}5a`, '5a5b5c', `${prefix.slice(1, 5)}`]) {
      expect((await gateway.get('phone/list', { search })).body.macs).toContain(macs[0]);
    }
  });

  it('matches against the canonical form, so an upper-case search finds lower-case MACs', async () => {
    const { prefix, macs } = await phonesWithPrefix(['abcdef']);
    const response = await gateway.get('phone/list', { search: prefix.toUpperCase() + 'ABC' });
    expect(response.body).toEqual({ response: 'ok', macs });
  });

  it("treats '*' as any run of characters", async () => {
    const { prefix } = await phonesWithPrefix(['a0000f', 'af0000', 'b0000f']);
    const response = await gateway.get('phone/list', { search: `${prefix}a*f` });
    expect(response.body).toEqual({ response: 'ok', macs: [`${prefix}a0000f`, `${prefix}af0000`] });
  });

  it("treats '?' as exactly one character", async () => {
    const { prefix } = await phonesWithPrefix(['a1b000', 'a12b00', 'ab0000']);
    const response = await gateway.get('phone/list', { search: `${prefix}a?b` });
    expect(response.body).toEqual({ response: 'ok', macs: [`${prefix}a1b000`] });
  });

  it("takes '_' and '%' literally, so they match no MAC", async () => {
    const { prefix } = await phonesWithPrefix(['a1b000', 'a12b00']);
    expect((await gateway.get('phone/list', { search: `${prefix}a_b` })).body).toEqual({ response: 'ok', macs: [] });
    expect((await gateway.get('phone/list', { search: `${prefix}a%b` })).body).toEqual({ response: 'ok', macs: [] });
    expect((await gateway.get('phone/list', { search: '_' })).body).toEqual({ response: 'ok', macs: [] });
    expect((await gateway.get('phone/list', { search: '%' })).body).toEqual({ response: 'ok', macs: [] });
  });

  it('answers an empty array when nothing matches', async () => {
    expect((await gateway.get('phone/list', { search: 'not-a-mac' })).body).toEqual({ response: 'ok', macs: [] });
  });

  it('no longer lists a MAC whose last association is removed', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    expect((await gateway.get('phone/list', { search: mac })).body).toEqual({ response: 'ok', macs: [mac] });
    expect((await gateway.get('phone/remove', { mac, user })).body.response).toBe('ok');
    expect((await gateway.get('phone/list', { search: mac })).body).toEqual({ response: 'ok', macs: [] });
  });

  it('refuses an unknown parameter with invalid/parameter', async () => {
    expect((await gateway.get('phone/list', { mac: newMac() })).body).toMatchObject({ response: 'invalid', cause: 'parameter' });
  });
});

describe('phone/remove', () => {
  it('removes the association and answers mac and user', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    const response = await gateway.get('phone/remove', { mac, user });
    expect(response.body).toEqual({ response: 'ok', mac, user });
    expect(await gateway.query('SELECT * FROM phones WHERE mac = ?', [mac])).toHaveLength(0);
    expect((await gateway.get('phone/get', { user })).body).toEqual({ response: 'ok', macs: [] });
  });

  it('answers the canonical MAC and address when given other spellings', async () => {
    const user = await newUser();
    const [username, domain] = user.split('@');
    const mac = newMac();
    await addPhone(mac, user);
    const response = await gateway.get('phone/remove', { mac: spelled(mac, ':'), username, domain: domain.toUpperCase() });
    expect(response.body).toEqual({ response: 'ok', mac, user });
    expect(await phoneRows(mac)).toHaveLength(0);
  });

  it('keeps the phone’s other associations', async () => {
    const [leaving, staying] = [await newUser(), await newUser()];
    const mac = newMac();
    await addPhone(mac, leaving);
    await addPhone(mac, staying);
    expect((await gateway.get('phone/remove', { mac, user: leaving })).body).toEqual({ response: 'ok', mac, user: leaving });
    expect(await phoneRows(mac)).toEqual([{ mac, address: staying }]);
  });

  it('lets the association be added again afterwards', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    expect((await gateway.get('phone/remove', { mac, user })).body.response).toBe('ok');
    await addPhone(mac, user);
    expect(await phoneRows(mac)).toEqual([{ mac, address: user }]);
  });

  it('answers failed/nonexistant when the user has no such phone', async () => {
    const user = await newUser();
    const response = await gateway.get('phone/remove', { mac: newMac(), user });
    expect(response.body).toEqual({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('answers failed/nonexistant when the phone belongs to another user only, and leaves it', async () => {
    const [owner, stranger] = [await newUser(), await newUser()];
    const mac = newMac();
    await addPhone(mac, owner);
    const response = await gateway.get('phone/remove', { mac, user: stranger });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(await phoneRows(mac)).toEqual([{ mac, address: owner }]);
  });

  it('answers failed/nonexistant for an unknown user', async () => {
    const response = await gateway.get('phone/remove', { mac: newMac(), user: `${tag()}@${tag()}.example` });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('answers failed/nonexistant when removing twice', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    expect((await gateway.get('phone/remove', { mac, user })).body.response).toBe('ok');
    expect((await gateway.get('phone/remove', { mac, user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('refuses a malformed MAC with invalid/mac and removes nothing', async () => {
    const user = await newUser();
    const mac = newMac();
    await addPhone(mac, user);
    const response = await gateway.get('phone/remove', { mac: `${mac}0`, user });
    expect(response.body).toEqual({ response: 'invalid', cause: 'mac', detail: expect.any(String) });
    expect(await phoneRows(mac)).toHaveLength(1);
  });

  it('refuses a missing mac with invalid/mac and a missing user with invalid/user', async () => {
    const user = await newUser();
    expect((await gateway.get('phone/remove', { user })).body).toMatchObject({ response: 'invalid', cause: 'mac' });
    expect((await gateway.get('phone/remove', { mac: newMac() })).body).toMatchObject({ response: 'invalid', cause: 'user' });
  });
});
