import { randomBytes } from 'node:crypto';
import type { Response } from 'supertest';
import { Failed } from '../../src/outcome';
import { AliasStore } from '../../src/nodes/alias/alias-store';
import { UserStore } from '../../src/nodes/user/user-store';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 7: no interleaving of concurrent requests may leave a duplicate. Each race
// fires its requests at once (the pool has 10 connections, so they really overlap in MySQL) and
// is run for a few rounds with fresh values, to meet more than one interleaving.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

const PARALLEL = 20;
const ROUNDS = 3;

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** How many answers had each outcome: `ok`, or `<response>/<cause>`. */
function tally(responses: readonly Response[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { body } of responses) {
    const key = body.response === 'ok' ? 'ok' : `${body.response}/${body.cause}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function remoteUserParams(user: string, displayname = 'Racer'): Record<string, string> {
  return { user, password: 'Race-Secret1', displayname, registrar: 'sip.provider.example' };
}

async function newUser(): Promise<{ user: string; username: string; domain: string }> {
  const username = tag();
  const domain = `${tag()}.example`;
  const user = `${username}@${domain}`;
  expect((await gateway.get('user/add_remote', remoteUserParams(user))).body.response).toBe('ok');
  return { user, username, domain };
}

describe('concurrent phone/add', () => {
  it(`of one association ${PARALLEL} times at once answers ok once and failed/exists otherwise, leaving one row`, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { user } = await newUser();
      const mac = randomBytes(6).toString('hex');
      const responses = await Promise.all(Array.from({ length: PARALLEL }, () => gateway.get('phone/add', { mac, user })));
      expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
      expect(responses.find((response) => response.body.response === 'ok')?.body).toEqual({ response: 'ok', mac, user });
      expect(await gateway.query('SELECT mac FROM phones WHERE mac = ?', [mac])).toEqual([{ mac }]);
    }
  });

  it('of one association spelled in different ways still leaves one row', async () => {
    const { user, username, domain } = await newUser();
    const mac = randomBytes(6).toString('hex');
    const pairs = mac.match(/../g) as string[];
    const spellings = [mac, mac.toUpperCase(), pairs.join(':'), pairs.join('-').toUpperCase()];
    const users = [user, `${username}@${domain.toUpperCase()}`];
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, index) =>
        gateway.get('phone/add', { mac: spellings[index % spellings.length], user: users[index % users.length] }),
      ),
    );
    expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
    expect(await gateway.query('SELECT mac FROM phones WHERE mac = ?', [mac])).toHaveLength(1);
  });

  it('racing user/remove of the same user never lets both succeed and leaves no orphan', async () => {
    for (let round = 0; round < ROUNDS * 2; round += 1) {
      const { user, username, domain } = await newUser();
      const mac = randomBytes(6).toString('hex');
      const [added, removed] = await Promise.all([gateway.get('phone/add', { mac, user }), gateway.get('user/remove', { user })]);
      const outcomes = tally([added, removed]);
      expect(outcomes.ok).toBe(1);
      const users = await gateway.query('SELECT id FROM users WHERE username = ? AND domain = ?', [username, domain]);
      const phones = await gateway.query('SELECT mac FROM phones WHERE mac = ?', [mac]);
      if (added.body.response === 'ok') {
        expect(removed.body).toMatchObject({ response: 'failed', cause: 'inuse' });
        expect(users).toHaveLength(1);
        expect(phones).toHaveLength(1);
      } else {
        expect(added.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
        expect(removed.body).toEqual({ response: 'ok', user });
        expect(users).toHaveLength(0);
        expect(phones).toHaveLength(0);
      }
    }
  });
});

describe('concurrent phone/remove', () => {
  it(`of one association ${PARALLEL} times at once answers ok once and failed/nonexistant otherwise`, async () => {
    const { user } = await newUser();
    const mac = randomBytes(6).toString('hex');
    expect((await gateway.get('phone/add', { mac, user })).body.response).toBe('ok');
    const responses = await Promise.all(Array.from({ length: PARALLEL }, () => gateway.get('phone/remove', { mac, user })));
    expect(tally(responses)).toEqual({ ok: 1, 'failed/nonexistant': PARALLEL - 1 });
    expect(await gateway.query('SELECT mac FROM phones WHERE mac = ?', [mac])).toHaveLength(0);
  });
});

describe('concurrent user/add_remote', () => {
  it(`of one address ${PARALLEL} times at once answers ok once and failed/exists otherwise, leaving one user`, async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const username = tag();
      const domain = `${tag()}.example`;
      const user = `${username}@${domain}`;
      const responses = await Promise.all(
        Array.from({ length: PARALLEL }, (_, index) => gateway.get('user/add_remote', remoteUserParams(user, `Racer ${index}`))),
      );
      expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
      const winner = responses.find((response) => response.body.response === 'ok')?.body.user;
      const rows = await gateway.query<{ displayname: string }>('SELECT displayname FROM users WHERE username = ? AND domain = ?', [
        username,
        domain,
      ]);
      expect(rows).toEqual([{ displayname: winner.displayname }]);
      expect(await gateway.query('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [username, domain])).toEqual([
        { owner: 'user' },
      ]);
    }
  });

  it('of one address with the domain in different cases leaves one user', async () => {
    const username = tag();
    const domain = `${tag()}.example`;
    const spellings = [domain, domain.toUpperCase(), `${domain[0].toUpperCase()}${domain.slice(1)}`];
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, index) =>
        index % 2 === 0
          ? gateway.get('user/add_remote', remoteUserParams(`${username}@${spellings[index % spellings.length]}`))
          : gateway.post('user/add_remote', { ...remoteUserParams(''), user: undefined, username, domain: spellings[index % spellings.length] }),
      ),
    );
    expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
    expect(await gateway.query('SELECT id FROM users WHERE username = ? AND domain = ?', [username, domain])).toHaveLength(1);
  });

  it('of an address an alias already points at links the one user to the alias', async () => {
    const username = tag();
    const domain = `${tag()}.example`;
    const user = `${username}@${domain}`;
    const alias = `${tag()}@pbx.local`;
    expect((await gateway.get('alias/add', { alias, destination: user })).body.response).toBe('ok');
    const responses = await Promise.all(Array.from({ length: PARALLEL }, () => gateway.get('user/add_remote', remoteUserParams(user))));
    expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
    const users = await gateway.query<{ id: number }>('SELECT id FROM users WHERE username = ? AND domain = ?', [username, domain]);
    expect(users).toHaveLength(1);
    const [aliasUsername] = alias.split('@');
    expect(await gateway.query('SELECT destination_user_id FROM aliases WHERE alias_username = ?', [aliasUsername])).toEqual([
      { destination_user_id: users[0].id },
    ]);
    expect((await gateway.get('user/remove', { user })).body).toMatchObject({ response: 'failed', cause: 'inuse' });
  });
});

describe('concurrent user/remove', () => {
  it(`of one user ${PARALLEL} times at once answers ok once and failed/nonexistant otherwise`, async () => {
    const { user, username, domain } = await newUser();
    const responses = await Promise.all(Array.from({ length: PARALLEL }, () => gateway.get('user/remove', { user })));
    expect(tally(responses)).toEqual({ ok: 1, 'failed/nonexistant': PARALLEL - 1 });
    expect(await gateway.query('SELECT id FROM users WHERE username = ? AND domain = ?', [username, domain])).toHaveLength(0);
    expect(await gateway.query('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [username, domain])).toHaveLength(0);
  });
});

describe('users and aliases claiming one address at once', () => {
  // alias/add takes only addresses in local domains and user/add_remote only addresses outside
  // them, so over HTTP the two nodes never compete for one address (user/add_local, which will,
  // is not built yet). The race is run here on the stores both nodes use, with an address in
  // the local domain, as user/add_local will claim it.
  it('lets exactly one of a user insert and an alias add have the address', async () => {
    const pool = gateway.container.pool;
    const users = new UserStore(pool, gateway.container.secrets);
    const aliases = new AliasStore(pool);
    const destination = await newUser();
    for (let round = 0; round < ROUNDS * 3; round += 1) {
      const username = tag();
      const address = { username, domain: 'pbx.local' };
      const attempts = Array.from({ length: 10 }, (_, index) =>
        index % 2 === 0
          ? users.insert({
              username,
              domain: 'pbx.local',
              kind: 'local',
              displayname: 'Local Racer',
              email: '',
              dialplan: '',
              linetext: '',
              password: 'Race-Secret1',
              remote: null,
        forward: null,
            })
          : aliases.add(address, { username: destination.username, domain: destination.domain }, null, false),
      );
      const settled = await Promise.allSettled(attempts);
      const fulfilled = settled.filter((result) => result.status === 'fulfilled');
      const rejected = settled.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      expect(fulfilled).toHaveLength(1);
      for (const { reason } of rejected) {
        expect(reason).toBeInstanceOf(Failed);
        expect((reason as Failed).cause).toBe('exists');
      }
      const owners = await gateway.query<{ owner: string }>('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [
        username,
        'pbx.local',
      ]);
      expect(owners).toHaveLength(1);
      const [{ count: userCount }] = await gateway.query<{ count: number }>(
        'SELECT COUNT(*) AS count FROM users WHERE username = ? AND domain = ?',
        [username, 'pbx.local'],
      );
      const [{ count: aliasCount }] = await gateway.query<{ count: number }>(
        'SELECT COUNT(*) AS count FROM aliases WHERE alias_username = ? AND alias_domain = ?',
        [username, 'pbx.local'],
      );
      expect(Number(userCount) + Number(aliasCount)).toBe(1);
      expect(owners[0].owner).toBe(Number(userCount) === 1 ? 'user' : 'alias');
    }
  });

  it('over HTTP, concurrent alias/add of one alias address answers ok once and failed/exists otherwise', async () => {
    const destinations = await Promise.all(Array.from({ length: 4 }, () => newUser()));
    const alias = `${tag()}@pbx.local`;
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, index) => gateway.get('alias/add', { alias, destination: destinations[index % 4].user })),
    );
    expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
    const [aliasUsername] = alias.split('@');
    expect(await gateway.query('SELECT id FROM aliases WHERE alias_username = ?', [aliasUsername])).toHaveLength(1);
  });

  it('over HTTP, an address a remote user holds is refused to alias/add once its domain becomes local, and the reverse', async () => {
    // Flipping the domain is the only way over HTTP to offer one address to both nodes.
    const held = await newUser();
    expect((await gateway.get('domains/add', { domain: held.domain, local: true })).body.response).toBe('ok');
    expect((await gateway.get('alias/add', { alias: held.user, destination: (await newUser()).user })).body).toMatchObject({
      response: 'failed',
      cause: 'exists',
    });

    const domain = `${tag()}.example`;
    expect((await gateway.get('domains/add', { domain, local: true })).body.response).toBe('ok');
    const alias = `${tag()}@${domain}`;
    expect((await gateway.get('alias/add', { alias, destination: (await newUser()).user })).body.response).toBe('ok');
    expect((await gateway.get('domains/update', { domain, local: false })).body.response).toBe('ok');
    expect((await gateway.get('user/add_remote', remoteUserParams(alias))).body).toMatchObject({ response: 'failed', cause: 'exists' });
    const [username] = alias.split('@');
    expect(await gateway.query('SELECT id FROM users WHERE username = ? AND domain = ?', [username, domain])).toHaveLength(0);
  });
});
