import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger';
import { prepare } from '../../src/start';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let gateway: TestGateway;
let sequence = 0;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

function uniqueDomain(prefix = 'd'): string {
  sequence += 1;
  return `${prefix}${sequence}.example`;
}

interface DomainObject {
  domain: string;
  local: boolean;
  registrar: string;
  proxy: string;
  r_port: number;
  p_port: number;
}

async function domains(on: TestGateway = gateway): Promise<DomainObject[]> {
  const response = await on.get('domains/list');
  expect(response.body.response).toBe('ok');
  return response.body.domains;
}

async function find(domain: string): Promise<DomainObject | undefined> {
  return (await domains()).find((entry) => entry.domain === domain);
}

async function addRemoteUser(address: string): Promise<void> {
  const response = await gateway.get('user/add_remote', {
    user: address,
    password: 'S3cret-pass',
    displayname: 'Domain Test',
    registrar: 'sip.example.com',
  });
  expect(response.body).toMatchObject({ response: 'ok' });
}

describe('domains/list', () => {
  it('lists the LOCAL_DOMAINS merged in at start: pbx.local is local with default server settings', async () => {
    expect(await find('pbx.local')).toEqual({ domain: 'pbx.local', local: true, registrar: '', proxy: '', r_port: 5060, p_port: 5060 });
  });

  it('merges every configured local domain, lower-cased', async () => {
    const own = await startTestGateway({ localDomains: ['pbx.local', 'Second.Local'] });
    try {
      const listed = await domains(own);
      expect(listed.filter((entry) => entry.local).map((entry) => entry.domain)).toEqual(['pbx.local', 'second.local']);
    } finally {
      await own.close();
    }
  });

  it('marks a known domain local when it is named in LOCAL_DOMAINS at the next start, keeping its settings', async () => {
    const domain = uniqueDomain('later-local');
    await gateway.get('domains/add', { domain, local: false, registrar: 'reg.example.com', r_port: 5070 });
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    const restarted = await prepare({ ...gateway.config, localDomains: ['pbx.local', domain] }, createLogger('error', sink));
    await restarted.close();
    expect(await find(domain)).toEqual({ domain, local: true, registrar: 'reg.example.com', proxy: '', r_port: 5070, p_port: 5060 });
  });

  it('lists domains ordered by name with every member', async () => {
    const names = [uniqueDomain('zz'), uniqueDomain('aa'), uniqueDomain('mm')];
    for (const domain of names) await gateway.get('domains/add', { domain });
    const listed = await domains();
    const order = listed.map((entry) => entry.domain);
    expect(order).toEqual([...order].sort());
    for (const entry of listed) {
      expect(Object.keys(entry).sort()).toEqual(['domain', 'local', 'p_port', 'proxy', 'r_port', 'registrar']);
      expect(typeof entry.local).toBe('boolean');
    }
  });

  it('refuses parameters', async () => {
    expect((await gateway.get('domains/list', { domain: 'pbx.local' })).body).toMatchObject({ response: 'invalid', cause: 'parameter' });
  });
});

