import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { ConfigError, type ListenerConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { start, type Running } from '../../src/start';
import { makeCertificate, removeCertificate, type TestCertificate } from '../helpers/certificates';
import { testConfig, type TestOverrides } from '../helpers/gateway';
import { dropDatabase, withServer } from '../helpers/gateway-process';

// The listening socket (src/listener.ts, README "TLS" and "Listener"): HTTPS with TLS_CERT_FILE and
// TLS_KEY_FILE, HSTS only over HTTPS, Node's own refusals answered with the envelope, the connection cap.

const LIMITS: ListenerConfig = { headersTimeoutMs: 10_000, receiveTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxConnections: 1000 };

interface Gateway {
  readonly running: Running;
  readonly logs: string[];
  readonly database: string;
}

const gateways: Gateway[] = [];

async function startGateway(overrides: TestOverrides = {}): Promise<Gateway> {
  const config = testConfig(overrides);
  const logs: string[] = [];
  const logger = createLogger('debug', new Writable({ write: (chunk, _encoding, done) => void (logs.push(String(chunk)), done()) }));
  const running = await start(config, logger, 'test');
  const gateway = { running, logs, database: new URL(config.mysqlUrl).pathname.slice(1) };
  gateways.push(gateway);
  return gateway;
}

afterAll(async () => {
  for (const { running, database } of gateways) {
    await running.stop();
    await dropDatabase(database);
  }
});

function logLines(gateway: Gateway): Record<string, unknown>[] {
  return gateway.logs.flatMap((text) => text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>));
}

function portOf(running: Running): number {
  return Number(new URL(running.url).port);
}

interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** From the first byte written until the server closed the connection. */
  readonly ms: number;
}

/** Writes `bytes` on a fresh connection (nothing more) and reads until the server closes it. */
function rawExchange(port: number, bytes: string, timeoutMs = 10_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    let started = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${timeoutMs} ms; received ${JSON.stringify(received.slice(0, 200))}`));
    }, timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      started = performance.now();
      socket.write(bytes);
    });
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const [head, ...rest] = received.split('\r\n\r\n');
      const [statusLine, ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0), headers, body: rest.join('\r\n\r\n'), ms: performance.now() - started });
    });
  });
}

function expectEnvelope(answer: RawAnswer, status: number, cause: string): { detail: string } {
  expect(answer.status).toBe(status);
  expect(answer.headers['content-type']).toBe('application/json');
  expect(answer.headers.connection).toBe('close');
  expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
  const body = JSON.parse(answer.body) as { response: string; cause: string; detail: string };
  expect(body).toEqual({ response: 'invalid', cause, detail: expect.any(String) });
  return body;
}

function httpsGet(url: string, ca: string | undefined): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, agent: false, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

function httpGet(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, timeout: 10_000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
  });
}

async function databaseExists(name: string): Promise<boolean> {
  return withServer(async (connection) => {
    const [rows] = await connection.query('SHOW DATABASES LIKE ?', [name]);
    return (rows as unknown[]).length > 0;
  });
}

async function startFailure(overrides: TestOverrides): Promise<{ error: Error; database: string }> {
  const config = testConfig(overrides);
  const quiet = createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));
  const error = await start(config, quiet, 'test').then(
    async (running) => {
      await running.stop();
      throw new Error('expected start() to fail');
    },
    (failure: unknown) => failure as Error,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect(error.message).not.toContain('\n');
  return { error, database: new URL(config.mysqlUrl).pathname.slice(1) };
}

describe('HTTPS (TLS_CERT_FILE and TLS_KEY_FILE)', () => {
  let certificate: TestCertificate;
  let gateway: Gateway;

  beforeAll(async () => {
    certificate = makeCertificate();
    gateway = await startGateway({ tls: { certFile: certificate.certFile, keyFile: certificate.keyFile } });
  });

  afterAll(() => removeCertificate(certificate));

  it('serves /healthz and the nodes over HTTPS, says https in its URL, and sends HSTS', async () => {
    expect(gateway.running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const health = await httpsGet(`${gateway.running.url}/healthz`, certificate.cert);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
    expect(health.headers['strict-transport-security']).toMatch(/^max-age=\d+/);

    const node = await httpsGet(`${gateway.running.url}/api/domains/list`, certificate.cert);
    expect(node.status).toBe(200);
    expect(JSON.parse(node.body)).toMatchObject({ response: 'ok' });
    expect(node.headers['strict-transport-security']).toMatch(/^max-age=\d+/);

    const docs = await httpsGet(`${gateway.running.url}/api/docs/`, certificate.cert);
    expect(docs.status).toBe(200);
    expect(docs.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
  });

  it('serves the certificate from TLS_CERT_FILE: a client that does not trust it refuses', async () => {
    // (Errors from Node's own modules come from another realm than jest's: compared by their code.)
    await expect(httpsGet(`${gateway.running.url}/healthz`, undefined)).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });

  it('serves HTTPS only: a plain HTTP request to the port gets no answer', async () => {
    await expect(httpGet(`http://127.0.0.1:${portOf(gateway.running)}/healthz`)).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('answers a request that does not parse with the envelope over TLS too', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: portOf(gateway.running), ca: certificate.cert }, () => socket.write('HELLO THERE\r\n\r\n'));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('{"response":"invalid","cause":"request"');
  });
});

