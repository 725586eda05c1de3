import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { tokenDigest } from '../../src/http/auth';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 5, tokens/list|add|revoke (admin): tokens made at run time, stored as digests,
// shown once, revocable, expiring; API_TOKENS still works beside them.

const ADMIN = { name: 'root', token: `root-${randomBytes(24).toString('base64url')}`, scope: 'admin' as const };
const WRITER = { name: 'ops', token: `ops-${randomBytes(24).toString('base64url')}`, scope: 'write' as const };

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ authDisabled: false, apiTokens: [ADMIN, WRITER] });
});

afterAll(async () => {
  await gateway.close();
});

function call(node: string, params: Record<string, string | number> = {}, token = ADMIN.token): request.Test {
  return request(gateway.app).get(`/api/${node}`).query(params).set('Authorization', `Bearer ${token}`);
}

const name = () => `t-${randomBytes(4).toString('hex')}`;

describe('tokens/add', () => {
  it('makes a 32-byte base64url token, shown once, that works at once with its scope; MySQL holds only its digest', async () => {
    const tokenName = name();
    const made = await call('tokens/add', { name: tokenName, scope: 'write' });
    expect(made.body).toEqual({
      response: 'ok',
      name: tokenName,
      scope: 'write',
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      created: expect.any(String),
      expires: null,
      rate_per_minute: null,
    });
    const token = made.body.token as string;
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect((await call('numbers/add', { number: '+4795000001' }, token)).body.response).toBe('ok');
    expect((await call('domains/add', { domain: `${name()}.example` }, token)).status).toBe(403);

    const rows = await gateway.query<Record<string, unknown>>('SELECT * FROM api_tokens WHERE name = ?', [tokenName]);
    expect(rows).toHaveLength(1);
    expect(rows[0].digest).toBe(tokenDigest(token));
    expect(JSON.stringify(rows)).not.toContain(token);
    // The audit trail names the request, never the token.
    const audit = await gateway.query<{ params: string }>("SELECT params FROM audit_log WHERE node = 'tokens/add'");
    expect(audit.map((row) => JSON.stringify(row.params)).join()).not.toContain(token);
    expect(gateway.logs.join('')).not.toContain(token);
  });

  it('answers failed/exists for a name taken by a made token or by a token of API_TOKENS', async () => {
    const tokenName = name();
    expect((await call('tokens/add', { name: tokenName, scope: 'read' })).body.response).toBe('ok');
    expect((await call('tokens/add', { name: tokenName, scope: 'read' })).body).toMatchObject({ response: 'failed', cause: 'exists' });
    expect((await call('tokens/add', { name: 'ops', scope: 'read' })).body).toMatchObject({ response: 'failed', cause: 'exists' });
  });

  it.each([
    [{ scope: 'read' }, 'name'],
    [{ name: 'bad name!', scope: 'read' }, 'name'],
    [{ name: 'x', scope: 'root' }, 'scope'],
    [{ name: 'x', scope: 'read', expires: 'tomorrow' }, 'expires'],
    [{ name: 'x', scope: 'read', expires: '2001-01-01T00:00:00Z' }, 'expires'],
    [{ name: 'x', scope: 'read', rate_per_minute: 0 }, 'rate_per_minute'],
    [{ name: 'x', scope: 'read', token: 'chosen' }, 'parameter'],
  ])('refuses %j as invalid/%s', async (params, cause) => {
    expect((await call('tokens/add', params as Record<string, string>)).body).toMatchObject({ response: 'invalid', cause });
  });

  it('needs admin scope', async () => {
    expect((await call('tokens/add', { name: name(), scope: 'read' }, WRITER.token)).status).toBe(403);
    expect((await call('tokens/list', {}, WRITER.token)).status).toBe(403);
  });

  it('makes a token that stops working when it expires', async () => {
    const expires = new Date(Date.now() + 1500).toISOString();
    const made = await call('tokens/add', { name: name(), scope: 'read', expires });
    expect(made.body.expires).toBe(expires);
    const token = made.body.token as string;
    expect((await call('domains/list', {}, token)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await call('domains/list', {}, token)).status).toBe(401);
  });
});

describe('tokens/list', () => {
  it('shows configured and made tokens with source, times and rate, never a token or digest', async () => {
    const tokenName = name();
    const made = await call('tokens/add', { name: tokenName, scope: 'read', rate_per_minute: 600, expires: '2099-01-01T00:00:00.000Z' });
    await call('domains/list', {}, made.body.token as string);
    const listed = await call('tokens/list');
    expect(listed.body.response).toBe('ok');
    const tokens = listed.body.tokens as Record<string, unknown>[];
    expect(tokens.find((token) => token.name === 'root')).toEqual({
      name: 'root',
      scope: 'admin',
      source: 'config',
      created: null,
      expires: null,
      last_used: expect.any(String),
      rate_per_minute: null,
    });
    expect(tokens.find((token) => token.name === tokenName)).toEqual({
      name: tokenName,
      scope: 'read',
      source: 'api',
      created: expect.any(String),
      expires: '2099-01-01T00:00:00.000Z',
      last_used: expect.any(String),
      rate_per_minute: 600,
    });
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(made.body.token as string);
    expect(text).not.toContain(ADMIN.token);
    expect(text).not.toContain(tokenDigest(made.body.token as string));
  });

  it('keeps last_used in MySQL once the gateway records it', async () => {
    await gateway.container.tokenSync?.stop(); // stop() writes what is pending
    const rows = await gateway.query<{ name: string }>('SELECT name FROM token_use');
    expect(rows.map((row) => row.name)).toContain('root');
  });
});

describe('tokens/revoke', () => {
  it('revokes a made token: 401 at once on this gateway; the row is gone', async () => {
    const tokenName = name();
    const token = (await call('tokens/add', { name: tokenName, scope: 'read' })).body.token as string;
    expect((await call('domains/list', {}, token)).status).toBe(200);
    expect((await call('tokens/revoke', { name: tokenName })).body).toEqual({ response: 'ok', name: tokenName });
    expect((await call('domains/list', {}, token)).status).toBe(401);
    expect(await gateway.query('SELECT name FROM api_tokens WHERE name = ?', [tokenName])).toHaveLength(0);
  });

  it('answers failed/nonexistant for an unknown name and failed/config for a token of API_TOKENS (which keeps working)', async () => {
    expect((await call('tokens/revoke', { name: name() })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect((await call('tokens/revoke', { name: 'ops' })).body).toMatchObject({ response: 'failed', cause: 'config' });
    expect((await call('domains/list', {}, WRITER.token)).status).toBe(200);
  });
});
