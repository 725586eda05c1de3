// The built-in simulator must speak the Simotel v4 API the way CONTRACT section 6 describes it, so that
// tests against it mean something for the real PBX. Driven over real HTTP on 127.0.0.1, both by the
// gateway's own SimotelClient and by raw fetch for the header checks.
import { Writable } from 'node:stream';
import type { PbxConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { Failed, GatewayError } from '../../src/outcome';
import { DEFAULT_EXTENSION_SETTINGS, MASKED_SECRET, type Extension } from '../../src/pbx/extension';
import { SimotelClient } from '../../src/pbx/simotel-client';
import { startPbxSimulator, type FaultKind, type PbxSimulator } from '../../src/pbx/simulator';

let simulator: PbxSimulator;
let logs: string[];

beforeEach(async () => {
  simulator = await startPbxSimulator();
  logs = [];
});

afterEach(async () => {
  await simulator.close();
});

function clientFor(overrides: Partial<PbxConfig> = {}): SimotelClient {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  return new SimotelClient(
    {
      url: simulator.url,
      apiKey: simulator.credentials.apiKey,
      username: simulator.credentials.username,
      password: simulator.credentials.password,
      timeoutMs: 2000,
      maxConcurrency: 8,
      extensionDefaults: DEFAULT_EXTENSION_SETTINGS,
      ...overrides,
    },
    createLogger('debug', sink),
  );
}

function extension(number: string, overrides: Partial<Extension> = {}): Extension {
  return {
    ...DEFAULT_EXTENSION_SETTINGS,
    name: `User ${number}`,
    number,
    cid_number: number,
    secret: `pw-${number}-Secret`,
    email: `${number}@example.test`,
    forward_policy: { Busy: '', 'No Answer': '', UnAvailable: '', All: '' },
    ...overrides,
  };
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

function goodHeaders(): Record<string, string> {
  return {
    'X-APIKEY': simulator.credentials.apiKey,
    Authorization: basic(simulator.credentials.username, simulator.credentials.password),
    'Content-Type': 'application/json',
  };
}

async function rawPost(path: string, body: string, headers: Record<string, string>): Promise<{ status: number; json: unknown }> {
  const response = await fetch(`${simulator.url}${path}`, { method: 'POST', headers, body });
  const text = await response.text();
  return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function thrown(action: () => Promise<unknown>): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

describe('PBX simulator: authentication and content type', () => {
  const addBody = () => JSON.stringify(extension('700'));

  it('answers 200 {"success": 1} to a POST with the right X-APIKEY, Basic and JSON content type', async () => {
    const answer = await rawPost('/setting/ping/act', '{}', goodHeaders());
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ success: 1 });
  });

  it('answers 401 without any credentials and applies nothing', async () => {
    const answer = await rawPost('/pbx/users/add', addBody(), { 'Content-Type': 'application/json' });
    expect(answer.status).toBe(401);
    expect(answer.json).toMatchObject({ success: 0 });
    expect(simulator.extensions()).toEqual([]);
    expect(simulator.calls).toEqual([]);
  });

  it('answers 401 without X-APIKEY even with the right Basic', async () => {
    const { 'X-APIKEY': _key, ...headers } = goodHeaders();
    const answer = await rawPost('/pbx/users/add', addBody(), headers);
    expect(answer.status).toBe(401);
    expect(simulator.extensions()).toEqual([]);
  });

  it('answers 401 to a wrong X-APIKEY', async () => {
    const answer = await rawPost('/pbx/users/add', addBody(), { ...goodHeaders(), 'X-APIKEY': `${simulator.credentials.apiKey}x` });
    expect(answer.status).toBe(401);
    expect(simulator.extensions()).toEqual([]);
  });

  it('answers 401 without Authorization even with the right X-APIKEY', async () => {
    const { Authorization: _auth, ...headers } = goodHeaders();
    const answer = await rawPost('/pbx/users/add', addBody(), headers);
    expect(answer.status).toBe(401);
    expect(simulator.extensions()).toEqual([]);
  });

  it('answers 401 to a wrong Basic password or username', async () => {
    const { username, password } = simulator.credentials;
    const wrongPassword = await rawPost('/pbx/users/add', addBody(), { ...goodHeaders(), Authorization: basic(username, `${password}x`) });
    const wrongUser = await rawPost('/pbx/users/add', addBody(), { ...goodHeaders(), Authorization: basic(`${username}x`, password) });
    expect(wrongPassword.status).toBe(401);
    expect(wrongUser.status).toBe(401);
    expect(simulator.extensions()).toEqual([]);
  });

  it('answers 415 to a body without a JSON content type and applies nothing', async () => {
    const { 'Content-Type': _type, ...headers } = goodHeaders();
    const plain = await rawPost('/pbx/users/add', addBody(), { ...headers, 'Content-Type': 'text/plain' });
    expect(plain.status).toBe(415);
    expect(plain.json).toMatchObject({ success: 0 });
    expect(simulator.extensions()).toEqual([]);
  });

  it('answers 415 to a body sent with no Content-Type header at all', async () => {
    const { 'Content-Type': _type, ...headers } = goodHeaders();
    // A byte body makes fetch send no Content-Type of its own.
    const response = await fetch(`${simulator.url}/pbx/users/add`, { method: 'POST', headers, body: new TextEncoder().encode(addBody()) });
    expect(response.status).toBe(415);
    expect(simulator.extensions()).toEqual([]);
  });

  it('takes application/json with a charset', async () => {
    const answer = await rawPost('/pbx/users/add', addBody(), { ...goodHeaders(), 'Content-Type': 'application/json; charset=utf-8' });
    expect(answer.status).toBe(200);
    expect(simulator.extension('700')?.name).toBe('User 700');
  });

  it('SimotelClient with wrong credentials gets a GatewayError pbx and logs an error without the secrets', async () => {
    const wrongPassword = 'Definitely-Wrong-Pa55';
    const client = clientFor({ password: wrongPassword });

    const error = await thrown(() => client.ping());

    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).cause).toBe('pbx');
    await new Promise((resolve) => setImmediate(resolve));
    const errorLines = logs.filter((line) => (JSON.parse(line) as { level: string }).level === 'error');
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain('/setting/ping/act');
    const everything = logs.join('\n') + JSON.stringify(error);
    expect(everything).not.toContain(wrongPassword);
    expect(everything).not.toContain(simulator.credentials.apiKey);
  });
});

