import { randomBytes, randomInt } from 'node:crypto';
import request from 'supertest';
import { DEFAULT_EXTENSION_SETTINGS, emptyForwardPolicy, type Extension } from '../../src/pbx/extension';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 12: POST /pbx/events, Simotel's calls on events. An event is only a hint: the
// extension it names is reconciled from an exact search of the PBX, in the background, so forged,
// repeated or reordered events change nothing wrong.

const DOMAIN = 'events.example';
const CREDENTIALS = { username: 'simotel', password: randomBytes(32).toString('base64url'), domain: '' };
const BASIC = `Basic ${Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64')}`;

let gateway: TestGateway;

beforeAll(async () => {
  // PBX_EVENTS_DOMAIN left unset: the first of LOCAL_DOMAINS.
  gateway = await startTestGateway({ localDomains: [DOMAIN, 'pbx.local'], pbxEvents: CREDENTIALS, unauthenticatedPerMinute: 1000 });
});

afterAll(async () => {
  await gateway.close();
});

function extensionNumber(): string {
  return `7${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

const at = (number: string) => `${number}@${DOMAIN}`;

function seedExtension(number: string, name = `Evented ${number}`): Extension {
  return gateway.pbx.seed({ ...DEFAULT_EXTENSION_SETTINGS, name, number, cid_number: number, secret: 'pbx-only', email: '', forward_policy: emptyForwardPolicy() });
}

function post(body: unknown, authorization: string | null = BASIC): request.Test {
  const call = request(gateway.app).post('/pbx/events').set('Content-Type', 'application/json');
  return authorization === null ? call.send(body as object) : call.set('Authorization', authorization).send(body as object);
}

/** Posts the events in order, each answered 204, then waits for the background work to end. */
async function deliver(...events: Record<string, unknown>[]): Promise<void> {
  for (const event of events) {
    const response = await post(event);
    expect({ event, status: response.status }).toEqual({ event, status: 204 });
  }
  await gateway.container.pbxEvents?.idle();
}

async function userOf(number: string): Promise<{ response: string; user?: { displayname: string; kind: string } }> {
  return (await gateway.get('user/get', { user: at(number) })).body;
}

interface AuditRow {
  token: string;
  node: string;
  params: string;
  response: string;
  subject: string;
}

async function auditOf(number: string): Promise<AuditRow[]> {
  return gateway.query<AuditRow>('SELECT token, node, params, response, subject FROM audit_log WHERE subject = ? ORDER BY id', [at(number)]);
}

describe('POST /pbx/events', () => {
  it('imports the extension an ExtenAdded names, audited under the name pbx-events', async () => {
    const number = extensionNumber();
    seedExtension(number, 'Added By Hand');

    await deliver({ event_name: 'ExtenAdded', exten: number });

    expect(await userOf(number)).toMatchObject({ response: 'ok', user: { kind: 'local', displayname: 'Added By Hand' } });
    const [record, ...others] = await auditOf(number);
    expect(others).toEqual([]);
    expect(record).toMatchObject({ token: 'pbx-events', node: 'pbx/events', response: 'ok', subject: at(number) });
    expect(JSON.parse(record.params)).toEqual({ event_name: 'ExtenAdded', exten: number, domain: DOMAIN, done: 'imported' });
    const listed = await gateway.get('audit/list', { user: at(number) });
    expect(listed.body.entries).toEqual([expect.objectContaining({ token: 'pbx-events', node: 'pbx/events', response: 'ok' })]);
  });

  it('removes the local user of an extension an ExtenRemoved names once it is gone from the PBX', async () => {
    const number = extensionNumber();
    const extension = seedExtension(number);
    await deliver({ event_name: 'ExtenAdded', exten: number });
    await gateway.container.pbx.remove(extension._id as string);

    await deliver({ event_name: 'ExtenRemoved', exten: number });

    expect(await userOf(number)).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(await gateway.query('SELECT username FROM addresses WHERE username = ? AND domain = ?', [number, DOMAIN])).toEqual([]);
    expect((await auditOf(number)).map((row) => JSON.parse(row.params).done)).toEqual(['imported', 'pruned']);
  });

  it('changes nothing for a forged ExtenRemoved of an extension that exists', async () => {
    const number = extensionNumber();
    seedExtension(number);
    await deliver({ event_name: 'ExtenAdded', exten: number });

    await deliver({ event_name: 'ExtenRemoved', exten: number }, { event_name: 'ExtenRemoved', exten: number });

    expect(await userOf(number)).toMatchObject({ response: 'ok' });
    expect(gateway.pbx.extension(number)).toBeDefined();
    expect((await auditOf(number)).map((row) => JSON.parse(row.params).done)).toEqual(['imported']);
  });

  it('keeps a user hardphones point at when its extension is gone, with a warning', async () => {
    const number = extensionNumber();
    const extension = seedExtension(number);
    await deliver({ event_name: 'ExtenAdded', exten: number });
    const mac = `0c${randomBytes(5).toString('hex')}`;
    expect((await gateway.get('phone/add', { mac, user: at(number) })).body).toMatchObject({ response: 'ok' });
    await gateway.container.pbx.remove(extension._id as string);

    await deliver({ event_name: 'ExtenRemoved', exten: number });

    expect(await userOf(number)).toMatchObject({ response: 'ok' });
    expect(gateway.logs.some((line) => line.includes('sync: user not pruned') && line.includes(at(number)))).toBe(true);
  });

  it('ends right whatever the order and repetition of the events of an extension made', async () => {
    const number = extensionNumber();
    seedExtension(number);

    // Reordered and repeated: the extension exists, whatever the events say.
    await deliver(
      { event_name: 'ExtenRemoved', exten: number },
      { event_name: 'ExtenAdded', exten: number },
      { event_name: 'ExtenAdded', exten: number },
      { event_name: 'ExtenRemoved', exten: number },
    );

    expect(await userOf(number)).toMatchObject({ response: 'ok' });
    expect((await auditOf(number)).map((row) => JSON.parse(row.params).done)).toEqual(['imported']);
  });

  it('ends right when an extension was made and removed and its events come reversed', async () => {
    const number = extensionNumber();
    const extension = seedExtension(number);
    await gateway.container.pbx.remove(extension._id as string);

    await deliver({ event_name: 'ExtenRemoved', exten: number }, { event_name: 'ExtenAdded', exten: number });

    expect(await userOf(number)).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(await auditOf(number)).toEqual([]);
  });

  it("imports no copy of an extension that is a local user's in another domain (the ExtenAdded of user/add_local there)", async () => {
    const number = extensionNumber();
    expect((await gateway.get('user/add_local', { user: `${number}@pbx.local`, displayname: 'Made Elsewhere' })).body).toMatchObject({ response: 'ok' });

    await deliver({ event_name: 'ExtenAdded', exten: number });

    expect(await userOf(number)).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect((await gateway.get('user/get', { user: `${number}@pbx.local` })).body).toMatchObject({ response: 'ok' });
  });

  it('takes the number as `number` too, and as a JSON number', async () => {
    const [first, second] = [extensionNumber(), extensionNumber()];
    seedExtension(first);
    seedExtension(second);

    await deliver({ event_name: 'ExtenAdded', number: first }, { event_name: 'ExtenAdded', exten: Number(second) });

    expect(await userOf(first)).toMatchObject({ response: 'ok' });
    expect(await userOf(second)).toMatchObject({ response: 'ok' });
  });

  it('answers 204 to other events and to numbers it does not manage, and does nothing', async () => {
    const before = await gateway.query('SELECT COUNT(*) AS users FROM users');

    await deliver({ event_name: 'NewState', exten: '1001', state: 'Ringing' }, { event_name: 'ExtenAdded', exten: '1' }, { event_name: 'ExtenAdded', exten: 'abc' });

    expect(await gateway.query('SELECT COUNT(*) AS users FROM users')).toEqual(before);
  });

  it.each([
    ['a body that does not parse', '{"event_name": ', 'body'],
    ['a body that is not an object', '["ExtenAdded"]', 'body'],
    ['no event_name', '{"exten": "1001"}', 'event_name'],
    ['an extension event without its number', '{"event_name": "ExtenAdded"}', 'exten'],
  ])('answers 400 invalid to %s', async (_what, body, cause) => {
    const response = await request(gateway.app).post('/pbx/events').set('Authorization', BASIC).set('Content-Type', 'application/json').send(body);

    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ response: 'invalid', cause });
    expect(response.headers['x-request-id']).toBeDefined();
  });

  it.each([
    ['no credentials', null],
    ['a wrong password', `Basic ${Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}x`).toString('base64')}`],
    ['a wrong user name', `Basic ${Buffer.from(`someone:${CREDENTIALS.password}`).toString('base64')}`],
    ['a Bearer token', `Bearer ${CREDENTIALS.password}`],
  ])('refuses %s with 401 and the contract envelope, and acts on nothing', async (_what, authorization) => {
    const number = extensionNumber();
    seedExtension(number);

    const response = await post({ event_name: 'ExtenAdded', exten: number }, authorization);
    await gateway.container.pbxEvents?.idle();

    expect(response.status).toBe(401);
    expect(response.body).toEqual({ response: 'invalid', cause: 'auth', detail: expect.any(String) });
    expect(response.headers['www-authenticate']).toMatch(/^Basic realm="pbx-events"/);
    expect(await userOf(number)).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('never writes the credentials to the log', async () => {
    const number = extensionNumber();
    seedExtension(number);
    await deliver({ event_name: 'ExtenAdded', exten: number });
    expect((await post({ event_name: 'ExtenAdded', exten: number }, `Basic ${Buffer.from(`simotel:${CREDENTIALS.password}-`).toString('base64')}`)).status).toBe(401);

    const log = gateway.logs.join('');
    expect(log).toContain('"node":"/pbx/events"');
    for (const secret of [CREDENTIALS.password, BASIC.slice('Basic '.length)]) expect(log).not.toContain(secret);
  });
});

