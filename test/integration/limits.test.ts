import { randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import request from 'supertest';
import { createLogger } from '../../src/logger';
import { SimotelClient } from '../../src/pbx/simotel-client';
import { startTestGateway, testConfig, type TestGateway } from '../helpers/gateway';

// README "Limits" and SECURITY.md: body limit, per-token rate limit, security headers, request
// timeout and bounded PBX concurrency.

const READER = { name: 'desk', token: `desk-${randomBytes(12).toString('hex')}`, scope: 'read' as const };
const OTHER_READER = { name: 'wallboard', token: `wallboard-${randomBytes(12).toString('hex')}`, scope: 'read' as const };
const WRITER = { name: 'ops', token: `ops-${randomBytes(12).toString('hex')}`, scope: 'write' as const };
const TOKENS = [READER, OTHER_READER, WRITER];

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

function extensionNumber(): string {
  return `5${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

function freshNumber(): string {
  return `+4794${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
}

const quiet = createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

describe('a gateway with auth, a 200 ms request timeout and no rate limit', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ authDisabled: false, apiTokens: TOKENS, requestTimeoutMs: 200 });
  });

  afterAll(async () => {
    await gateway.close();
  });

  describe('body limit', () => {
    it('answers a JSON body over 64 KiB with 413 and an invalid/body envelope, and changes nothing', async () => {
      const user = `${tag()}@remote.example`;
      const response = await request(gateway.app)
        .post('/api/user/add_remote')
        .set('Authorization', `Bearer ${WRITER.token}`)
        .send({ user, password: 'Big-Body-Pw1', displayname: 'Big', registrar: 'sip.remote.example', linetext: 'x'.repeat(65 * 1024) });
      expect(response.status).toBe(413);
      expect(response.body).toEqual({ response: 'invalid', cause: 'body', detail: expect.stringContaining('65536') });
      expect(await gateway.query("SELECT id FROM users WHERE CONCAT(username, '@', domain) = ?", [user])).toHaveLength(0);
    });

    it('answers a form body over 64 KiB with 413 too', async () => {
      const response = await request(gateway.app)
        .post('/api/numbers/add')
        .set('Authorization', `Bearer ${WRITER.token}`)
        .type('form')
        .send(`number=${encodeURIComponent(freshNumber())}&padding=${'y'.repeat(70 * 1024)}`);
      expect(response.status).toBe(413);
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'body' });
    });

    it('takes a body just under the limit to the node (which judges its parameters)', async () => {
      const response = await request(gateway.app)
        .post('/api/numbers/add')
        .set('Authorization', `Bearer ${WRITER.token}`)
        .send({ number: freshNumber(), padding: 'z'.repeat(60 * 1024) });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
    });
  });

  describe('security headers', () => {
    it.each([
      ['a node', '/api/domains/list', 200],
      ['a refused request', '/api/numbers/list', 401],
      ['/healthz', '/healthz', 200],
      ['a path outside /api', `/${tag()}`, 401],
    ])('sends them on %s', async (_what, path, status) => {
      const test = request(gateway.app).get(path);
      const response = path === '/api/domains/list' ? await test.set('X-API-Key', READER.token) : await test;
      expect(response.status).toBe(status);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['content-security-policy']).toContain("default-src 'none'");
      // Only over HTTPS (test/integration/listener.test.ts): this app is served over plain HTTP.
      expect(response.headers['strict-transport-security']).toBeUndefined();
      expect(response.headers['x-powered-by']).toBeUndefined();
    });
  });

  describe('request timeout', () => {
    it('answers error/internal after requestTimeoutMs while the PBX hangs, and the late work changes nothing', async () => {
      const number = extensionNumber();
      gateway.pbx.fail('/pbx/users/search', 'timeout');
      const [before] = await gateway.query<{ id: number | null }>('SELECT MAX(id) AS id FROM audit_log');
      const started = Date.now();
      const response = await request(gateway.app)
        .get('/api/user/add_local')
        .query({ user: `${number}@pbx.local`, displayname: 'Slow PBX' })
        .set('Authorization', `Bearer ${WRITER.token}`);
      const elapsed = Date.now() - started;
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ response: 'error', cause: 'internal', detail: expect.stringContaining('200 ms') });
      expect(elapsed).toBeGreaterThanOrEqual(190);
      expect(elapsed).toBeLessThan(1000);

      // The PBX call times out after its own 2000 ms; the transaction is rolled back then.
      await sleep(2300);
      expect(gateway.pbx.extension(number)).toBeUndefined();
      expect(await gateway.query("SELECT id FROM users WHERE username = ? AND domain = 'pbx.local'", [number])).toHaveLength(0);
      const rows = await gateway.query<{ node: string; response: string; cause: string }>('SELECT node, response, cause FROM audit_log WHERE id > ?', [
        Number(before.id ?? 0),
      ]);
      expect(rows.map((row) => [row.node, row.response, row.cause])).toEqual([['user/add_local', 'error', 'internal']]);
      // The number is free for a later request.
      const retry = await request(gateway.app)
        .get('/api/user/add_local')
        .query({ user: `${number}@pbx.local`, displayname: 'Fast PBX' })
        .set('Authorization', `Bearer ${WRITER.token}`);
      expect(retry.body.response).toBe('ok');
      expect(gateway.pbx.extension(number)?.name).toBe('Fast PBX');
    });
  });
});