describe('domains/add', () => {
  it('adds a domain with default settings: not local, ports 5060', async () => {
    const domain = uniqueDomain();
    const response = await gateway.get('domains/add', { domain });
    const expected = { domain, local: false, registrar: '', proxy: '', r_port: 5060, p_port: 5060 };
    expect(response.body).toEqual({ response: 'ok', domain: expected });
    expect(await find(domain)).toEqual(expected);
  });

  it('adds a local domain with its server settings', async () => {
    const domain = uniqueDomain();
    const response = await gateway.get('domains/add', {
      domain,
      local: true,
      registrar: 'registrar.example.com',
      proxy: 'proxy.example.com',
      r_port: 5080,
      p_port: 5090,
    });
    const expected = { domain, local: true, registrar: 'registrar.example.com', proxy: 'proxy.example.com', r_port: 5080, p_port: 5090 };
    expect(response.body).toEqual({ response: 'ok', domain: expected });
    expect(await find(domain)).toEqual(expected);
  });

  it('lower-cases the domain', async () => {
    const domain = uniqueDomain('upper');
    const response = await gateway.get('domains/add', { domain: domain.toUpperCase() });
    expect(response.body.domain.domain).toBe(domain);
    expect(await find(domain)).toBeDefined();
  });

  it('makes alias/add accept aliases in a domain added as local', async () => {
    const domain = uniqueDomain('aliasable');
    expect((await gateway.get('alias/add', { alias: `a@${domain}`, destination: 'x@remote.example' })).body).toMatchObject({
      response: 'failed',
      cause: 'nxdomain',
    });
    await gateway.get('domains/add', { domain, local: true });
    expect((await gateway.get('alias/add', { alias: `a@${domain}`, destination: 'x@remote.example' })).body).toMatchObject({ response: 'ok' });
  });

  it('makes user/add_remote refuse a domain added as local', async () => {
    const domain = uniqueDomain('nolocalremote');
    await gateway.get('domains/add', { domain, local: true });
    const response = await gateway.get('user/add_remote', {
      user: `u@${domain}`,
      password: 'S3cret-pass',
      displayname: 'x',
      registrar: 'sip.example.com',
    });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'domain' });
  });

  it('fails with exists for a domain that exists, and keeps the first', async () => {
    const domain = uniqueDomain();
    await gateway.get('domains/add', { domain, registrar: 'first.example.com' });
    const again = await gateway.get('domains/add', { domain, local: true, registrar: 'second.example.com' });
    expect(again.body).toMatchObject({ response: 'failed', cause: 'exists', detail: expect.any(String) });
    expect(await find(domain)).toMatchObject({ local: false, registrar: 'first.example.com' });
  });

  it('fails with exists for pbx.local', async () => {
    expect((await gateway.get('domains/add', { domain: 'pbx.local' })).body).toMatchObject({ response: 'failed', cause: 'exists' });
  });

  it.each([
    ['domain', { domain: 'not a domain' }],
    ['domain', { domain: 'bad_domain.example' }],
    ['domain', {}],
    ['local', { domain: 'ok.example', local: 'perhaps' }],
    ['registrar', { domain: 'ok.example', registrar: 'not a host' }],
    ['proxy', { domain: 'ok.example', proxy: 'bad..host' }],
    ['r_port', { domain: 'ok.example', r_port: 0 }],
    ['p_port', { domain: 'ok.example', p_port: 65536 }],
    ['parameter', { domain: 'ok.example', colour: 'blue' }],
  ])('refuses a malformed request as invalid %s', async (cause, params) => {
    const response = await gateway.get('domains/add', params);
    expect(response.body).toMatchObject({ response: 'invalid', cause });
    expect(await find('ok.example')).toBeUndefined();
  });
});

describe('domains/update', () => {
  it('changes the given settings and keeps the others', async () => {
    const domain = uniqueDomain();
    await gateway.get('domains/add', { domain, registrar: 'reg.example.com', proxy: 'proxy.example.com', r_port: 5070, p_port: 5071 });
    const response = await gateway.get('domains/update', { domain, proxy: 'new-proxy.example.com', p_port: 6000 });
    const expected = { domain, local: false, registrar: 'reg.example.com', proxy: 'new-proxy.example.com', r_port: 5070, p_port: 6000 };
    expect(response.body).toEqual({ response: 'ok', domain: expected });
    expect(await find(domain)).toEqual(expected);
  });

  it('switches a domain between local and not local', async () => {
    const domain = uniqueDomain();
    await gateway.get('domains/add', { domain });
    expect((await gateway.get('domains/update', { domain, local: true })).body.domain.local).toBe(true);
    expect((await find(domain))?.local).toBe(true);
    expect((await gateway.get('domains/update', { domain, local: false })).body.domain.local).toBe(false);
    expect((await find(domain))?.local).toBe(false);
  });

  it('clears the registrar and proxy with empty values', async () => {
    const domain = uniqueDomain();
    await gateway.get('domains/add', { domain, registrar: 'reg.example.com', proxy: 'proxy.example.com' });
    const response = await gateway.get('domains/update', { domain, registrar: '', proxy: '' });
    expect(response.body.domain).toMatchObject({ registrar: '', proxy: '' });
    expect(await find(domain)).toMatchObject({ registrar: '', proxy: '' });
  });

  it('fails with nonexistant for an unknown domain and creates nothing', async () => {
    const domain = uniqueDomain('unknown');
    const response = await gateway.get('domains/update', { domain, local: true });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
    expect(await find(domain)).toBeUndefined();
  });

  it('refuses a malformed domain or setting', async () => {
    expect((await gateway.get('domains/update', { domain: 'x y' })).body).toMatchObject({ response: 'invalid', cause: 'domain' });
    expect((await gateway.get('domains/update', { domain: 'pbx.local', r_port: 'high' })).body).toMatchObject({
      response: 'invalid',
      cause: 'r_port',
    });
    expect(await find('pbx.local')).toMatchObject({ r_port: 5060 });
  });
});