describe('TLS settings that stop the start (one line naming the setting, before the database is touched)', () => {
  let certificate: TestCertificate;
  let other: TestCertificate;

  beforeAll(() => {
    certificate = makeCertificate();
    other = makeCertificate('other');
  });

  afterAll(() => {
    removeCertificate(certificate);
    removeCertificate(other);
  });

  it('an unreadable TLS_CERT_FILE', async () => {
    const missing = path.join(certificate.directory, 'missing.crt');
    const { error, database } = await startFailure({ tls: { certFile: missing, keyFile: certificate.keyFile } });
    expect(error.message).toBe(`TLS_CERT_FILE: cannot read ${missing} (ENOENT)`);
    expect(await databaseExists(database)).toBe(false);
  });

  it('a TLS_CERT_FILE without a certificate', async () => {
    const { error } = await startFailure({ tls: { certFile: certificate.keyFile, keyFile: certificate.keyFile } });
    expect(error.message).toMatch(/^TLS_CERT_FILE: .* holds no PEM certificate/);
    expect(error.message).not.toContain('PRIVATE KEY');
  });

  it('a TLS_KEY_FILE that is not a key', async () => {
    const { error } = await startFailure({ tls: { certFile: certificate.certFile, keyFile: certificate.certFile } });
    expect(error.message).toMatch(/^TLS_KEY_FILE: .* is not an unencrypted PEM private key/);
  });

  it('a TLS_KEY_FILE that does not go with the certificate', async () => {
    const { error } = await startFailure({ tls: { certFile: certificate.certFile, keyFile: other.keyFile } });
    expect(error.message).toMatch(/^TLS_KEY_FILE: the key in .* does not go with the certificate in /);
  });

  it('an unreadable PBX_CA_FILE', async () => {
    const missing = path.join(certificate.directory, 'missing-ca.pem');
    const { error, database } = await startFailure({ pbx: { caFile: missing } });
    expect(error.message).toBe(`PBX_CA_FILE: cannot read ${missing} (ENOENT)`);
    expect(await databaseExists(database)).toBe(false);
  });

  it('a TLS_KEY_FILE file with its content never in the message', async () => {
    const garbage = path.join(certificate.directory, 'garbage.key');
    fs.writeFileSync(garbage, '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n');
    const { error } = await startFailure({ tls: { certFile: certificate.certFile, keyFile: garbage } });
    expect(error.message).toMatch(/^TLS_KEY_FILE: /);
    expect(error.message).not.toContain('c2VjcmV0');
  });
});

describe('the built-in simulator with NODE_ENV=production', () => {
  it('is refused: start() stops with one line naming PBX_URL, before the database is touched', async () => {
    const { error, database } = await startFailure({ nodeEnv: 'production' });
    expect(error.message).toBe('PBX_URL: required when NODE_ENV=production; the built-in simulator is for development and tests');
    expect(await databaseExists(database)).toBe(false);
  });
});

describe('PBX_ALLOW_HTTP=true', () => {
  it('starts with an http PBX_URL to a host that is not loopback, and says so loudly', async () => {
    const gateway = await startGateway({ pbx: { url: 'http://pbx.example.com/api/v4', allowHttp: true } });
    const warning = logLines(gateway).find((line) => String(line.message).startsWith('PBX_ALLOW_HTTP=true'));
    expect(warning).toMatchObject({ level: 'warn', pbx_host: 'pbx.example.com' });
  });
});

