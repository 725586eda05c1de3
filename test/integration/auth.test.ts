import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import request from 'supertest';
import { createLogger } from '../../src/logger';
import { start } from '../../src/start';
import { MYSQL_SERVER, startTestGateway, testConfig, type TestGateway } from '../helpers/gateway';

// CONTRACT section 3 (client auth, scopes) and section 8 (which operational endpoints are open).

const READ = { name: 'desk', token: `read-${randomBytes(12).toString('hex')}`, scope: 'read' as const };
const WRITE = { name: 'ops', token: `write-${randomBytes(12).toString('hex')}`, scope: 'write' as const };
const ADMIN = { name: 'root', token: `admin-${randomBytes(12).toString('hex')}`, scope: 'admin' as const };

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ authDisabled: false, apiTokens: [READ, WRITE, ADMIN] });
});

afterAll(async () => {
  await gateway.close();
});

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

function freshNumber(): string {
  return `+4792${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
}

/** GET /api/<node> with the token as a Bearer token (or none). */
function call(node: string, params: Record<string, string> = {}, token?: string): request.Test {
  const test = request(gateway.app).get(`/api/${node}`).query(params);
  return token === undefined ? test : test.set('Authorization', `Bearer ${token}`);
}

const UNAUTHENTICATED = { response: 'invalid', cause: 'auth', detail: expect.any(String) };
const OUT_OF_SCOPE = { response: 'failed', cause: 'scope', detail: expect.any(String) };

describe('requests without a known token', () => {
  it('answers a request without a token with 401, an invalid/auth envelope and WWW-Authenticate', async () => {
    const response = await call('numbers/list');
    expect(response.status).toBe(401);
    expect(response.body).toEqual(UNAUTHENTICATED);
    expect(response.headers['www-authenticate']).toBe('Bearer');
  });

  it('answers an unknown token with 401 on read and write nodes alike', async () => {
    const number = freshNumber();
    const read = await call('numbers/inpool', { number }, `unknown-${randomBytes(10).toString('hex')}`);
    expect(read.status).toBe(401);
    expect(read.body).toEqual(UNAUTHENTICATED);
    const write = await request(gateway.app).get('/api/numbers/add').query({ number }).set('X-API-Key', `nope-${randomBytes(10).toString('hex')}`);
    expect(write.status).toBe(401);
    expect(write.body).toEqual(UNAUTHENTICATED);
    const stored = await gateway.query('SELECT number FROM numbers WHERE number = ?', [number]);
    expect(stored).toHaveLength(0);
  });

  it('does not take a known token in another authorization scheme (Basic) or with a changed case', async () => {
    const basic = await request(gateway.app).get('/api/numbers/list').set('Authorization', `Basic ${ADMIN.token}`);
    expect(basic.status).toBe(401);
    const upper = await call('numbers/list', {}, ADMIN.token.toUpperCase());
    expect(upper.status).toBe(401);
    const prefix = await call('numbers/list', {}, ADMIN.token.slice(0, -1));
    expect(prefix.status).toBe(401);
  });
});

describe('presenting a token', () => {
  it('accepts the token as Authorization: Bearer', async () => {
    const response = await call('domains/list', {}, READ.token);
    expect(response.status).toBe(200);
    expect(response.body.response).toBe('ok');
    expect(response.body.domains.map((domain: { domain: string }) => domain.domain)).toContain('pbx.local');
  });

  it('accepts the token as X-API-Key', async () => {
    const number = freshNumber();
    const response = await request(gateway.app).get('/api/numbers/add').query({ number }).set('X-API-Key', WRITE.token);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'ok', detail: `Added ${number}` });
  });

  it('accepts the token on POST requests too', async () => {
    const number = freshNumber();
    const response = await request(gateway.app).post('/api/numbers/add').set('Authorization', `Bearer ${WRITE.token}`).send({ number });
    expect(response.body).toEqual({ response: 'ok', detail: `Added ${number}` });
  });
});

describe('request log', () => {
  it('names the client by its token name and never writes the token', async () => {
    const response = await call('domains/list', {}, WRITE.token);
    const requestId = response.headers['x-request-id'];
    const lines = gateway.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.request_id === requestId);
    expect(lines).toEqual([expect.objectContaining({ message: 'request', node: 'domains/list', client: 'ops', status: 200 })]);
    expect(gateway.logs.join('')).not.toContain(WRITE.token);
  });
});

describe('scopes', () => {
  it('lets a read token call read nodes', async () => {
    const number = freshNumber();
    const response = await call('numbers/inpool', { number }, READ.token);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('refuses a read token on a write node with 403 failed/scope and changes nothing', async () => {
    const number = freshNumber();
    const response = await call('numbers/add', { number }, READ.token);
    expect(response.status).toBe(403);
    expect(response.body).toEqual(OUT_OF_SCOPE);
    expect(response.body.detail).toContain('write');
    expect(await gateway.query('SELECT number FROM numbers WHERE number = ?', [number])).toHaveLength(0);
  });

  it('refuses a write token on domains/add, pbx/sync and audit/list with 403 failed/scope', async () => {
    const domain = `${tag()}.example`;
    const add = await call('domains/add', { domain }, WRITE.token);
    expect(add.status).toBe(403);
    expect(add.body).toEqual(OUT_OF_SCOPE);
    expect(await gateway.query('SELECT domain FROM domains WHERE domain = ?', [domain])).toHaveLength(0);
    const sync = await call('pbx/sync', { domain: 'pbx.local', dry_run: 'true' }, WRITE.token);
    expect(sync.status).toBe(403);
    expect(sync.body).toEqual(OUT_OF_SCOPE);
    const audit = await call('audit/list', {}, WRITE.token);
    expect(audit.status).toBe(403);
    expect(audit.body).toEqual(OUT_OF_SCOPE);
  });

  it('lets a write token call write and read nodes', async () => {
    const user = `${tag()}@remote.example`;
    const added = await call('user/add_remote', { user, password: 'Wr1te-Scope-Pw', displayname: 'Writer', registrar: 'sip.remote.example' }, WRITE.token);
    expect(added.body.response).toBe('ok');
    const got = await call('user/get', { user }, WRITE.token);
    expect(got.body).toMatchObject({ response: 'ok', user: { user, kind: 'remote' } });
  });

  it('lets an admin token call read, write and admin nodes', async () => {
    const domain = `${tag()}.example`;
    const number = freshNumber();
    expect((await call('numbers/list', {}, ADMIN.token)).body.response).toBe('ok');
    expect((await call('numbers/add', { number }, ADMIN.token)).body.response).toBe('ok');
    const added = await call('domains/add', { domain }, ADMIN.token);
    expect(added.status).toBe(200);
    expect(added.body).toMatchObject({ response: 'ok', domain: { domain, local: false } });
    const sync = await call('pbx/sync', { domain: 'pbx.local', dry_run: 'true' }, ADMIN.token);
    expect(sync.body).toMatchObject({ response: 'ok', dry_run: true });
    const audit = await call('audit/list', { limit: '5' }, ADMIN.token);
    expect(audit.body.response).toBe('ok');
    expect(audit.body.entries[0]).toMatchObject({ token: 'root', node: 'pbx/sync' });
  });
});

describe('operational endpoints', () => {
  it('serves /healthz without a token', async () => {
    const response = await request(gateway.app).get('/healthz');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('serves /readyz without a token', async () => {
    const response = await request(gateway.app).get('/readyz');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'ready', failing: [] });
  });

  it('serves /api/openapi.json without a token', async () => {
    const response = await request(gateway.app).get('/api/openapi.json');
    expect(response.status).toBe(200);
    expect(response.body.openapi).toMatch(/^3\./);
    expect(Object.keys(response.body.paths)).toEqual(expect.arrayContaining(['/api/user/get', '/api/audit/list']));
  });

  it('refuses /metrics without a token (401) and serves it as text to a read token', async () => {
    const refused = await request(gateway.app).get('/metrics');
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual(UNAUTHENTICATED);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    const unknown = await request(gateway.app).get('/metrics').set('Authorization', `Bearer ${READ.token}x`);
    expect(unknown.status).toBe(401);
    const served = await request(gateway.app).get('/metrics').set('Authorization', `Bearer ${READ.token}`);
    expect(served.status).toBe(200);
    expect(served.headers['content-type']).toMatch(/^text\/plain/);
    expect(served.text).toContain('pbxgw_requests_total');
  });
});

describe('with AUTH_DISABLED=true', () => {
  let open: TestGateway;

  beforeAll(async () => {
    open = await startTestGateway({ authDisabled: true, apiTokens: [ADMIN] });
  });

  afterAll(async () => {
    await open.close();
  });

  it('serves read, write and admin nodes and /metrics without any token', async () => {
    const number = freshNumber();
    const domain = `${tag()}.example`;
    expect((await request(open.app).get('/api/numbers/add').query({ number })).body).toEqual({ response: 'ok', detail: `Added ${number}` });
    expect((await request(open.app).get('/api/numbers/inpool').query({ number })).body).toEqual({ response: 'ok', number });
    expect((await request(open.app).get('/api/domains/add').query({ domain })).body).toMatchObject({ response: 'ok', domain: { domain } });
    const audit = await request(open.app).get('/api/audit/list').query({ limit: '1' });
    expect(audit.status).toBe(200);
    expect(audit.body.entries).toEqual([expect.objectContaining({ node: 'domains/add', token: null, response: 'ok' })]);
    const metrics = await request(open.app).get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('pbxgw_requests_total');
  });

  it('ignores a token that is not configured instead of refusing it', async () => {
    const response = await request(open.app).get('/api/domains/list').set('Authorization', `Bearer unknown-${randomBytes(10).toString('hex')}`);
    expect(response.status).toBe(200);
    expect(response.body.response).toBe('ok');
  });
});

describe('the start banner (no API_TOKENS configured)', () => {
  it('writes one generated admin token to START_TOKEN_FILE, says where on stderr (never the token), and it works over HTTP and never reaches the log', async () => {
    const logged: string[] = [];
    const logger = createLogger(
      'debug',
      new Writable({
        write(chunk, _encoding, done) {
          logged.push(String(chunk));
          done();
        },
      }),
    );
    const tokenDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-auth-'));
    const tokenFile = path.join(tokenDirectory, 'start-token');
    const config = testConfig({ authDisabled: false, apiTokens: [], startTokenFile: tokenFile });
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    let running: Awaited<ReturnType<typeof start>> | undefined;
    try {
      running = await start(config, logger, 'test');
    } finally {
      spy.mockRestore();
    }
    try {
      const banners = written.filter((text) => text.includes('no API_TOKENS configured'));
      expect(banners).toHaveLength(1);
      expect(banners[0]).toContain(`this run's admin token is in ${tokenFile} (mode 0600)`);
      const token = fs.readFileSync(tokenFile, 'utf8').trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect(written.join('')).not.toContain(token);

      const without = await fetch(`${running.url}/api/domains/list`);
      expect(without.status).toBe(401);
      const domain = `${tag()}.example`;
      const admin = await fetch(`${running.url}/api/domains/add?domain=${domain}`, { headers: { Authorization: `Bearer ${token}` } });
      expect(admin.status).toBe(200);
      expect(await admin.json()).toMatchObject({ response: 'ok', domain: { domain } });
      const viaKey = await fetch(`${running.url}/api/audit/list?limit=1`, { headers: { 'X-API-Key': token } });
      const audit = (await viaKey.json()) as { entries: { token: string; node: string }[] };
      expect(audit.entries).toEqual([expect.objectContaining({ token: 'generated-admin', node: 'domains/add' })]);

      // The log has the requests (by token name), never the token itself.
      await new Promise((resolve) => setImmediate(resolve));
      const log = logged.join('');
      expect(log).toContain('"client":"generated-admin"');
      expect(log).not.toContain(token);
      const [rows] = await running.container.pool.query('SELECT params FROM audit_log');
      expect(JSON.stringify(rows)).not.toContain(token);
    } finally {
      fs.rmSync(tokenDirectory, { recursive: true, force: true });
      await running.stop();
      const connection = await mysql.createConnection(MYSQL_SERVER);
      await connection.query(`DROP DATABASE IF EXISTS \`${new URL(config.mysqlUrl).pathname.slice(1)}\``);
      await connection.end();
    }
  });

  it('shows no banner when API_TOKENS are configured', async () => {
    const config = testConfig({ authDisabled: false, apiTokens: [ADMIN] });
    const written: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const quiet = createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));
    let running: Awaited<ReturnType<typeof start>> | undefined;
    try {
      running = await start(config, quiet, 'test');
    } finally {
      spy.mockRestore();
    }
    try {
      expect(written.filter((text) => text.includes('no API_TOKENS configured'))).toHaveLength(0);
      const response = await fetch(`${running.url}/api/domains/list`, { headers: { Authorization: `Bearer ${ADMIN.token}` } });
      expect(response.status).toBe(200);
    } finally {
      await running.stop();
      const connection = await mysql.createConnection(MYSQL_SERVER);
      await connection.query(`DROP DATABASE IF EXISTS \`${new URL(config.mysqlUrl).pathname.slice(1)}\``);
      await connection.end();
    }
  });
});
