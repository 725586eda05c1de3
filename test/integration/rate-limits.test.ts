import { randomBytes, randomInt } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 3's limits at the default settings (issue 9, findings 3 and 4): a valid token
// is never refused for rate while it keeps at most 32 requests in flight; requests without a known
// token are counted per source address (60 a minute), on every path; an anonymous caller hears 401
// before anything else and never gets its body read; a token made with tokens/add may carry its own
// rate_per_minute. Requests go over real sockets, from chosen loopback addresses.

const token = (name: string) => `${name}-${randomBytes(24).toString('base64url')}`;
const READER = { name: 'desk', token: token('desk'), scope: 'read' as const };
const WRITER = { name: 'provisioner', token: token('prov'), scope: 'write' as const };
const ADMIN = { name: 'root', token: token('root'), scope: 'admin' as const };

let gateway: TestGateway;
let server: http.Server;
let port: number;

beforeAll(async () => {
  // Every limit at its default (testConfig leaves maxInFlight and unauthenticatedPerMinute alone).
  gateway = await startTestGateway({ authDisabled: false, apiTokens: [READER, WRITER, ADMIN], pbx: { maxConcurrency: 32 } });
  server = http.createServer(gateway.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await gateway.close();
});

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}

/** One request over its own connection from `from` (a loopback address), with `tokenText` as a Bearer token. */
function call(path: string, options: { from?: string; token?: string; method?: string; agent?: http.Agent } = {}): Promise<Answer> {
  const { from = '127.0.0.1', method = 'GET', agent } = options;
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path, method, localAddress: agent ? undefined : from, agent: agent ?? false, headers: options.token ? { Authorization: `Bearer ${options.token}` } : {} },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => {
          let body: Record<string, unknown> = {};
          try {
            body = JSON.parse(text) as Record<string, unknown>;
          } catch {
            body = { text };
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
        });
      },
    );
    request.on('error', reject);
    request.end();
  });
}