describe('PBX simulator: users API through SimotelClient', () => {
  it('records calls with the path below /api/v4 and the body as sent', async () => {
    const client = clientFor();
    await client.add(extension('701'));
    await client.find('701');
    await client.ping();

    expect(simulator.calls.map((call) => call.path)).toEqual(['/pbx/users/add', '/pbx/users/search', '/setting/ping/act']);
    const { _id: _none, ...added } = extension('701');
    expect(simulator.calls[0].body).toStrictEqual(added);
    expect(simulator.calls[1].body).toStrictEqual({ alike: false, conditions: { number: '701' } });
    expect(simulator.calls[2].body).toStrictEqual({});
  });

  it('add then search gives the extension with an _id and the secret masked as "******"', async () => {
    const client = clientFor();
    await client.add(extension('702'));

    const found = await client.find('702');

    expect(found).not.toBeNull();
    expect(found?._id).toMatch(/^[0-9a-f]{24}$/);
    expect(found?.secret).toBe(MASKED_SECRET);
    expect(found).toStrictEqual({ ...extension('702'), secret: '******', _id: found?._id });
    // The store keeps the real secret.
    expect(simulator.extension('702')?.secret).toBe('pw-702-Secret');
  });

  it('list() returns every extension with secrets masked', async () => {
    const client = clientFor();
    await client.add(extension('710'));
    await client.add(extension('7100'));
    simulator.seed(extension('820'));

    const listed = await client.list();

    expect(listed.map((entry) => entry.number).sort()).toEqual(['710', '7100', '820']);
    for (const entry of listed) expect(entry.secret).toBe(MASKED_SECRET);
  });

  it('refuses a duplicate number with success 0 and keeps the first extension', async () => {
    const client = clientFor();
    await client.add(extension('703', { name: 'First' }));

    const raw = await rawPost('/pbx/users/add', JSON.stringify(extension('703', { name: 'Second' })), goodHeaders());
    expect(raw.status).toBe(200);
    expect(raw.json).toMatchObject({ success: 0 });

    const error = await thrown(() => client.add(extension('703', { name: 'Third' })));
    expect(error).toBeInstanceOf(Failed);
    expect((error as Failed).cause).toBe('pbx');
    expect((error as Failed).detail).toMatch(/already in use/);
    expect(simulator.extensions()).toHaveLength(1);
    expect(simulator.extension('703')?.name).toBe('First');
  });

  it('refuses users/add carrying an _id', async () => {
    const raw = await rawPost('/pbx/users/add', JSON.stringify({ ...extension('704'), _id: 'abc' }), goodHeaders());
    expect(raw.json).toMatchObject({ success: 0 });
    expect(simulator.extension('704')).toBeUndefined();
  });

  it('update replaces the whole object, found by _id', async () => {
    const client = clientFor();
    await client.add(extension('705'));
    const found = await client.find('705');

    await client.update({ ...found!, secret: 'New-Secret-705', email: 'new@example.test', forward_policy: { ...found!.forward_policy, Busy: '706' } });

    const stored = simulator.extension('705');
    expect(stored?._id).toBe(found?._id);
    expect(stored?.secret).toBe('New-Secret-705');
    expect(stored?.email).toBe('new@example.test');
    expect(stored?.forward_policy).toEqual({ Busy: '706', 'No Answer': '', UnAvailable: '', All: '' });
  });

  it('update without secret keeps the stored secret', async () => {
    const client = clientFor();
    const seeded = simulator.seed(extension('707', { secret: 'Imported-Secret' }));
    const found = await client.find('707');
    expect(found?._id).toBe(seeded._id);
    const { secret: _masked, ...withoutSecret } = found!;

    await client.update({ ...withoutSecret, name: 'Renamed' });

    expect(simulator.calls.at(-1)?.body).not.toHaveProperty('secret');
    expect(simulator.extension('707')?.secret).toBe('Imported-Secret');
    expect(simulator.extension('707')?.name).toBe('Renamed');
  });

  it('update of an unknown _id is refused with success 0', async () => {
    const client = clientFor();
    const error = await thrown(() => client.update({ ...extension('708'), _id: 'ffffffffffffffffffffffff' }));
    expect(error).toBeInstanceOf(Failed);
    expect((error as Failed).cause).toBe('pbx');
    expect(simulator.extensions()).toEqual([]);
  });

  it('remove deletes the extension found by _id; removing it again is refused', async () => {
    const client = clientFor();
    await client.add(extension('709'));
    await client.add(extension('7090'));
    const found = await client.find('709');

    await client.remove(found!._id!);

    expect(simulator.extension('709')).toBeUndefined();
    expect(simulator.extension('7090')).toBeDefined();
    await expect(client.find('709')).resolves.toBeNull();
    const again = await thrown(() => client.remove(found!._id!));
    expect(again).toBeInstanceOf(Failed);
  });

  it('search returns similar (prefix) numbers too, so the caller must keep the exact one', async () => {
    const client = clientFor();
    await client.add(extension('71'));
    await client.add(extension('711'));
    await client.add(extension('7111'));
    await client.add(extension('81'));

    const raw = await rawPost('/pbx/users/search', JSON.stringify({ alike: false, conditions: { number: '71' } }), goodHeaders());
    const numbers = ((raw.json as { data: Extension[] }).data ?? []).map((entry) => entry.number).sort();
    expect(numbers).toEqual(['71', '711', '7111']);

    const found = await client.find('71');
    expect(found?.number).toBe('71');
    await expect(client.find('7')).resolves.toBeNull();
  });

  it("addAnswerShape 'status' answers users/add with {\"status\": \"success\"}, which the client accepts", async () => {
    simulator.addAnswerShape = 'status';
    const raw = await rawPost('/pbx/users/add', JSON.stringify(extension('712')), goodHeaders());
    expect(raw.json).toMatchObject({ status: 'success' });
    expect(raw.json).not.toHaveProperty('success');

    const client = clientFor();
    await expect(client.add(extension('713'))).resolves.toBeUndefined();
    expect(simulator.extension('713')).toBeDefined();
  });

  it('answers 404 to an unknown path', async () => {
    const raw = await rawPost('/pbx/users/nothing', '{}', goodHeaders());
    expect(raw.status).toBe(404);
  });
});