describe('POST /pbx/events, limits and settings', () => {
  it('counts wrong credentials like requests without a known token: past the limit, 429', async () => {
    const limited = await startTestGateway({ pbxEvents: CREDENTIALS, unauthenticatedPerMinute: 2 });
    try {
      const wrong = `Basic ${Buffer.from('simotel:guess').toString('base64')}`;
      const statuses = [];
      for (let attempt = 0; attempt < 3; attempt += 1) {
        statuses.push((await request(limited.app).post('/pbx/events').set('Authorization', wrong).send({ event_name: 'ExtenAdded', exten: '1001' })).status);
      }
      expect(statuses).toEqual([401, 401, 429]);
      // The right credentials from the same address still work.
      expect((await request(limited.app).post('/pbx/events').set('Authorization', BASIC).send({ event_name: 'NewState' })).status).toBe(204);
    } finally {
      await limited.close();
    }
  });

  it('is off, 404 like any unknown path, while PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD are unset', async () => {
    const plain = await startTestGateway();
    try {
      const response = await request(plain.app).post('/pbx/events').set('Authorization', BASIC).send({ event_name: 'ExtenAdded', exten: '1001' });

      expect(response.status).toBe(404);
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'node' });
      expect(plain.container.pbxEvents).toBeNull();
    } finally {
      await plain.close();
    }
  });

  it('imports into PBX_EVENTS_DOMAIN when it is set', async () => {
    const other = await startTestGateway({ localDomains: ['pbx.local', 'other.example'], pbxEvents: { ...CREDENTIALS, domain: 'other.example' } });
    try {
      const number = extensionNumber();
      other.pbx.seed({ ...DEFAULT_EXTENSION_SETTINGS, name: 'Elsewhere', number, cid_number: number, email: '', forward_policy: emptyForwardPolicy() });

      expect((await request(other.app).post('/pbx/events').set('Authorization', BASIC).send({ event_name: 'ExtenAdded', exten: number })).status).toBe(204);
      await other.container.pbxEvents?.idle();

      expect((await other.get('user/get', { user: `${number}@other.example` })).body).toMatchObject({ response: 'ok' });
      expect((await other.get('user/get', { user: `${number}@pbx.local` })).body).toMatchObject({ response: 'failed' });
    } finally {
      await other.close();
    }
  });

  it('is in the OpenAPI document with its 204, 400 and 401 answers', async () => {
    const document = (await request(gateway.app).get('/api/openapi.json')).body;
    const operation = document.paths['/pbx/events'].post;

    expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['204', '400', '401']));
    expect(operation.security).toEqual([{ pbxEvents: [] }]);
  });
});
