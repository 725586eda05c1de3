import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import type { Container } from '../../src/container';
import { createLogger } from '../../src/logger';
import type { PbxConfig } from '../../src/config';
import { appDeps, prepare } from '../../src/start';
import { MYSQL_SERVER, startTestGateway, testConfig, type TestGateway } from '../helpers/gateway';

// CONTRACT section 8: logs never contain passwords, the PBX API key or Basic credentials, or client
// tokens. One scenario at LOG_LEVEL=debug uses every secret the gateway sees — client tokens (as
// Bearer and as X-API-Key, known and unknown), remote and local SIP passwords (given, generated,
// changed, refused), the PBX credentials — and provokes the failures that log the most (PBX 401,
// PBX 500 / reset / refusal, a database failing under a trigger). Then everything logged, and
// every audit row, is searched for every secret.

const random = (prefix: string) => `${prefix}-${randomBytes(12).toString('base64url')}`;

const ADMIN = { name: 'root', token: random('admin'), scope: 'admin' as const };
const WRITER = { name: 'ops', token: random('write'), scope: 'write' as const };
const READER = { name: 'desk', token: random('read'), scope: 'read' as const };
const TOKENS = [ADMIN, WRITER, READER];
const UNKNOWN_TOKENS = [random('unknown-bearer'), random('unknown-apikey'), random('unknown-query')];

// SIP passwords with the characters that escape differently in JSON, URLs and forms.
const pw = (label: string) => `${label}"\\'%&+=#${randomBytes(6).toString('hex')}`;
const REMOTE_PASSWORD = pw('Remote1');
const REMOTE_PASSWORD_2 = pw('Remote2');
const REMOTE_PASSWORD_3 = pw('Remote3');
const LOCAL_PASSWORD_2 = pw('Local2');
const LOCAL_PASSWORD_3 = pw('Local3');
const LOCAL_PASSWORD_4 = pw('Local4');
const LOCAL_PASSWORD_5 = pw('Local5');
const REFUSED_PASSWORD = `refused secret ${randomBytes(6).toString('hex')}`; // has spaces: invalid
const SHORT_PASSWORD = `Sh!${randomBytes(2).toString('hex')}`; // 7 characters: too short, invalid
const SCOPE_PASSWORD = pw('Scope');
const UNAUTHENTICATED_PASSWORD = pw('NoAuth');
const UNPARSED_PASSWORD = pw('Unparsed');
const OVERSIZED_PASSWORD = pw('Oversized');
const WRONG_PBX_PASSWORD = random('wrong-pbx-password');
const WRONG_PBX_API_KEY = random('wrong-pbx-apikey');

interface ExtraGateway {
  app: Express;
  container: Container;
  logs: string[];
  close(): Promise<void>;
}

/** A second gateway on its own database, pointed at the main gateway's PBX simulator with the given credentials. */
async function gatewayWithPbxCredentials(pbx: Partial<PbxConfig>): Promise<ExtraGateway> {
  const config = testConfig({ logLevel: 'debug', authDisabled: false, apiTokens: TOKENS, pbx });
  const logs: string[] = [];
  const logger = createLogger(
    'debug',
    new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  );
  const container = await prepare(config, logger);
  const app = createApp(appDeps(container, 'test'));
  return {
    app,
    container,
    logs,
    async close() {
      await container.close();
      const connection = await mysql.createConnection(MYSQL_SERVER);
      await connection.query(`DROP DATABASE IF EXISTS \`${new URL(config.mysqlUrl).pathname.slice(1)}\``);
      await connection.end();
    },
  };
}

let gateway: TestGateway;
const extras: ExtraGateway[] = [];
const generated: string[] = [];

beforeAll(async () => {
  // A short PBX timeout, so the timed-out call below costs half a second.
  gateway = await startTestGateway({ logLevel: 'debug', authDisabled: false, apiTokens: TOKENS, pbx: { timeoutMs: 500 } });
});

afterAll(async () => {
  for (const extra of extras) await extra.close();
  await gateway.close();
});

type Auth = { bearer: string } | { apiKey: string } | { header: string } | null;

function withAuth(test: request.Test, auth: Auth): request.Test {
  if (auth === null) return test;
  if ('bearer' in auth) return test.set('Authorization', `Bearer ${auth.bearer}`);
  if ('apiKey' in auth) return test.set('X-API-Key', auth.apiKey);
  return test.set('Authorization', auth.header);
}