describe('PBX simulator: faults queued with fail(path, kind)', () => {
  const timeoutMs = 300;

  async function addUnder(kind: FaultKind, number: string): Promise<unknown> {
    simulator.fail('/pbx/users/add', kind);
    return thrown(() => clientFor({ timeoutMs }).add(extension(number)));
  }

  it("'refuse' answers success 0 without applying, once", async () => {
    const error = await addUnder('refuse', '720');

    expect(error).toBeInstanceOf(Failed);
    expect((error as Failed).cause).toBe('pbx');
    expect((error as Failed).detail).toBe('simulated refusal');
    expect(simulator.extension('720')).toBeUndefined();
    // One-shot: the next call goes through.
    await clientFor().add(extension('720'));
    expect(simulator.extension('720')).toBeDefined();
  });

  it("'http500' answers HTTP 500 without applying", async () => {
    const error = await addUnder('http500', '721');

    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).cause).toBe('pbx');
    expect((error as GatewayError).detail).toContain('500');
    expect(simulator.extension('721')).toBeUndefined();
  });

  it("'timeout' never answers and does not apply", async () => {
    const error = await addUnder('timeout', '722');

    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).cause).toBe('pbx');
    expect((error as GatewayError).detail).toContain(`${timeoutMs} ms`);
    expect(simulator.extension('722')).toBeUndefined();
  });

  it("'reset' drops the connection and does not apply", async () => {
    const error = await addUnder('reset', '723');

    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).cause).toBe('pbx');
    expect((error as GatewayError).detail).not.toContain('ms');
    expect(simulator.extension('723')).toBeUndefined();
  });

  it("'timeout-after' applies the change, then never answers", async () => {
    const error = await addUnder('timeout-after', '724');

    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).cause).toBe('pbx');
    expect((error as GatewayError).detail).toContain(`${timeoutMs} ms`);
    expect(simulator.extension('724')?.secret).toBe('pw-724-Secret');
  });

  it("'reset-after' applies the change, then drops the connection", async () => {
    const error = await addUnder('reset-after', '725');

    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).cause).toBe('pbx');
    expect(simulator.extension('725')).toBeDefined();
  });

  it("'reset-after' on users/update applies the update; 'refuse' on users/remove keeps the extension", async () => {
    const client = clientFor({ timeoutMs });
    await client.add(extension('726'));
    const found = await client.find('726');

    simulator.fail('/pbx/users/update', 'reset-after');
    expect(await thrown(() => client.update({ ...found!, secret: 'After-Reset-726' }))).toBeInstanceOf(GatewayError);
    expect(simulator.extension('726')?.secret).toBe('After-Reset-726');

    simulator.fail('/pbx/users/remove', 'refuse');
    expect(await thrown(() => client.remove(found!._id!))).toBeInstanceOf(Failed);
    expect(simulator.extension('726')).toBeDefined();
  });

  it('a fault hits only calls to its own path', async () => {
    const client = clientFor({ timeoutMs });
    simulator.fail('/pbx/users/remove', 'http500');

    await client.add(extension('727'));
    await client.ping();
    const found = await client.find('727');
    expect(found?.number).toBe('727');

    const error = await thrown(() => client.remove(found!._id!));
    expect(error).toBeInstanceOf(GatewayError);
    expect(simulator.extension('727')).toBeDefined();
    await client.remove(found!._id!);
    expect(simulator.extension('727')).toBeUndefined();
  });

  it('faults queued for the same path are used in order, one per call', async () => {
    const client = clientFor({ timeoutMs });
    simulator.fail('/setting/ping/act', 'refuse');
    simulator.fail('/setting/ping/act', 'http500');

    expect(await thrown(() => client.ping())).toBeInstanceOf(Failed);
    const second = await thrown(() => client.ping());
    expect(second).toBeInstanceOf(GatewayError);
    expect(second).not.toBeInstanceOf(Failed);
    await expect(client.ping()).resolves.toBeUndefined();
  });
});