function freshNumber(): string {
  return `+4793${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
}

describe('a valid token at the default settings', () => {
  it('is never refused while it keeps 32 requests in flight: 1,300 provisioning calls all answer ok', async () => {
    // The former default (1,200 a minute per token) cut a script like this one at call 1,201.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    const numbers = new Set<string>();
    while (numbers.size < 1300) numbers.add(freshNumber());
    const answers = await Promise.all([...numbers].map((number) => call(`/api/numbers/add?number=${encodeURIComponent(number)}`, { token: WRITER.token, agent })));
    agent.destroy();
    const statuses: Record<string, number> = {};
    for (const answer of answers) statuses[`${answer.status} ${String(answer.body.response)}`] = (statuses[`${answer.status} ${String(answer.body.response)}`] ?? 0) + 1;
    expect(statuses).toEqual({ '200 ok': 1300 });
    const [row] = await gateway.query<{ count: number }>('SELECT COUNT(*) AS count FROM numbers WHERE number BETWEEN 4793000000 AND 4793999999');
    expect(Number(row.count)).toBe(1300);
  });
});

describe('a token past 32 requests in flight', () => {
  it('gets 429 failed/rate with Retry-After for the 33rd while 32 wait on a hanging PBX, and is served again once they end', async () => {
    // Every users/add hangs until the gateway's PBX timeout (2 s in tests): 32 add_local stay in flight.
    gateway.pbx.setRandomFaults({ rate: 1, seed: 1, kinds: ['timeout'], paths: ['/pbx/users/add'] });
    try {
      const hanging = Array.from({ length: 32 }, () =>
        call(`/api/user/add_local?user=${randomInt(10_000_000, 99_999_999)}@pbx.local&displayname=Hang`, { token: WRITER.token }),
      );
      // Wait until all 32 are in (each waits on the PBX).
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refused = await call('/api/domains/list', { token: WRITER.token });
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ response: 'failed', cause: 'rate', detail: expect.stringContaining('32 requests in flight') });
      expect(refused.headers['retry-after']).toBe('1');
      // Another token is not affected.
      expect((await call('/api/domains/list', { token: READER.token })).status).toBe(200);
      const ended = await Promise.all(hanging);
      expect(ended.every((answer) => answer.status === 200)).toBe(true);
    } finally {
      gateway.pbx.setRandomFaults(null);
    }
    const again = await call('/api/domains/list', { token: WRITER.token });
    expect([again.status, again.body.response]).toEqual([200, 'ok']);
  });
});

describe('requests without a known token', () => {
  it('are answered 401 before 404 or 405: an anonymous caller learns nothing of what exists', async () => {
    for (const [path, method] of [['/api/no/such-node', 'GET'], ['/api/user/get', 'DELETE'], [`/${randomBytes(4).toString('hex')}`, 'GET'], ['/metrics', 'GET']]) {
      const answer = await call(path, { method, from: '127.0.0.4' });
      expect([path, method, answer.status, answer.body.cause]).toEqual([path, method, 401, 'auth']);
      expect(answer.headers['www-authenticate']).toBe('Bearer');
    }
    // With a token, the same requests get what they deserve.
    expect((await call('/api/no/such-node', { token: READER.token })).status).toBe(404);
    expect((await call('/api/user/get', { token: READER.token, method: 'DELETE' })).status).toBe(405);
  });

  it('are counted per source address on every path: the 61st guess from 127.0.0.2 gets 429, 127.0.0.3 and a valid token from 127.0.0.2 are untouched', async () => {
    const paths = ['/api/user/get?user=1001@pbx.local', '/metrics', '/api/domains/list', `/${randomBytes(4).toString('hex')}`];
    const guesses: Answer[] = [];
    for (let index = 0; index < 61; index += 1) guesses.push(await call(paths[index % paths.length], { from: '127.0.0.2', token: `guess-${randomBytes(16).toString('hex')}` }));
    expect(guesses.slice(0, 60).every((answer) => answer.status === 401)).toBe(true);
    const limited = guesses[60];
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ response: 'failed', cause: 'rate', detail: expect.any(String) });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Without any token too (same address, same count).
    expect((await call('/metrics', { from: '127.0.0.2' })).status).toBe(429);
    // Another address has its own count.
    expect((await call('/metrics', { from: '127.0.0.3', token: 'guess' })).status).toBe(401);
    // A valid token from the limited address keeps working.
    const valid = await call('/api/domains/list', { from: '127.0.0.2', token: READER.token });
    expect([valid.status, valid.body.response]).toEqual([200, 'ok']);
    expect((await call('/metrics', { from: '127.0.0.2', token: READER.token })).status).toBe(200);
    // Logged: each refusal has its request line with the address, and the limit one warning.
    const lines = gateway.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => line.message === 'request' && line.address === '127.0.0.2' && line.status === 401).length).toBeGreaterThanOrEqual(30);
    expect(lines.filter((line) => line.level === 'warn' && line.address === '127.0.0.2' && String(line.message).includes('without a known token'))).toHaveLength(1);
  });

  it('never get their body read: a POST announcing 64 KiB without a token is answered 401 before the body is sent', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.5' }, () => {
        socket.write('POST /api/numbers/add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n{"number":');
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n\r\n') && text.includes('}')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      setTimeout(() => {
        socket.destroy();
        resolve(text);
      }, 3000).unref();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toContain('"cause":"auth"');
  });
});

describe('a token with its own rate_per_minute (tokens/add)', () => {
  it('is refused 429 past its rate, with Retry-After, while other tokens go on', async () => {
    const made = await call(`/api/tokens/add?name=slow-${randomBytes(3).toString('hex')}&scope=read&rate_per_minute=3`, { token: ADMIN.token });
    expect(made.body.response).toBe('ok');
    const slow = String(made.body.token);
    const statuses = [];
    for (let index = 0; index < 4; index += 1) statuses.push((await call('/api/domains/list', { token: slow })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect((await call('/api/domains/list', { token: READER.token })).status).toBe(200);
  });
});

describe('JSON bodies', () => {
  it('refuses a member given twice as invalid, naming it, instead of taking the last one', async () => {
    const response = await new Promise<Answer>((resolve, reject) => {
      const request = http.request(
        { host: '127.0.0.1', port, path: '/api/numbers/add', method: 'POST', headers: { Authorization: `Bearer ${WRITER.token}`, 'Content-Type': 'application/json' } },
        (reply) => {
          let text = '';
          reply.setEncoding('utf8');
          reply.on('data', (chunk: string) => (text += chunk));
          reply.on('end', () => resolve({ status: reply.statusCode ?? 0, headers: reply.headers, body: JSON.parse(text) as Record<string, unknown> }));
        },
      );
      request.on('error', reject);
      request.end('{"number": "+4791000001", "nested": {"a": 1, "a": 2}, "number" : "+4791000002"}');
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'invalid', cause: 'number', detail: 'number is given twice' });
    expect(await gateway.query('SELECT number FROM numbers WHERE number IN (4791000001, 4791000002)')).toHaveLength(0);
  });
});
