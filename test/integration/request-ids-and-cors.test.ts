import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 3: every answer, refusals included, carries X-Request-Id and is logged and
// counted; a well-formed X-Request-Id of the client's comes back and is the id in the log.
// CONTRACT section 2: CORS_ORIGINS lets browser pages on those origins call the nodes.

const ADMIN = { name: 'root', token: `root-${randomBytes(24).toString('base64url')}`, scope: 'admin' as const };
const HELPDESK = 'https://helpdesk.example.com';

let gateway: TestGateway;
let open: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ authDisabled: false, apiTokens: [ADMIN], corsOrigins: [HELPDESK] });
  open = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
  await open.close();
});

const lines = (of: TestGateway) => of.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('X-Request-Id', () => {
  it.each([
    ['a node answer', () => request(gateway.app).get('/api/domains/list').set('Authorization', `Bearer ${ADMIN.token}`), 200],
    ['a 401', () => request(gateway.app).get('/api/domains/list'), 401],
    ['a 404 with a token', () => request(gateway.app).get('/api/no/such').set('Authorization', `Bearer ${ADMIN.token}`), 404],
    ['a 405', () => request(gateway.app).delete('/api/domains/list').set('Authorization', `Bearer ${ADMIN.token}`), 405],
    ['a 400 body', () => request(gateway.app).post('/api/numbers/add').set('Authorization', `Bearer ${ADMIN.token}`).set('Content-Type', 'application/json').send('{"number":'), 400],
    ['a 413 body', () => request(gateway.app).post('/api/numbers/add').set('Authorization', `Bearer ${ADMIN.token}`).send({ number: 'x'.repeat(70_000) }), 413],
    ['/healthz', () => request(gateway.app).get('/healthz'), 200],
    ['/readyz', () => request(gateway.app).get('/readyz'), 200],
    ['/metrics', () => request(gateway.app).get('/metrics').set('Authorization', `Bearer ${ADMIN.token}`), 200],
    ['/api/openapi.json', () => request(gateway.app).get('/api/openapi.json'), 200],
    ['an unknown path with a token', () => request(gateway.app).get('/favicon.ico').set('Authorization', `Bearer ${ADMIN.token}`), 404],
  ])('comes back on %s, made by the gateway, and the log line has it with the client address', async (_what, send, status) => {
    const response = await send();
    expect(response.status).toBe(status);
    const id = response.headers['x-request-id'];
    expect(id).toMatch(UUID);
    const line = lines(gateway).find((entry) => entry.message === 'request' && entry.request_id === id);
    expect(line).toMatchObject({ status, address: expect.stringMatching(/127\.0\.0\.1/) });
  });

  it("is the client's own when well-formed, on answers and refusals, and is the id in the log", async () => {
    for (const [test, status] of [
      [request(gateway.app).get('/api/domains/list').set('Authorization', `Bearer ${ADMIN.token}`), 200],
      [request(gateway.app).get('/api/domains/list'), 401],
      [request(gateway.app).get('/healthz'), 200],
    ] as const) {
      const id = `desk-${randomBytes(6).toString('hex')}.retry_1`;
      const response = await test.set('X-Request-Id', id);
      expect([response.status, response.headers['x-request-id']]).toEqual([status, id]);
      expect(lines(gateway).filter((entry) => entry.message === 'request' && entry.request_id === id)).toHaveLength(1);
    }
  });

  it.each([['too long', 'x'.repeat(129)], ['a space', 'two words'], ['a slash', 'a/b'], ['empty', '']])(
    'is replaced by one of the gateway when the client sends one that is %s',
    async (_what, id) => {
      const response = await request(gateway.app).get('/healthz').set('X-Request-Id', id);
      expect(response.headers['x-request-id']).toMatch(UUID);
    },
  );

  it('may repeat: two changes under one client id both commit, each with an audit record of its own', async () => {
    const id = `import-row-${randomBytes(4).toString('hex')}`;
    for (const number of ['+4796000001', '+4796000002']) {
      const response = await request(open.app).get('/api/numbers/add').query({ number }).set('X-Request-Id', id);
      expect([response.body.response, response.headers['x-request-id']]).toEqual(['ok', id]);
    }
    const rows = await open.query<{ request_id: string }>("SELECT request_id FROM audit_log WHERE node = 'numbers/add'");
    expect(rows).toHaveLength(2);
    expect(new Set(rows.map((row) => row.request_id)).size).toBe(2);
  });
});

describe('CORS_ORIGINS', () => {
  it('answers a preflight from a listed origin before auth, allowing Authorization and Content-Type', async () => {
    const response = await request(gateway.app)
      .options('/api/user/get')
      .set('Origin', HELPDESK)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'authorization, content-type');
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(HELPDESK);
    expect(response.headers['access-control-allow-methods']).toBe('GET,POST');
    expect(response.headers['access-control-allow-headers']).toMatch(/Authorization/);
    expect(response.headers['access-control-allow-headers']).toMatch(/Content-Type/);
  });

  it('names the listed origin on answers (refusals too) and lets the page read X-Request-Id and Retry-After', async () => {
    const answer = await request(gateway.app).get('/api/domains/list').set('Origin', HELPDESK).set('Authorization', `Bearer ${ADMIN.token}`);
    expect(answer.body.response).toBe('ok');
    expect(answer.headers['access-control-allow-origin']).toBe(HELPDESK);
    expect(answer.headers['access-control-expose-headers']).toMatch(/X-Request-Id/);
    expect(answer.headers.vary).toMatch(/Origin/);
    const refused = await request(gateway.app).get('/api/domains/list').set('Origin', HELPDESK);
    expect([refused.status, refused.headers['access-control-allow-origin']]).toEqual([401, HELPDESK]);
  });

  it('gives an origin not listed no CORS header, so its browser keeps the answer from the page', async () => {
    const answer = await request(gateway.app).get('/api/domains/list').set('Origin', 'https://evil.example').set('Authorization', `Bearer ${ADMIN.token}`);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await request(gateway.app).options('/api/user/get').set('Origin', 'https://evil.example').set('Access-Control-Request-Method', 'POST');
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('adds nothing with no CORS_ORIGINS (the default)', async () => {
    const answer = await request(open.app).get('/api/domains/list').set('Origin', HELPDESK);
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await request(open.app).options('/api/domains/list').set('Origin', HELPDESK).set('Access-Control-Request-Method', 'GET');
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
  });
});