describe('RATE_LIMIT_PER_MINUTE=5 and UNAUTHENTICATED_PER_MINUTE=5', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ authDisabled: false, apiTokens: TOKENS, rateLimitPerMinute: 5, unauthenticatedPerMinute: 5 });
  });

  afterAll(async () => {
    await gateway.close();
  });

  it("answers a token's 6th request with 429, a failed/rate envelope and Retry-After; another token still passes", async () => {
    for (let index = 0; index < 5; index += 1) {
      const response = await request(gateway.app).get('/api/domains/list').set('Authorization', `Bearer ${READER.token}`);
      expect(response.status).toBe(200);
      expect(response.body.response).toBe('ok');
    }
    const limited = await request(gateway.app).get('/api/domains/list').set('Authorization', `Bearer ${READER.token}`);
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ response: 'failed', cause: 'rate', detail: expect.any(String) });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    // The same token in the other header is the same client.
    const viaKey = await request(gateway.app).get('/api/domains/list').set('X-API-Key', READER.token);
    expect(viaKey.status).toBe(429);

    const other = await request(gateway.app).get('/api/domains/list').set('Authorization', `Bearer ${OTHER_READER.token}`);
    expect(other.status).toBe(200);
    expect(other.body.response).toBe('ok');
    // Operational endpoints are not limited.
    expect((await request(gateway.app).get('/healthz').set('Authorization', `Bearer ${READER.token}`)).status).toBe(200);
  });

  it('does not run (nor audit) a change that is rate limited', async () => {
    for (let index = 0; index < 5; index += 1) {
      expect((await request(gateway.app).get('/api/numbers/add').query({ number: freshNumber() }).set('X-API-Key', WRITER.token)).status).toBe(200);
    }
    const number = freshNumber();
    const [before] = await gateway.query<{ count: number }>('SELECT COUNT(*) AS count FROM audit_log');
    const limited = await request(gateway.app).get('/api/numbers/add').query({ number }).set('X-API-Key', WRITER.token);
    expect(limited.status).toBe(429);
    expect(await gateway.query('SELECT number FROM numbers WHERE number = ?', [number])).toHaveLength(0);
    const [after] = await gateway.query<{ count: number }>('SELECT COUNT(*) AS count FROM audit_log');
    expect(Number(after.count)).toBe(Number(before.count));
  });

  it('limits guessing with a new unknown token each time, per client address', async () => {
    const guesses = [];
    for (let index = 0; index < 6; index += 1) {
      guesses.push(await request(gateway.app).get('/api/domains/list').set('Authorization', `Bearer guess-${randomBytes(12).toString('hex')}`));
    }
    expect(guesses.slice(0, 5).map((response) => response.status)).toEqual([401, 401, 401, 401, 401]);
    expect(guesses[5].status).toBe(429);
    expect(guesses[5].body).toMatchObject({ response: 'failed', cause: 'rate' });
  });
});

describe('bounded PBX concurrency (maxConcurrency 2)', () => {
  const PBX_TIMEOUT_MS = 1000;
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startTestGateway({ pbx: { maxConcurrency: 2, timeoutMs: PBX_TIMEOUT_MS } });
  });

  afterAll(async () => {
    await gateway.close();
  });

  it('sends at most 2 calls at once to the PBX however many requests wait', async () => {
    const numbers = Array.from({ length: 6 }, () => extensionNumber());
    for (let index = 0; index < numbers.length; index += 1) gateway.pbx.fail('/pbx/users/search', 'timeout');
    const searches = () => gateway.pbx.calls.filter((call) => call.path === '/pbx/users/search').length;
    const before = searches();
    const started = Date.now();
    const answers = Promise.all(numbers.map((number) => gateway.get('user/add_local', { user: `${number}@pbx.local`, displayname: 'Queued' })));
    // Every search hangs until the client gives up (1000 ms), so well before then the PBX has seen
    // exactly the first two; the other four wait their turn.
    await sleep(400);
    const early = searches() - before;
    const earlyAt = Date.now() - started;
    const responses = await answers;
    const elapsed = Date.now() - started;
    expect(earlyAt).toBeLessThan(PBX_TIMEOUT_MS);
    expect(early).toBe(2);
    expect(searches() - before).toBe(6);
    // Three rounds of two, each a full PBX timeout.
    expect(elapsed).toBeGreaterThanOrEqual(3 * PBX_TIMEOUT_MS - 50);
    for (const response of responses) expect(response.body).toMatchObject({ response: 'error', cause: 'pbx' });
    for (const number of numbers) expect(gateway.pbx.extension(number)).toBeUndefined();
  });
});

describe('SimotelClient concurrency against a counting server', () => {
  let server: http.Server;
  let inFlight = 0;
  let maxInFlight = 0;
  let served = 0;

  beforeAll(async () => {
    server = http.createServer((incoming, response) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      incoming.resume();
      incoming.on('end', () => {
        setTimeout(() => {
          inFlight -= 1;
          served += 1;
          response.writeHead(200, { 'Content-Type': 'application/json' });
          response.end(JSON.stringify({ success: 1, message: 'ok', data: [] }));
        }, 40);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each([1, 3, 5])('never has more than maxConcurrency=%i calls in flight, and makes them all', async (maxConcurrency) => {
    inFlight = 0;
    maxInFlight = 0;
    served = 0;
    const { port } = server.address() as AddressInfo;
    const config = testConfig({ pbx: { url: `http://127.0.0.1:${port}/api/v4`, maxConcurrency, timeoutMs: 5000 } });
    const client = new SimotelClient(config.pbx, quiet);
    const found = await Promise.all(Array.from({ length: 12 }, (_, index) => client.find(String(1000 + index))));
    expect(found).toEqual(Array.from({ length: 12 }, () => null));
    expect(served).toBe(12);
    expect(maxInFlight).toBe(maxConcurrency);
  });
});
