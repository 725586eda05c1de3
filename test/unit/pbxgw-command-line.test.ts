import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseNodeCall } from '../../src/cli/pbxgw/call-command';
import { exitStatusOf, GatewayClient, type Answer } from '../../src/cli/pbxgw/client';
import { UsageError } from '../../src/cli/pbxgw/io';
import { describeNode, listNodes } from '../../src/cli/pbxgw/node-catalog';
import { resolveSettings } from '../../src/cli/pbxgw/settings';
import { valueReader } from '../../src/cli/pbxgw/standard-input';

// pbxgw's pieces that need no gateway (CONTRACT section 10); test/process/pbxgw.test.ts runs the
// whole command against a real one.

describe('parseNodeCall', () => {
  it('takes group/node or group node, then name=value words, values as typed', () => {
    const expected = { node: 'user/change_pw', params: new Map([['user', '1001@pbx.local'], ['password', '-']]) };
    expect(parseNodeCall(['user/change_pw', 'user=1001@pbx.local', 'password=-'])).toEqual(expected);
    expect(parseNodeCall(['user', 'change_pw', 'user=1001@pbx.local', 'password=-'])).toEqual(expected);
    // Only the first = splits: a value may hold more.
    expect(parseNodeCall(['user/update', 'dialplan=a=b', 'linetext=']).params).toEqual(new Map([['dialplan', 'a=b'], ['linetext', '']]));
  });

  it.each([
    [['user/get', 'user=a@b.c', 'user=d@e.f'], 'user is given twice'],
    [['user/get', 'user'], "'user' is not a parameter"],
    [['user/get', '=x'], "'=x' is not a parameter"],
    [['user'], "'user' is not a node"],
    [['user', 'user=a@b.c'], "'user' is not a node"],
    [['user/get/more'], "'user/get/more' is not a node name"],
    [['../admin/x'], "'../admin/x' is not a node name"],
  ])('refuses %j as a usage error', (words, message) => {
    expect(() => parseNodeCall(words)).toThrow(UsageError);
    expect(() => parseNodeCall(words)).toThrow(message);
  });
});

describe('resolveSettings', () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-settings-'));
  const tokenFile = path.join(directory, 'start-token');
  fs.writeFileSync(tokenFile, '  file-token-0123456789\n');
  afterAll(() => fs.rmSync(directory, { recursive: true, force: true }));

  it('defaults to http://127.0.0.1:8080, no token, 60 s, 5 retries', () => {
    expect(resolveSettings({}, {})).toEqual({ url: 'http://127.0.0.1:8080', token: null, tokenSource: null, json: false, timeoutMs: 60_000, retries: 5, verbose: false });
  });

  it('takes options over PBXGW_* variables', () => {
    const env = { PBXGW_URL: 'https://gw.example/', PBXGW_TOKEN: 'env-token-0123456789', PBXGW_TIMEOUT: '2.5', PBXGW_RETRIES: '0' };
    expect(resolveSettings({}, env)).toMatchObject({ url: 'https://gw.example', token: 'env-token-0123456789', tokenSource: 'PBXGW_TOKEN', timeoutMs: 2500, retries: 0 });
    expect(resolveSettings({ url: 'http://other:9000/base/', timeout: 1, retries: 3 }, env)).toMatchObject({ url: 'http://other:9000/base', timeoutMs: 1000, retries: 3 });
  });

  it('finds the token in --token, --token-file, PBXGW_TOKEN, PBXGW_TOKEN_FILE, in that order', () => {
    const env = { PBXGW_TOKEN: 'env-token-0123456789', PBXGW_TOKEN_FILE: tokenFile };
    expect(resolveSettings({ token: 'option-token-0123456789', tokenFile }, env)).toMatchObject({ token: 'option-token-0123456789', tokenSource: '--token' });
    expect(resolveSettings({ tokenFile }, env)).toMatchObject({ token: 'file-token-0123456789', tokenSource: `--token-file (${tokenFile})` });
    expect(resolveSettings({}, env)).toMatchObject({ token: 'env-token-0123456789' });
    expect(resolveSettings({}, { PBXGW_TOKEN_FILE: tokenFile })).toMatchObject({ token: 'file-token-0123456789', tokenSource: `PBXGW_TOKEN_FILE (${tokenFile})` });
  });

  it('refuses what it cannot use, and never says the token', () => {
    const secret = 'has space-0123456789';
    const refusal = (run: () => unknown) => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error('no usage error');
    };
    expect(refusal(() => resolveSettings({}, { PBXGW_TOKEN: secret }))).toBe('the token from PBXGW_TOKEN holds characters other than printable ASCII without spaces');
    expect(refusal(() => resolveSettings({ url: 'http://user:pw-in-url@gw' }, {}))).not.toContain('pw-in-url');
    expect(refusal(() => resolveSettings({}, { PBXGW_URL: 'ftp://gw' }))).toBe("PBXGW_URL: not an http or https URL: 'ftp://gw'");
    expect(refusal(() => resolveSettings({}, { PBXGW_TIMEOUT: '0' }))).toMatch(/^PBXGW_TIMEOUT: not a number of seconds/);
    const empty = path.join(directory, 'empty');
    fs.writeFileSync(empty, '\n');
    expect(refusal(() => resolveSettings({ tokenFile: empty }, {}))).toBe(`--token-file: ${empty} holds no token`);
  });
});

