// Contract tests for the gateway's wire format towards the Simotel PBX v4 API (CONTRACT section 6,
// seed 004: the users/update page). nock stands in for the PBX; no call leaves the machine.
import { Writable } from 'node:stream';
import nock from 'nock';
import type { PbxConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { Failed, GatewayError } from '../../src/outcome';
import { DEFAULT_EXTENSION_SETTINGS, type Extension } from '../../src/pbx/extension';
import { SimotelClient, type PbxCallObserver } from '../../src/pbx/simotel-client';

const ORIGIN = 'http://pbx.example.test';
const BASE_URL = `${ORIGIN}/api/v4`;
const API_KEY = 'vZKtIKWsld0egNlkzHo8i5LVBqLNBSWARCQsPOSgDjFmAHM3tG';
const USERNAME = 'gw-user';
const PASSWORD = 'Aa123456:s3cr3t!';
// Computed here, independently of the client: base64("gw-user:Aa123456:s3cr3t!").
const BASIC_VALUE = Buffer.from(`${USERNAME}:${PASSWORD}`, 'utf8').toString('base64');
const BASIC = `Basic ${BASIC_VALUE}`;
const SECRETS = [API_KEY, PASSWORD, `${USERNAME}:${PASSWORD}`, BASIC_VALUE];

const OK = { success: 1, message: 'Requested operation is done successfully', data: '' };

/** The fields of seed 004's example body, in its order (without `_id`). */
const SEED_FIELDS = [
  'user_type',
  'active',
  'name',
  'number',
  'cid_number',
  'secret',
  'call_record',
  'push_notification',
  'deny',
  'permit',
  'dtmfmode',
  'canreinvite',
  'directmedia',
  'context',
  'host',
  'type',
  'nat',
  'port',
  'qualify',
  'callgroup',
  'pickupgroup',
  'callcounter',
  'faxdetect',
  'call_limit',
  'trunk',
  'transfer',
  'email',
  'forward_policy',
  'more_options',
];

/** Seed 004's first example body (the PHP one), as the gateway's Extension. */
function seedExtension(): Extension {
  return {
    _id: '6033876dc92de036d1390923',
    user_type: 'SIP',
    active: 'yes',
    name: 'Test User',
    number: '999',
    cid_number: '999',
    secret: '999',
    call_record: 'no',
    push_notification: 'no',
    deny: '0.0.0.0/0.0.0.0',
    permit: '0.0.0.0/0.0.0.0',
    dtmfmode: 'rfc2833',
    canreinvite: 'no',
    directmedia: 'no',
    context: 'main_routing',
    host: 'dynamic',
    type: 'user',
    nat: 'no',
    port: '5060',
    qualify: 'no',
    callgroup: '1',
    pickupgroup: '1',
    callcounter: 'no',
    faxdetect: 'no',
    call_limit: '',
    trunk: 'no',
    transfer: 'no',
    email: '',
    forward_policy: { Busy: '571', 'No Answer': '093411452671', UnAvailable: '588', All: '2020' },
    more_options: '',
  };
}

function config(overrides: Partial<PbxConfig> = {}): PbxConfig {
  return {
    url: BASE_URL,
    apiKey: API_KEY,
    username: USERNAME,
    password: PASSWORD,
    timeoutMs: 2000,
    maxConcurrency: 8,
    extensionDefaults: DEFAULT_EXTENSION_SETTINGS,
    ...overrides,
  };
}

interface Harness {
  client: SimotelClient;
  logs: string[];
  observed: { path: string; result: string }[];
}

function harness(overrides: Partial<PbxConfig> = {}): Harness {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const observed: { path: string; result: string }[] = [];
  const observe: PbxCallObserver = (path, result) => observed.push({ path, result });
  return { client: new SimotelClient(config(overrides), createLogger('debug', sink), observe), logs, observed };
}

interface Captured {
  body?: unknown;
  raw?: string;
  headers?: Record<string, string | string[] | undefined>;
  method?: string;
}

type Reply = [number, unknown];

/**
 * Expects one POST to BASE_URL + path carrying the contract's three headers; records the body as
 * parsed JSON and the headers as sent, and answers `reply`.
 */
function expectPost(path: string, reply: Reply = [200, OK]): { scope: nock.Scope; captured: Captured } {
  const captured: Captured = {};
  const scope = nock(ORIGIN)
    .matchHeader('x-apikey', API_KEY)
    .matchHeader('authorization', BASIC)
    .matchHeader('content-type', /^application\/json/)
    .post(`/api/v4${path}`, (body: unknown) => {
      captured.body = body;
      return true;
    })
    .reply(function (_uri, raw) {
      captured.raw = typeof raw === 'string' ? raw : JSON.stringify(raw);
      captured.headers = this.req.headers as Record<string, string | string[] | undefined>;
      captured.method = this.req.method;
      return reply;
    });
  return { scope, captured };
}

/** Runs `action`, expecting it to throw; returns what it threw. */
async function thrown(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

function expectNoSecrets(text: string): void {
  for (const secret of SECRETS) expect(text).not.toContain(secret);
}

function expectGatewayPbxError(error: unknown): GatewayError {
  expect(error).toBeInstanceOf(GatewayError);
  expect(error).not.toBeInstanceOf(Failed);
  const gatewayError = error as GatewayError;
  expect(gatewayError.cause).toBe('pbx');
  expect(typeof gatewayError.detail).toBe('string');
  expect(gatewayError.detail).not.toBe('');
  expectNoSecrets(JSON.stringify(gatewayError));
  expectNoSecrets(gatewayError.detail);
  expectNoSecrets(gatewayError.message);
  return gatewayError;
}

/**
 * What a reset socket raises. nock 14 (over @mswjs/interceptors) needs an Error instance here: a plain
 * `{code: 'ECONNRESET'}` object makes the interceptor itself crash instead of failing the request.
 */
function connectionReset(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

/** Lets winston's stream transport write what it was given. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect(/^(127\.0\.0\.1|localhost)(:\d+)?$/);
});

afterEach(() => {
  nock.abortPendingRequests();
  nock.cleanAll();
});

afterAll(() => {
  nock.enableNetConnect();
  nock.restore();
});

describe('SimotelClient wire format (CONTRACT section 6)', () => {
  it('find() POSTs users/search with {"alike": false, "conditions": {"number": ext}} and the three headers', async () => {
    const stored = { ...seedExtension(), secret: '******' };
    const { scope, captured } = expectPost('/pbx/users/search', [200, { ...OK, data: [stored] }]);
    const { client } = harness();

    const found = await client.find('999');

    expect(scope.isDone()).toBe(true);
    expect(captured.method).toBe('POST');
    expect(captured.body).toStrictEqual({ alike: false, conditions: { number: '999' } });
    expect(JSON.parse(captured.raw ?? '')).toStrictEqual({ alike: false, conditions: { number: '999' } });
    expect(captured.headers?.['x-apikey']).toBe(API_KEY);
    expect(captured.headers?.authorization).toBe(BASIC);
    expect(captured.headers?.['content-type']).toBe('application/json');
    expect(found).toStrictEqual(stored);
  });

  it('joins the base URL with the path whether or not the base URL ends in a slash', async () => {
    const { scope, captured } = expectPost('/setting/ping/act');
    const { client } = harness({ url: `${BASE_URL}/` });

    await client.ping();

    expect(scope.isDone()).toBe(true);
    expect(captured.body).toStrictEqual({});
  });

  it('find() keeps only the entry whose number equals the extension when the PBX also returns similar ones', async () => {
    const similar = [
      { ...seedExtension(), _id: 'a1', number: '1001', cid_number: '1001', secret: '******' },
      { ...seedExtension(), _id: 'a2', number: '100', cid_number: '100', secret: '******' },
      { ...seedExtension(), _id: 'a3', number: '10011', cid_number: '10011', secret: '******' },
    ];
    const { scope } = expectPost('/pbx/users/search', [200, { ...OK, data: similar }]);
    const { client } = harness();

    const found = await client.find('100');

    expect(scope.isDone()).toBe(true);
    expect(found?._id).toBe('a2');
    expect(found?.number).toBe('100');
  });

  it('find() returns null when the PBX returns only similar numbers', async () => {
    const similar = [{ ...seedExtension(), _id: 'b1', number: '1001', cid_number: '1001', secret: '******' }];
    const { scope, captured } = expectPost('/pbx/users/search', [200, { ...OK, data: similar }]);
    const { client } = harness();

    await expect(client.find('100')).resolves.toBeNull();
    expect(scope.isDone()).toBe(true);
    expect(captured.body).toStrictEqual({ alike: false, conditions: { number: '100' } });
  });

  it('find() returns null when the PBX returns no entry', async () => {
    const { scope } = expectPost('/pbx/users/search', [200, { ...OK, data: [] }]);
    const { client } = harness();

    await expect(client.find('555')).resolves.toBeNull();
    expect(scope.isDone()).toBe(true);
  });

  it('list() POSTs users/search with {"alike": false, "conditions": {}} and returns every extension', async () => {
    const all = [
      { ...seedExtension(), _id: 'c1', number: '530', cid_number: '530', secret: '******' },
      { ...seedExtension(), _id: 'c2', number: '909', cid_number: '909', secret: '******' },
    ];
    const { scope, captured } = expectPost('/pbx/users/search', [200, { ...OK, data: all }]);
    const { client } = harness();

    const listed = await client.list();

    expect(scope.isDone()).toBe(true);
    expect(captured.body).toStrictEqual({ alike: false, conditions: {} });
    expect(listed.map((extension) => extension.number)).toEqual(['530', '909']);
  });

  it('add() POSTs users/add with the extension object without _id and every seed field, all strings', async () => {
    const { scope, captured } = expectPost('/pbx/users/add');
    const { client } = harness();
    const extension = seedExtension();

    await client.add(extension);

    expect(scope.isDone()).toBe(true);
    const { _id: _omitted, ...expected } = seedExtension();
    expect(captured.body).toStrictEqual(expected);
    const body = captured.body as Record<string, unknown>;
    expect(Object.keys(body)).not.toContain('_id');
    expect(Object.keys(body).sort()).toEqual([...SEED_FIELDS].sort());
    for (const field of SEED_FIELDS.filter((name) => name !== 'forward_policy')) {
      expect({ field, type: typeof body[field] }).toEqual({ field, type: 'string' });
    }
    const policy = body.forward_policy as Record<string, unknown>;
    expect(Object.keys(policy).sort()).toEqual(['All', 'Busy', 'No Answer', 'UnAvailable']);
    for (const value of Object.values(policy)) expect(typeof value).toBe('string');
    // The caller's object is not changed by leaving _id out.
    expect(extension._id).toBe('6033876dc92de036d1390923');
  });

  it('add() accepts {"status": "success"} as well as {"success": 1}', async () => {
    const { scope } = expectPost('/pbx/users/add', [200, { status: 'success', message: 'added' }]);
    const { client, observed } = harness();

    await expect(client.add(seedExtension())).resolves.toBeUndefined();
    expect(scope.isDone()).toBe(true);
    expect(observed).toEqual([{ path: '/pbx/users/add', result: 'ok' }]);
  });

  it('update() POSTs users/update with the whole extension object, _id included', async () => {
    const { scope, captured } = expectPost('/pbx/users/update');
    const { client } = harness();

    await client.update(seedExtension());

    expect(scope.isDone()).toBe(true);
    expect(captured.body).toStrictEqual(seedExtension());
    const body = captured.body as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['_id', ...SEED_FIELDS].sort());
    expect(body._id).toBe('6033876dc92de036d1390923');
  });

  it('update() leaves secret out of the body when the extension holds none', async () => {
    const { scope, captured } = expectPost('/pbx/users/update');
    const { client } = harness();
    const { secret: _none, ...imported } = seedExtension();

    await client.update(imported);

    expect(scope.isDone()).toBe(true);
    expect(captured.body).toStrictEqual(imported);
    expect(Object.keys(captured.body as object)).not.toContain('secret');
  });

  it('remove() POSTs users/remove with {"_id": id}', async () => {
    const { scope, captured } = expectPost('/pbx/users/remove');
    const { client } = harness();

    await client.remove('603b41443e14270c550bf15a');

    expect(scope.isDone()).toBe(true);
    expect(captured.body).toStrictEqual({ _id: '603b41443e14270c550bf15a' });
  });

  it('ping() POSTs setting/ping/act with {}', async () => {
    const { scope, captured } = expectPost('/setting/ping/act');
    const { client, observed } = harness();

    await client.ping();

    expect(scope.isDone()).toBe(true);
    expect(captured.body).toStrictEqual({});
    expect(captured.raw).toBe('{}');
    expect(observed).toEqual([{ path: '/setting/ping/act', result: 'ok' }]);
  });

  it('sends only POSTs: an interceptor for GET on the same path is never used', async () => {
    const get = nock(ORIGIN).get('/api/v4/setting/ping/act').reply(200, OK);
    const { scope } = expectPost('/setting/ping/act');
    const { client } = harness();

    await client.ping();

    expect(scope.isDone()).toBe(true);
    expect(get.isDone()).toBe(false);
  });
});

describe('SimotelClient answer mapping', () => {
  const calls: [string, string, (client: SimotelClient) => Promise<unknown>][] = [
    ['find', '/pbx/users/search', (client) => client.find('999')],
    ['list', '/pbx/users/search', (client) => client.list()],
    ['add', '/pbx/users/add', (client) => client.add(seedExtension())],
    ['update', '/pbx/users/update', (client) => client.update(seedExtension())],
    ['remove', '/pbx/users/remove', (client) => client.remove('6033876dc92de036d1390923')],
    ['ping', '/setting/ping/act', (client) => client.ping()],
  ];

  it.each(calls)('%s() resolves on {"success": 1}', async (_name, path, call) => {
    const { scope } = expectPost(path, [200, { ...OK, data: path === '/pbx/users/search' ? [] : '' }]);
    const { client, observed } = harness();

    await expect(call(client)).resolves.not.toBeInstanceOf(Error);
    expect(scope.isDone()).toBe(true);
    expect(observed).toEqual([{ path, result: 'ok' }]);
  });

  it.each(calls)('%s() throws Failed pbx with the message as detail on {"success": 0, "message": "X"}', async (_name, path, call) => {
    const { scope } = expectPost(path, [200, { success: 0, message: 'This number is already in use', data: '' }]);
    const { client, observed } = harness();

    const error = await thrown(() => call(client));

    expect(scope.isDone()).toBe(true);
    expect(error).toBeInstanceOf(Failed);
    expect((error as Failed).cause).toBe('pbx');
    expect((error as Failed).detail).toBe('This number is already in use');
    expect(observed).toEqual([{ path, result: 'refused' }]);
  });

  it('throws Failed pbx with a non-empty detail on {"success": 0} without a message', async () => {
    const { scope } = expectPost('/pbx/users/remove', [200, { success: 0 }]);
    const { client } = harness();

    const error = await thrown(() => client.remove('x1'));

    expect(scope.isDone()).toBe(true);
    expect(error).toBeInstanceOf(Failed);
    expect((error as Failed).cause).toBe('pbx');
    expect((error as Failed).detail).not.toBe('');
  });

  it('does not take {"status": "failed"} on users/add for a success', async () => {
    const { scope } = expectPost('/pbx/users/add', [200, { status: 'failed', message: 'number exists' }]);
    const { client } = harness();

    const error = await thrown(() => client.add(seedExtension()));

    expect(scope.isDone()).toBe(true);
    expect(error).toBeInstanceOf(Failed);
    expect((error as Failed).cause).toBe('pbx');
    expect((error as Failed).detail).toBe('number exists');
  });

  it.each([401, 403])(
    'HTTP %i is a GatewayError pbx, logged at error level naming the path without any credential',
    async (status) => {
      const { scope } = expectPost('/pbx/users/search', [status, { success: 0, message: 'Unauthorized' }]);
      const { client, logs, observed } = harness();

      const error = await thrown(() => client.find('999'));

      expect(scope.isDone()).toBe(true);
      expectGatewayPbxError(error);
      expect(observed).toEqual([{ path: '/pbx/users/search', result: 'error' }]);
      await settle();
      const errorLines = logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.level === 'error');
      expect(errorLines).toHaveLength(1);
      expect(JSON.stringify(errorLines[0])).toContain('/pbx/users/search');
      expect(logs.length).toBeGreaterThan(0);
      expectNoSecrets(logs.join('\n'));
    },
  );

  it.each([500, 502])('HTTP %i is a GatewayError pbx', async (status) => {
    const { scope } = expectPost('/pbx/users/update', [status, { message: 'Internal Server Error' }]);
    const { client, observed } = harness();

    const error = await thrown(() => client.update(seedExtension()));

    expect(scope.isDone()).toBe(true);
    expectGatewayPbxError(error);
    expect(observed).toEqual([{ path: '/pbx/users/update', result: 'error' }]);
  });

  it('HTTP 200 with an HTML body is a GatewayError pbx, not a refusal', async () => {
    const scope = nock(ORIGIN).post('/api/v4/setting/ping/act').reply(200, '<html>Login</html>', { 'Content-Type': 'text/html' });
    const { client, observed } = harness();

    const error = await thrown(() => client.ping());

    expect(scope.isDone()).toBe(true);
    expectGatewayPbxError(error);
    expect(observed).toEqual([{ path: '/setting/ping/act', result: 'error' }]);
  });

  it('HTTP 500 with an HTML body is a GatewayError pbx, not a refusal', async () => {
    const scope = nock(ORIGIN).post('/api/v4/pbx/users/add').reply(500, '<html>Server Error</html>', { 'Content-Type': 'text/html' });
    const { client } = harness();

    const error = await thrown(() => client.add(seedExtension()));

    expect(scope.isDone()).toBe(true);
    expectGatewayPbxError(error);
  });

  it('a PBX that does not answer within timeoutMs is a GatewayError pbx whose detail names the time', async () => {
    const scope = nock(ORIGIN).post('/api/v4/pbx/users/search').delay(2000).reply(200, { ...OK, data: [] });
    const { client, observed } = harness({ timeoutMs: 200 });

    const started = Date.now();
    const error = await thrown(() => client.find('999'));
    const took = Date.now() - started;

    expect(scope.isDone()).toBe(true);
    const gatewayError = expectGatewayPbxError(error);
    expect(gatewayError.detail).toMatch(/200\s*ms/);
    expect(took).toBeLessThan(1500);
    expect(observed).toEqual([{ path: '/pbx/users/search', result: 'error' }]);
  });

  it('a refused connection is a GatewayError pbx', async () => {
    const { client, observed } = harness({ url: 'http://127.0.0.1:1/api/v4' });

    const error = await thrown(() => client.ping());

    const gatewayError = expectGatewayPbxError(error);
    expect(gatewayError.detail).toContain('ECONNREFUSED');
    expect(observed).toEqual([{ path: '/setting/ping/act', result: 'error' }]);
  });

  it('a reset connection is a GatewayError pbx', async () => {
    const scope = nock(ORIGIN).post('/api/v4/pbx/users/remove').replyWithError(connectionReset());
    const { client, observed } = harness();

    const error = await thrown(() => client.remove('6033876dc92de036d1390923'));

    expect(scope.isDone()).toBe(true);
    const gatewayError = expectGatewayPbxError(error);
    expect(gatewayError.detail).toContain('ECONNRESET');
    expect(observed).toEqual([{ path: '/pbx/users/remove', result: 'error' }]);
  });

  it('no error or log line carries the API key or password, whatever the failure', async () => {
    nock(ORIGIN).post('/api/v4/pbx/users/add').reply(401, { success: 0, message: 'Unauthorized' });
    nock(ORIGIN).post('/api/v4/pbx/users/add').reply(502, 'Bad Gateway');
    nock(ORIGIN).post('/api/v4/pbx/users/add').replyWithError(connectionReset());
    nock(ORIGIN).post('/api/v4/pbx/users/add').delay(1000).reply(200, OK);
    const { client, logs } = harness({ timeoutMs: 150 });

    const errors: unknown[] = [];
    for (let attempt = 0; attempt < 4; attempt += 1) errors.push(await thrown(() => client.add(seedExtension())));

    expect(nock.pendingMocks()).toEqual([]);
    for (const error of errors) expectGatewayPbxError(error);
    await settle();
    expectNoSecrets(logs.join('\n'));
  });
});

describe('SimotelClient search answers that are not a list', () => {
  it.each([
    ['null', null],
    ['an empty string', ''],
    ['an object', { users: [] }],
    ['a number', 0],
    ['absent', undefined],
  ])('list() with data %s is a GatewayError pbx, never "no extensions"', async (_what, data) => {
    const { scope } = expectPost('/pbx/users/search', [200, { success: 1, message: 'done', ...(data === undefined ? {} : { data }) }]);
    const { client } = harness();

    const error = await thrown(() => client.list());

    expect(scope.isDone()).toBe(true);
    expect(expectGatewayPbxError(error).detail).toBe('the PBX answered a list that is not a list');
  });

  it('find() with data null is a GatewayError pbx, never "not found"', async () => {
    const { scope } = expectPost('/pbx/users/search', [200, { ...OK, data: null }]);
    const { client } = harness();

    const error = await thrown(() => client.find('999'));

    expect(scope.isDone()).toBe(true);
    expect(expectGatewayPbxError(error).detail).toBe('the PBX answered a list that is not a list');
  });

  it('list() with an entry that has no number is a GatewayError pbx (its user would look gone)', async () => {
    const entries = [{ ...seedExtension(), secret: '******' }, { ...seedExtension(), _id: 'x1', number: 1001 }];
    const { scope } = expectPost('/pbx/users/search', [200, { ...OK, data: entries }]);
    const { client } = harness();

    const error = await thrown(() => client.list());

    expect(scope.isDone()).toBe(true);
    expect(expectGatewayPbxError(error).detail).toBe('the PBX answered a list with an entry that has no number');
  });
});