function get(app: Express, node: string, params: Record<string, string>, auth: Auth): request.Test {
  return withAuth(request(app).get(`/api/${node}`).query(params), auth);
}

function postJson(app: Express, node: string, body: Record<string, unknown>, auth: Auth): request.Test {
  return withAuth(request(app).post(`/api/${node}`).send(body), auth);
}

function postForm(app: Express, node: string, body: Record<string, string>, auth: Auth): request.Test {
  return withAuth(request(app).post(`/api/${node}`).type('form').send(new URLSearchParams(body).toString()), auth);
}

/**
 * The forms a secret could take in a log line: as is, JSON-escaped (once or twice), URL- or
 * form-encoded, base64; and each run of 10 or more letters and digits in it (its random part),
 * which survives any escaping of the characters around it.
 */
function variants(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  return [
    ...new Set([
      secret,
      json,
      JSON.stringify(json).slice(1, -1),
      encodeURIComponent(secret),
      new URLSearchParams({ s: secret }).toString().slice(2),
      Buffer.from(secret).toString('base64'),
      ...(secret.match(/[A-Za-z0-9]{10,}/g) ?? []),
    ]),
  ];
}

function basic(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString('base64');
}

describe('no secrets in logs (CONTRACT section 8)', () => {
  it('uses every secret, provokes every failure, and logs none of them', async () => {
    const { app, pbx } = gateway;
    const write = { bearer: WRITER.token };
    const writeKey = { apiKey: WRITER.token };
    const admin = { bearer: ADMIN.token };

    // Remote users: the password given over GET, changed over a form and over JSON.
    expect((await get(app, 'user/add_remote', { user: 'bob@remote.example', password: REMOTE_PASSWORD, displayname: 'Bob', registrar: 'sip.example.com' }, write)).body).toMatchObject({ response: 'ok' });
    expect((await postForm(app, 'user/change_pw', { user: 'bob@remote.example', password: REMOTE_PASSWORD_2 }, writeKey)).body).toMatchObject({ response: 'ok' });

    // Local users: the generated password comes back once; then it is changed.
    const added = await postJson(app, 'user/add_local', { user: '1001@pbx.local', displayname: 'Local One' }, writeKey);
    expect(added.body).toMatchObject({ response: 'ok', password: expect.any(String) });
    generated.push(added.body.password as string);
    expect((await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: LOCAL_PASSWORD_2 }, write)).body).toMatchObject({ response: 'ok' });
    expect(pbx.extension('1001')?.secret).toBe(LOCAL_PASSWORD_2);

    // Refused passwords: malformed, too short, given twice, in the wrong scope, without a known token.
    expect((await get(app, 'user/change_pw', { user: '1001@pbx.local', password: REFUSED_PASSWORD }, write)).body).toMatchObject({ response: 'invalid', cause: 'password' });
    expect((await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: SHORT_PASSWORD }, write)).body).toMatchObject({ response: 'invalid', cause: 'password' });
    const twice = await withAuth(request(app).post(`/api/user/change_pw?password=${encodeURIComponent(LOCAL_PASSWORD_3)}`).send({ user: '1001@pbx.local', password: LOCAL_PASSWORD_3 }), write);
    expect(twice.body).toMatchObject({ response: 'invalid' });
    const outOfScope = await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: SCOPE_PASSWORD }, { bearer: READER.token });
    expect(outOfScope.status).toBe(403);
    for (const auth of [{ bearer: UNKNOWN_TOKENS[0] }, { apiKey: UNKNOWN_TOKENS[1] }, { header: `Basic ${basic('root', UNKNOWN_TOKENS[2])}` }, null]) {
      const refused = await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: UNAUTHENTICATED_PASSWORD }, auth);
      expect(refused.status).toBe(401);
    }
    // A token (or secret-named parameter) in the query is refused as an unknown parameter.
    const inQuery = await get(app, 'user/get', { user: '1001@pbx.local', access_token: UNKNOWN_TOKENS[2], api_key: WRITER.token }, write);
    expect(inQuery.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
    expect(JSON.stringify(inQuery.body)).not.toContain(WRITER.token);

    // Bodies the gateway cannot take: one that does not parse, one over the size limit.
    const unparsed = await withAuth(request(app).post('/api/user/change_pw').set('Content-Type', 'application/json').send(`{"user":"1001@pbx.local","password":"${UNPARSED_PASSWORD}`), write);
    expect(unparsed.status).toBe(400);
    const oversized = await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: OVERSIZED_PASSWORD, displayname: 'x'.repeat(80 * 1024) }, write);
    expect(oversized.status).toBe(413);

    // The PBX failing: timing out (axios' error carries the request config, credentials included),
    // HTTP 500 on both tries of an update (the original is put back), a refusal,
    // a reset connection on users/add, and an add whose answer is lost after it was applied.
    pbx.fail('/pbx/users/search', 'timeout');
    expect((await get(app, 'user/available', { user: '1009@pbx.local' }, write)).body).toMatchObject({ response: 'error', cause: 'pbx' });
    pbx.fail('/pbx/users/update', 'http500');
    pbx.fail('/pbx/users/update', 'http500');
    expect((await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: LOCAL_PASSWORD_3 }, write)).body).toMatchObject({ response: 'error', cause: 'pbx' });
    pbx.fail('/pbx/users/update', 'refuse');
    expect((await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: LOCAL_PASSWORD_4 }, write)).body).toMatchObject({ response: 'failed', cause: 'pbx' });
    expect(pbx.extension('1001')?.secret).toBe(LOCAL_PASSWORD_2);
    pbx.fail('/pbx/users/add', 'reset');
    expect((await postJson(app, 'user/add_local', { user: '1002@pbx.local', displayname: 'Reset' }, write)).body).toMatchObject({ response: 'error', cause: 'pbx' });
    pbx.fail('/pbx/users/add', 'reset-after');
    const lost = await postJson(app, 'user/add_local', { user: '1003@pbx.local', displayname: 'Lost answer' }, write);
    expect(lost.body).toMatchObject({ response: 'ok', password: expect.any(String) });
    generated.push(lost.body.password as string);

    // The database failing under a trigger: after the PBX said yes (the change is undone there)
    // and for a remote user (MySQL only).
    await gateway.query("CREATE TRIGGER fail_user_update BEFORE UPDATE ON users FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'simulated database failure'");
    await gateway.query("CREATE TRIGGER fail_user_insert BEFORE INSERT ON users FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'simulated database failure'");
    try {
      expect((await postJson(app, 'user/change_pw', { user: '1001@pbx.local', password: LOCAL_PASSWORD_5 }, write)).body).toMatchObject({ response: 'error', cause: 'db' });
      expect(pbx.extension('1001')?.secret).toBe(LOCAL_PASSWORD_2);
      expect((await postForm(app, 'user/change_pw', { user: 'bob@remote.example', password: REMOTE_PASSWORD_3 }, write)).body).toMatchObject({ response: 'error', cause: 'db' });
      expect((await postJson(app, 'user/add_local', { user: '1004@pbx.local', displayname: 'Undone' }, write)).body).toMatchObject({ response: 'error', cause: 'db' });
      expect(pbx.extension('1004')).toBeUndefined();
      expect((await postJson(app, 'user/add_remote', { user: 'carol@remote.example', password: REMOTE_PASSWORD_3, displayname: 'Carol', registrar: 'sip.example.com' }, write)).body).toMatchObject({ response: 'error', cause: 'db' });
    } finally {
      await gateway.query('DROP TRIGGER fail_user_update');
      await gateway.query('DROP TRIGGER fail_user_insert');
    }

    // Reads that carry secrets back: none may show one.
    const user = await get(app, 'user/get', { user: 'bob@remote.example' }, { bearer: READER.token });
    expect(user.body).toMatchObject({ response: 'ok' });
    const audit = await get(app, 'audit/list', { limit: '1000' }, admin);
    expect(audit.body).toMatchObject({ response: 'ok' });
    expect((await request(app).get('/metrics').set('Authorization', `Bearer ${READER.token}`)).status).toBe(200);
    expect((await request(app).get('/readyz')).status).toBe(200);

    // Two more gateways on the same simulator with wrong PBX credentials: a wrong password (the
    // right API key), and a wrong API key (the right password). Every PBX call answers 401.
    const { apiKey, username, password } = pbx.credentials;
    extras.push(await gatewayWithPbxCredentials({ url: pbx.url, apiKey, username, password: WRONG_PBX_PASSWORD }));
    extras.push(await gatewayWithPbxCredentials({ url: pbx.url, apiKey: WRONG_PBX_API_KEY, username, password }));
    for (const extra of extras) {
      const refused = await postJson(extra.app, 'user/add_local', { user: '2001@pbx.local', displayname: 'Wrong credentials' }, write);
      expect(refused.body).toMatchObject({ response: 'error', cause: 'pbx' });
      expect((await get(extra.app, 'user/available', { user: '2001@pbx.local' }, { apiKey: READER.token })).body).toMatchObject({ response: 'error', cause: 'pbx' });
      expect((await postJson(extra.app, 'pbx/sync', { domain: 'pbx.local' }, admin)).body).toMatchObject({ response: 'error', cause: 'pbx' });
      expect((await request(extra.app).get('/readyz')).status).toBe(503);
      await get(extra.app, 'user/add_remote', { user: 'dave@remote.example', password: REMOTE_PASSWORD, displayname: 'Dave', registrar: 'sip.example.com' }, write);
    }

    // The scenario did provoke what it meant to (so the search below is not vacuous).
    const logs = [...gateway.logs, ...extras.flatMap((extra) => extra.logs)];
    const everything = logs.join('\n');
    expect(logs.every((line) => line.trim() === '' || JSON.parse(line))).toBe(true);
    expect(everything).toContain('the PBX refused the gateway credentials');
    expect(everything).toContain('undid a PBX change');
    const failures = logs.filter((line) => line.includes('"request failed"')).map((line) => JSON.parse(line) as { cause: string });
    expect(new Set(failures.map((line) => line.cause))).toEqual(new Set(['pbx', 'db']));
    expect(logs.filter((line) => line.includes('"status":401')).length).toBeGreaterThanOrEqual(4);
    expect(logs.filter((line) => line.includes('"status":403')).length).toBeGreaterThanOrEqual(1);

    // Every secret the PBX was ever sent (generated passwords included, even of undone adds).
    const sentToPbx = pbx.calls.map((call) => (call.body as { secret?: unknown }).secret).filter((secret): secret is string => typeof secret === 'string' && secret !== '******');
    expect(sentToPbx.length).toBeGreaterThanOrEqual(5);

    const secrets: Record<string, string> = {
      ...Object.fromEntries(TOKENS.map((token) => [`token ${token.name}`, token.token])),
      ...Object.fromEntries(UNKNOWN_TOKENS.map((token, index) => [`unknown token ${index}`, token])),
      'remote password': REMOTE_PASSWORD,
      'remote password 2': REMOTE_PASSWORD_2,
      'remote password 3': REMOTE_PASSWORD_3,
      'local password 2': LOCAL_PASSWORD_2,
      'local password 3': LOCAL_PASSWORD_3,
      'local password 4': LOCAL_PASSWORD_4,
      'local password 5': LOCAL_PASSWORD_5,
      'refused password': REFUSED_PASSWORD,
      'short password': SHORT_PASSWORD,
      'out-of-scope password': SCOPE_PASSWORD,
      'unauthenticated password': UNAUTHENTICATED_PASSWORD,
      'password in a body that does not parse': UNPARSED_PASSWORD,
      'password in an oversized body': OVERSIZED_PASSWORD,
      ...Object.fromEntries(generated.map((secret, index) => [`generated password ${index}`, secret])),
      ...Object.fromEntries(sentToPbx.map((secret, index) => [`secret sent to the PBX ${index}`, secret])),
      'PBX API key': apiKey,
      'PBX password': password,
      'PBX user:password': `${username}:${password}`,
      'PBX Basic value': basic(username, password),
      'wrong PBX password': WRONG_PBX_PASSWORD,
      'wrong PBX API key': WRONG_PBX_API_KEY,
      'wrong PBX Basic value': basic(username, WRONG_PBX_PASSWORD),
    };
    const found = Object.entries(secrets).flatMap(([what, secret]) => (variants(secret).some((variant) => everything.includes(variant)) ? [what] : []));
    expect(found).toEqual([]);

    // The audit trail: rows of every gateway, and what audit/list answered.
    const auditRows = [
      ...(await gateway.query('SELECT * FROM audit_log')),
      ...(await Promise.all(extras.map(async (extra) => (await extra.container.pool.query('SELECT * FROM audit_log'))[0] as unknown[]))).flat(),
    ];
    expect(auditRows.length).toBeGreaterThanOrEqual(15);
    const trail = JSON.stringify(auditRows) + JSON.stringify(audit.body);
    expect(trail).toContain('[redacted]');
    const inTrail = Object.entries(secrets).flatMap(([what, secret]) => (variants(secret).some((variant) => trail.includes(variant)) ? [what] : []));
    expect(inTrail).toEqual([]);
    // No other answer showed a secret either (add_local's own answer aside).
    expect(JSON.stringify(user.body)).not.toContain(REMOTE_PASSWORD_2);
  });
});