describe('plain HTTP (no TLS_CERT_FILE)', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway({ listener: { ...LIMITS, headersTimeoutMs: 500, receiveTimeoutMs: 2000 } });
  });

  it('sends no Strict-Transport-Security, on the nodes, /healthz, refusals or the docs page', async () => {
    expect(gateway.running.url).toMatch(/^http:\/\//);
    for (const target of ['/healthz', '/api/domains/list', '/api/no/such-node', '/api/docs/']) {
      const answer = await httpGet(`${gateway.running.url}${target}`);
      expect({ target, hsts: answer.headers['strict-transport-security'] }).toEqual({ target, hsts: undefined });
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('answers a 20 kB header line with 431 and the envelope, cause headers', async () => {
    const answer = await rawExchange(portOf(gateway.running), `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    const body = expectEnvelope(answer, 431, 'headers');
    expect(body.detail).toMatch(/headers are too large/);
    const line = logLines(gateway).find((entry) => entry.request_id === answer.headers['x-request-id']);
    expect(line).toMatchObject({ level: 'warn', status: 431, cause: 'headers', code: 'HPE_HEADER_OVERFLOW' });
    expect(JSON.stringify(line)).not.toContain('aaaa');
  });

  it('delivers the 431 to a client that goes on sending (200 kB of headers), with one log line for the connection', async () => {
    const overflows = () => logLines(gateway).filter((entry) => entry.code === 'HPE_HEADER_OVERFLOW').length;
    const before = overflows();
    const answer = await rawExchange(portOf(gateway.running), `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-More: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n'.repeat(2000)}\r\n`);
    expectEnvelope(answer, 431, 'headers');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = logLines(gateway).filter((entry) => entry.message === 'request refused before it reached the app' && entry.request_id === answer.headers['x-request-id']);
    expect(lines).toHaveLength(1);
    expect(overflows()).toBe(before + 1);
  });

  async function refusalsCounted(): Promise<number> {
    const text = (await httpGet(`${gateway.running.url}/metrics`)).body;
    return Number(/^pbxgw_requests_total\{node="unknown",outcome="invalid",status="400"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  }

  it('answers a request line that is not HTTP with 400 and the envelope, and counts it', async () => {
    const before = await refusalsCounted();
    const answer = await rawExchange(portOf(gateway.running), 'HELLO secret-looking-bytes\r\n\r\n');
    expect(await refusalsCounted()).toBe(before + 1);
    const body = expectEnvelope(answer, 400, 'request');
    expect(body.detail).toMatch(/not valid HTTP/);
    const line = logLines(gateway).find((entry) => entry.request_id === answer.headers['x-request-id']);
    expect(line).toMatchObject({ level: 'warn', status: 400 });
    expect(gateway.logs.join('')).not.toContain('secret-looking-bytes');
  });

  it('answers a client that sends half its headers and stops with 408 within HEADERS_TIMEOUT_MS (0.5 s here)', async () => {
    const answer = await rawExchange(portOf(gateway.running), 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Partial: ');
    const body = expectEnvelope(answer, 408, 'request');
    expect(body.detail).toBe('the request headers were not complete within 0.5 s (HEADERS_TIMEOUT_MS)');
    // Node looks for late requests every 250 ms here (half the limit): 0.5 s to 0.75 s, with slack for a loaded machine.
    expect(answer.ms).toBeGreaterThanOrEqual(450);
    expect(answer.ms).toBeLessThan(2000);
  });

  it('answers a client that sends its headers but not the whole body with 408 within RECEIVE_TIMEOUT_MS (2 s here)', async () => {
    const answer = await rawExchange(
      portOf(gateway.running),
      'POST /api/domains/list HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"limit"',
    );
    const body = expectEnvelope(answer, 408, 'request');
    expect(body.detail).toBe('the request was not complete within 2 s (RECEIVE_TIMEOUT_MS)');
    expect(answer.ms).toBeGreaterThanOrEqual(1900);
    expect(answer.ms).toBeLessThan(4000);
  });

  it('keeps idle keep-alive connections KEEP_ALIVE_TIMEOUT_MS (5 s by default), not 65 s', () => {
    expect(gateway.running.server.keepAliveTimeout).toBe(5000);
    expect(gateway.running.server.headersTimeout).toBe(500);
    expect(gateway.running.server.requestTimeout).toBe(2000);
  });

  it('logs an error of the listening socket after the start (EMFILE on accept) and keeps serving', async () => {
    gateway.running.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
    expect((await httpGet(`${gateway.running.url}/healthz`)).status).toBe(200);
    const line = logLines(gateway).find((entry) => String(entry.message).startsWith('accepting connections failed'));
    expect(line).toMatchObject({ level: 'error', code: 'EMFILE', failed: 1 });
  });
});

describe('MAX_CONNECTIONS', () => {
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway({ listener: { ...LIMITS, maxConnections: 3 } });
  });

  function connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(portOf(gateway.running), '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });
  }

  it('drops connections past the cap at once, logs it, and serves those it holds', async () => {
    const held = await Promise.all([connect(), connect(), connect()]);
    try {
      // Node counts a connection when it accepts it: give it a moment to accept the three.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const extra = await connect();
      const outcome = await new Promise<{ data: string; closedWithinMs: number }>((resolve) => {
        const started = performance.now();
        let data = '';
        extra.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
        extra.on('error', () => undefined);
        extra.on('close', () => resolve({ data, closedWithinMs: performance.now() - started }));
        extra.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      });
      expect(outcome.data).toBe('');
      expect(outcome.closedWithinMs).toBeLessThan(2000);

      const answer = await new Promise<string>((resolve) => {
        let text = '';
        held[0].setEncoding('latin1');
        held[0].on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('{"status":"ok"}')) resolve(text);
        });
        held[0].write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      });
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);

      await new Promise((resolve) => setImmediate(resolve));
      const line = logLines(gateway).find((entry) => String(entry.message).startsWith('connections refused: MAX_CONNECTIONS reached'));
      expect(line).toMatchObject({ level: 'warn', max_connections: 3, refused: 1 });
    } finally {
      for (const socket of held) socket.destroy();
    }
    // With the three gone, new connections are served again.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await httpGet(`${gateway.running.url}/healthz`)).status).toBe(200);
  });
});