describe('domains/remove', () => {
  it('removes an unused domain and answers it', async () => {
    const domain = uniqueDomain();
    await gateway.get('domains/add', { domain });
    expect((await gateway.get('domains/remove', { domain })).body).toEqual({ response: 'ok', domain });
    expect(await find(domain)).toBeUndefined();
  });

  it('fails with nonexistant for an unknown domain', async () => {
    const response = await gateway.get('domains/remove', { domain: uniqueDomain('unknown') });
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant', detail: expect.any(String) });
  });

  it('fails with inuse while a user uses the domain, and removes it once the user is gone', async () => {
    const domain = uniqueDomain('with-user');
    await gateway.get('domains/add', { domain });
    await addRemoteUser(`someone@${domain}`);
    const refused = await gateway.get('domains/remove', { domain });
    expect(refused.body).toMatchObject({ response: 'failed', cause: 'inuse', detail: expect.any(String) });
    expect(await find(domain)).toBeDefined();
    expect((await gateway.get('user/remove', { user: `someone@${domain}` })).body).toMatchObject({ response: 'ok' });
    expect((await gateway.get('domains/remove', { domain })).body).toEqual({ response: 'ok', domain });
  });

  it('fails with inuse while an alias uses the domain, and removes it once the alias is gone', async () => {
    const domain = uniqueDomain('with-alias');
    await gateway.get('domains/add', { domain, local: true });
    expect((await gateway.get('alias/add', { alias: `front@${domain}`, destination: 'back@remote.example' })).body).toMatchObject({
      response: 'ok',
    });
    const refused = await gateway.get('domains/remove', { domain });
    expect(refused.body).toMatchObject({ response: 'failed', cause: 'inuse' });
    expect(await find(domain)).toMatchObject({ local: true });
    expect((await gateway.get('alias/remove', { alias: `front@${domain}` })).body).toMatchObject({ response: 'ok' });
    expect((await gateway.get('domains/remove', { domain })).body).toEqual({ response: 'ok', domain });
  });

  it('fails with inuse for pbx.local while a user is in it (user inserted with SQL)', async () => {
    // user/add_local is not built yet: the rows it would write are inserted directly.
    await gateway.query("INSERT INTO addresses (username, domain, owner) VALUES ('4799', 'pbx.local', 'user')");
    await gateway.query("INSERT INTO users (username, domain, kind, displayname) VALUES ('4799', 'pbx.local', 'local', 'Local')");
    expect((await gateway.get('domains/remove', { domain: 'pbx.local' })).body).toMatchObject({ response: 'failed', cause: 'inuse' });
    expect(await find('pbx.local')).toBeDefined();
  });

  it('refuses a malformed domain', async () => {
    expect((await gateway.get('domains/remove', { domain: '-x.example' })).body).toMatchObject({ response: 'invalid', cause: 'domain' });
    expect((await gateway.get('domains/remove')).body).toMatchObject({ response: 'invalid', cause: 'domain' });
  });
});