describe('valueReader on a pipe', () => {
  it('reads one line per value, in order, without its line end', async () => {
    const stdin = new PassThrough();
    stdin.end('first secret\r\nsecond\nthird');
    const reader = valueReader(stdin, new PassThrough());
    expect(await reader.read('password')).toBe('first secret');
    expect(await reader.read('other')).toBe('second');
    expect(await reader.read('last')).toBe('third');
    await expect(reader.read('more')).rejects.toThrow('more=-: standard input ended before a line for it was read');
    reader.close();
  });
});

describe('node catalog', () => {
  const document = {
    paths: {
      '/api/zeta/get': { get: { summary: 'Only GET.', 'x-scope': 'read', parameters: [{ name: 'id', in: 'query', required: true, schema: { type: 'integer' }, description: 'The id.' }] } },
      '/api/alpha/add': {
        post: {
          summary: 'Adds.',
          description: 'Adds one.\n\nOther outcomes: failed `exists`: taken.',
          'x-scope': 'write',
          requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { name: { type: 'string', pattern: '^a$' } }, required: ['name'] } } } },
          responses: {
            200: {
              content: {
                'application/json': {
                  schema: { discriminator: { propertyName: 'response', mapping: { ok: '#/components/schemas/AlphaAddOk', failed: '#/components/schemas/AlphaAddFailed' } } },
                },
              },
            },
          },
        },
      },
    },
    components: {
      schemas: {
        AlphaAddOk: { required: ['response', 'items'], properties: { response: { type: 'string' }, items: { type: 'array', items: { $ref: '#/components/schemas/Item' } } } },
        Item: { type: 'object', description: 'One item.' },
        AlphaAddFailed: { properties: { cause: { type: 'string', enum: ['exists', 'gone'], description: 'exists: taken; gone: no more' } } },
      },
    },
  };

  it('lists the nodes in order, with scope and summary', () => {
    expect(listNodes(document)).toEqual([
      { node: 'alpha/add', scope: 'write', summary: 'Adds.' },
      { node: 'zeta/get', scope: 'read', summary: 'Only GET.' },
    ]);
  });

  it("describes a node; without x-causes, the failed causes come from the failed answer's enum and the prose stays", () => {
    expect(describeNode(document, 'alpha/add')).toEqual({
      node: 'alpha/add',
      scope: 'write',
      summary: 'Adds.',
      description: 'Adds one.\n\nOther outcomes: failed `exists`: taken.',
      parameters: [{ name: 'name', required: true, type: 'string', description: '', pattern: '^a$' }],
      answer: { plainText: false, members: [{ name: 'items', type: 'array of Item', required: true, description: '' }] },
      causes: { failed: { exists: 'taken', gone: 'no more' }, invalid: {} },
    });
    expect(describeNode(document, 'zeta/get')?.parameters).toEqual([{ name: 'id', required: true, type: 'integer', description: 'The id.' }]);
    expect(describeNode(document, 'nope/x')).toBeNull();
  });
});

describe('GatewayClient', () => {
  let server: http.Server;
  let url: string;
  let answers: { status: number; headers: Record<string, string>; body: string }[] = [];
  const received: { authorization?: string; body: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        received.push({ authorization: request.headers.authorization, body });
        const answer = answers.shift() ?? { status: 200, headers: { 'Content-Type': 'application/json' }, body: '{"response":"ok"}' };
        response.writeHead(answer.status, answer.headers).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('POSTs the parameters as JSON with the Bearer token, and tries a 429 again after Retry-After (capped)', async () => {
    const refusal = { status: 429, headers: { 'Content-Type': 'application/json', 'Retry-After': '120' }, body: '{"response":"failed","cause":"rate"}' };
    answers = [refusal, refusal];
    const waits: number[] = [];
    const told: number[] = [];
    const client = new GatewayClient({
      url,
      token: 'secret-token',
      rateRetries: 2,
      maxRetryWaitSeconds: 30,
      sleep: async (milliseconds) => void waits.push(milliseconds),
      onRateLimited: (_seconds, retry) => told.push(retry),
    });
    received.length = 0;
    const answer = await client.call('user/get', { user: '1001@pbx.local' });
    expect(answer).toMatchObject({ status: 200, body: { response: 'ok' }, contentType: 'application/json' });
    expect(waits).toEqual([30_000, 30_000]);
    expect(told).toEqual([1, 2]);
    expect(received).toEqual(Array(3).fill({ authorization: 'Bearer secret-token', body: '{"user":"1001@pbx.local"}' }));
  });

  it('gives up after the retries: the 429 is the answer', async () => {
    const refusal = { status: 429, headers: { 'Content-Type': 'application/json', 'Retry-After': '1' }, body: '{"response":"failed","cause":"rate"}' };
    answers = [refusal, refusal];
    const client = new GatewayClient({ url, token: null, rateRetries: 1, sleep: async () => undefined });
    const answer = await client.call('user/get', {});
    expect(exitStatusOf(answer)).toBe(5);
    expect(answer.retryAfterSeconds).toBe(1);
  });

  it('tells text/plain apart from a page of some other server', () => {
    const answer = (contentType: string, body: unknown): Answer => ({ status: 200, body, retryAfterSeconds: null, contentType });
    expect(exitStatusOf(answer('text/plain', 'Hx7kPq3ZmW9a'))).toBe(0);
    expect(exitStatusOf(answer('text/html', '<html>'))).toBe(3);
    expect(exitStatusOf(answer('application/json', { response: 'error', cause: 'db' }))).toBe(3);
    expect(exitStatusOf({ status: 403, body: { response: 'failed', cause: 'scope' }, retryAfterSeconds: null })).toBe(4);
  });
});
