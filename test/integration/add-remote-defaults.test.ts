import { randomBytes } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 5, user/add_remote: registrar, r_port, proxy and p_port left out take the
// user's domain's server defaults (domains/add, domains/update) where it has them, then the
// contract's (5060, no proxy, 5060); invalid registrar only when neither gives a registrar. Every
// test makes its own domain, so nothing depends on the order the tests run in.

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

const DOMAIN_SETTINGS = { registrar: 'reg.domain.example', r_port: 5070, proxy: 'proxy.domain.example', p_port: 5080 };
const REQUEST_SETTINGS = { registrar: 'reg.request.example', r_port: 6070, proxy: 'proxy.request.example', p_port: 6080 };

/** A domain of its own in the domains table, with the given server defaults. */
async function addDomain(settings: Params = DOMAIN_SETTINGS): Promise<string> {
  const domain = `${tag()}.example`;
  expect((await gateway.get('domains/add', { domain, ...settings })).body).toMatchObject({ response: 'ok' });
  return domain;
}

async function addRemote(domain: string, params: Params): Promise<{ user: string; body: Record<string, unknown> }> {
  const user = `${tag()}@${domain}`;
  const response = await gateway.get('user/add_remote', { user, password: 'Remote-Secret1', displayname: 'Defaulted', ...params });
  return { user, body: response.body };
}

/** The server settings as stored, and as user/get answers them. */
async function storedSettings(user: string): Promise<Record<string, unknown>> {
  const [username, domain] = user.split('@');
  const [row] = await gateway.query('SELECT registrar, r_port, proxy, p_port FROM users WHERE username = ? AND domain = ?', [username, domain]);
  const answered = (await gateway.get('user/get', { user })).body.user;
  expect(answered).toMatchObject(row);
  return row;
}

describe('user/add_remote server settings', () => {
  it("takes every setting the request gives over the domain's", async () => {
    const domain = await addDomain();
    const { user, body } = await addRemote(domain, REQUEST_SETTINGS);
    expect(body).toMatchObject({ response: 'ok', user: REQUEST_SETTINGS });
    expect(await storedSettings(user)).toEqual(REQUEST_SETTINGS);
  });

  it("takes all four from the domain when the request leaves them out", async () => {
    const domain = await addDomain();
    const { user, body } = await addRemote(domain, {});
    expect(body).toMatchObject({ response: 'ok', user: DOMAIN_SETTINGS });
    expect(await storedSettings(user)).toEqual(DOMAIN_SETTINGS);
  });

  it.each(Object.keys(DOMAIN_SETTINGS))("fills %s alone from the domain, keeping the request's others", async (left) => {
    const domain = await addDomain();
    const params: Params = { ...REQUEST_SETTINGS };
    delete params[left];
    const { user, body } = await addRemote(domain, params);
    const expected = { ...REQUEST_SETTINGS, [left]: DOMAIN_SETTINGS[left as keyof typeof DOMAIN_SETTINGS] };
    expect(body).toMatchObject({ response: 'ok', user: expected });
    expect(await storedSettings(user)).toEqual(expected);
  });

  it("falls back to the contract's defaults where the domain has none (no proxy, ports as added)", async () => {
    const domain = await addDomain({ registrar: 'reg.only.example' });
    const { user, body } = await addRemote(domain, {});
    const expected = { registrar: 'reg.only.example', r_port: 5060, proxy: '', p_port: 5060 };
    expect(body).toMatchObject({ response: 'ok', user: expected });
    expect(await storedSettings(user)).toEqual(expected);
  });

  it('takes the defaults as domains/update last set them', async () => {
    const domain = await addDomain();
    const first = await addRemote(domain, {});
    expect((await gateway.get('domains/update', { domain, registrar: 'reg.updated.example', p_port: 7080 })).body).toMatchObject({ response: 'ok' });
    const second = await addRemote(domain, {});
    expect(second.body).toMatchObject({ response: 'ok', user: { ...DOMAIN_SETTINGS, registrar: 'reg.updated.example', p_port: 7080 } });
    // A user keeps the settings it was added with.
    expect(await storedSettings(first.user)).toEqual(DOMAIN_SETTINGS);
  });

  it('answers the filled settings on a dry run, storing nothing', async () => {
    const domain = await addDomain();
    const { user, body } = await addRemote(domain, { dry_run: true });
    expect(body).toMatchObject({ response: 'ok', dry_run: true, user: DOMAIN_SETTINGS });
    expect((await gateway.get('user/get', { user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  describe('registrar from neither the request nor the domain', () => {
    it('is invalid registrar for a domain without a default registrar, and stores nothing', async () => {
      const domain = await addDomain({ proxy: 'proxy.domain.example', r_port: 5070 });
      const { user, body } = await addRemote(domain, {});
      expect(body).toEqual({ response: 'invalid', cause: 'registrar', detail: expect.any(String) });
      expect((await gateway.get('user/get', { user })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    });

    it('is invalid registrar on a dry run too', async () => {
      const domain = await addDomain({ proxy: 'proxy.domain.example' });
      expect((await addRemote(domain, { dry_run: true })).body).toMatchObject({ response: 'invalid', cause: 'registrar' });
    });

    it("still takes the domain's other defaults when the request gives the registrar", async () => {
      const domain = await addDomain({ proxy: 'proxy.domain.example', r_port: 5070 });
      const { user, body } = await addRemote(domain, { registrar: 'reg.request.example' });
      const expected = { registrar: 'reg.request.example', r_port: 5070, proxy: 'proxy.domain.example', p_port: 5060 };
      expect(body).toMatchObject({ response: 'ok', user: expected });
      expect(await storedSettings(user)).toEqual(expected);
    });
  });

  describe('a domain the domains table does not know (as before domain defaults)', () => {
    it('takes 5060, no proxy, 5060 when the request gives only the registrar', async () => {
      const { user, body } = await addRemote(`${tag()}.example`, { registrar: 'reg.request.example' });
      const expected = { registrar: 'reg.request.example', r_port: 5060, proxy: '', p_port: 5060 };
      expect(body).toMatchObject({ response: 'ok', user: expected });
      expect(await storedSettings(user)).toEqual(expected);
    });

    it('takes every setting the request gives', async () => {
      const { user } = await addRemote(`${tag()}.example`, REQUEST_SETTINGS);
      expect(await storedSettings(user)).toEqual(REQUEST_SETTINGS);
    });

    it('is invalid registrar without one', async () => {
      expect((await addRemote(`${tag()}.example`, {})).body).toEqual({ response: 'invalid', cause: 'registrar', detail: expect.any(String) });
    });
  });

  describe('a local domain', () => {
    it('fails domain when a registrar is given, from the request or the domain', async () => {
      const withDefault = await addDomain({ local: true, registrar: 'reg.local.example' });
      expect((await addRemote(withDefault, {})).body).toMatchObject({ response: 'failed', cause: 'domain' });
      const bare = await addDomain({ local: true });
      expect((await addRemote(bare, { registrar: 'reg.request.example' })).body).toMatchObject({ response: 'failed', cause: 'domain' });
    });

    it('is invalid registrar when neither gives one, as before', async () => {
      const bare = await addDomain({ local: true });
      expect((await addRemote(bare, {})).body).toMatchObject({ response: 'invalid', cause: 'registrar' });
    });
  });
});
