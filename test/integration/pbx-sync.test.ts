import { randomInt } from 'node:crypto';
import { DEFAULT_EXTENSION_SETTINGS, emptyForwardPolicy, type Extension } from '../../src/pbx/extension';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// pbx/sync against a PBX whose list answer is not a list (README "The PBX"): it must be error/pbx with
// nothing changed, never read as "the PBX has no extensions", which prune=true would turn into
// removing every local user.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

const LOCAL = 'pbx.local';

function extensionNumber(): string {
  return `6${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

async function addLocal(): Promise<string> {
  const user = `${extensionNumber()}@${LOCAL}`;
  const response = await gateway.get('user/add_local', { user, displayname: 'Sync Person' });
  expect(response.body).toMatchObject({ response: 'ok' });
  return user;
}

describe('pbx/sync', () => {
  it.each([
    ['null', null],
    ['an empty string', ''],
    ['an object', {}],
  ])('with a PBX list whose data is %s answers error/pbx and prunes nothing', async (_what, data) => {
    const users = [await addLocal(), await addLocal()];
    gateway.pbx.answerOnce('/pbx/users/search', { success: 1, message: 'Requested operation is done successfully', data });

    const response = await gateway.get('pbx/sync', { domain: LOCAL, prune: true });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({ response: 'error', cause: 'pbx', detail: 'the PBX answered a list that is not a list' });
    for (const user of users) expect((await gateway.get('user/get', { user })).body).toMatchObject({ response: 'ok' });
    for (const user of users) expect(gateway.pbx.extension(user.split('@')[0])).toBeDefined();
  });

  it('with the same users and a list that holds them prunes nothing either (the control)', async () => {
    const users = [await addLocal(), await addLocal()];

    const response = await gateway.get('pbx/sync', { domain: LOCAL, prune: true });

    expect(response.body).toMatchObject({ response: 'ok', pruned: [] });
    for (const user of users) expect(response.body.missing_on_pbx).not.toContain(user);
  });
});

// CONTRACT section 11: a PBX of 10,000 extensions is imported in batches, not one transaction per
// extension. Each test here has a gateway of its own (its own database and PBX), since pbx/sync
// reads the whole PBX.
describe('pbx/sync at scale', () => {
  const MANY = 10_000;
  const DOMAIN = 'sync.example';
  let own: TestGateway;

  beforeEach(async () => {
    own = await startTestGateway({ localDomains: ['pbx.local', DOMAIN] });
  });

  afterEach(async () => {
    await own.close();
  });

  /** Extensions `first` … `first + count - 1` (8 digits), each with a name, an e-mail and a forward of its own. */
  function seedExtensions(first: number, count: number): string[] {
    return Array.from({ length: count }, (_, index) => {
      const number = String(first + index);
      own.pbx.seed({
        ...DEFAULT_EXTENSION_SETTINGS,
        name: `Person ${number}`,
        number,
        cid_number: number,
        secret: 'on-the-pbx-only',
        email: `p${number}@example.com`,
        forward_policy: { ...emptyForwardPolicy(), Busy: `9${number}` },
      });
      return number;
    });
  }

  const at = (number: string) => `${number}@${DOMAIN}`;

  async function syncRecords(): Promise<number> {
    const [row] = await own.query<{ records: number }>("SELECT COUNT(*) AS records FROM audit_log WHERE node = 'pbx/sync'");
    return Number(row.records);
  }

  it(`imports ${MANY.toLocaleString('en-US')} extensions into an empty domain: every user, its address, its fields, one audit record`, async () => {
    const numbers = seedExtensions(40_000_000, MANY);

    const response = await own.get('pbx/sync', { domain: DOMAIN });

    expect(response.body).toMatchObject({ response: 'ok', updated: [], missing_on_pbx: [], pruned: [] });
    expect(response.body.imported).toEqual(numbers.map(at));
    const [counts] = await own.query<Record<string, number>>(
      `SELECT COUNT(*) AS users, SUM(kind = 'local') AS local, SUM(password IS NULL AND secret IS NULL) AS without_password,
              (SELECT COUNT(*) FROM addresses WHERE domain = ? AND owner = 'user') AS addresses
         FROM users WHERE domain = ?`,
      [DOMAIN, DOMAIN],
    );
    expect(Object.fromEntries(Object.entries(counts).map(([name, value]) => [name, Number(value)]))).toEqual({ users: MANY, local: MANY, without_password: MANY, addresses: MANY });
    const [sample] = await own.query<Record<string, unknown>>('SELECT displayname, email, dialplan, linetext, forward_policy FROM users WHERE username = ? AND domain = ?', [
      numbers[4321],
      DOMAIN,
    ]);
    expect({ ...sample, forward_policy: JSON.parse(String(sample.forward_policy)) }).toEqual({
      displayname: `Person ${numbers[4321]}`,
      email: `p${numbers[4321]}@example.com`,
      dialplan: '',
      linetext: '',
      forward_policy: { ...emptyForwardPolicy(), Busy: `9${numbers[4321]}` },
    });
    expect((await own.get('user/get', { user: at(numbers[MANY - 1]) })).body).toMatchObject({ response: 'ok', user: { kind: 'local', displayname: `Person ${numbers[MANY - 1]}` } });
    expect(await syncRecords()).toBe(1);
  }, 120_000);

  it(`changes nothing the second time over ${MANY.toLocaleString('en-US')} extensions`, async () => {
    seedExtensions(41_000_000, MANY);
    expect((await own.get('pbx/sync', { domain: DOMAIN, prune: true })).body.imported).toHaveLength(MANY);
    const before = await own.query('SELECT id, displayname, email, forward_policy, updated_at FROM users ORDER BY id');

    const response = await own.get('pbx/sync', { domain: DOMAIN, prune: true });

    expect(response.body).toEqual({ response: 'ok', imported: [], updated: [], missing_on_pbx: [], pruned: [] });
    expect(await own.query('SELECT id, displayname, email, forward_policy, updated_at FROM users ORDER BY id')).toEqual(before);
    // One record per request: the second changed nothing, and its record is the request's own.
    expect(await syncRecords()).toBe(2);
  }, 120_000);

  it('imports, updates and prunes a mix across batches, keeping what phones or aliases point at', async () => {
    const numbers = seedExtensions(42_000_000, 1_200);
    expect((await own.get('pbx/sync', { domain: DOMAIN })).body.imported).toHaveLength(1_200);
    const extension = (number: string) => own.pbx.extension(number) as Extension;
    // Changed on the PBX by hand: two names (in different batches) and a forward.
    await own.container.pbx.update({ ...extension(numbers[3]), name: 'Renamed Three' });
    await own.container.pbx.update({ ...extension(numbers[700]), email: 'seven.hundred@example.com' });
    await own.container.pbx.update({ ...extension(numbers[1_100]), forward_policy: { ...emptyForwardPolicy(), All: '5550' } });
    // Gone from the PBX: one user to prune, one a phone still points at.
    await own.container.pbx.remove(extension(numbers[5])._id as string);
    await own.container.pbx.remove(extension(numbers[900])._id as string);
    expect((await own.get('phone/add', { mac: '00:1a:2b:3c:4d:5e', user: at(numbers[900]) })).body).toMatchObject({ response: 'ok' });
    // New on the PBX: two to import, and one whose address an alias holds already.
    const added = seedExtensions(42_005_000, 2);
    const [aliased] = seedExtensions(42_006_000, 1);
    expect((await own.get('alias/add', { alias: at(aliased), destination: at(numbers[0]) })).body).toMatchObject({ response: 'ok' });
    const recordsBefore = await syncRecords();

    const response = await own.get('pbx/sync', { domain: DOMAIN, prune: true });

    expect(response.body).toEqual({
      response: 'ok',
      imported: added.map(at),
      updated: [numbers[3], numbers[700], numbers[1_100]].map(at),
      missing_on_pbx: [numbers[5], numbers[900]].map(at),
      pruned: [at(numbers[5])],
    });
    expect((await own.get('user/get', { user: at(numbers[3]) })).body.user.displayname).toBe('Renamed Three');
    expect((await own.get('user/get', { user: at(numbers[700]) })).body.user.email).toBe('seven.hundred@example.com');
    const [forward] = await own.query<{ forward_policy: string }>('SELECT forward_policy FROM users WHERE username = ? AND domain = ?', [numbers[1_100], DOMAIN]);
    expect(JSON.parse(forward.forward_policy)).toEqual({ ...emptyForwardPolicy(), All: '5550' });
    expect((await own.get('user/get', { user: at(numbers[5]) })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect((await own.get('user/get', { user: at(numbers[900]) })).body).toMatchObject({ response: 'ok' });
    expect(await own.query('SELECT username FROM addresses WHERE username = ? AND domain = ?', [numbers[5], DOMAIN])).toEqual([]);
    expect(own.logs.join('')).toContain('sync: user not pruned');
    expect(own.logs.join('')).toContain('sync: extension not imported, its address is taken');
    // The alias's address stays the alias's.
    expect((await own.get('user/get', { user: at(aliased) })).body).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(await syncRecords()).toBe(recordsBefore + 1);

    // Once more: only what cannot change is left.
    expect((await own.get('pbx/sync', { domain: DOMAIN, prune: true })).body).toEqual({
      response: 'ok',
      imported: [],
      updated: [],
      missing_on_pbx: [at(numbers[900])],
      pruned: [],
    });
  }, 60_000);

  it('prunes no user whose extension a stale list leaves out: the PBX is asked for that number first', async () => {
    const numbers = seedExtensions(43_000_000, 3);
    expect((await own.get('pbx/sync', { domain: DOMAIN })).body.imported).toHaveLength(3);
    // A list without the last one, as if read before it was made.
    own.pbx.answerOnce('/pbx/users/search', { success: 1, message: 'done', data: numbers.slice(0, 2).map((number) => ({ ...own.pbx.extension(number), secret: '******' })) });

    const response = await own.get('pbx/sync', { domain: DOMAIN, prune: true });

    expect(response.body).toEqual({ response: 'ok', imported: [], updated: [], missing_on_pbx: [at(numbers[2])], pruned: [] });
    expect((await own.get('user/get', { user: at(numbers[2]) })).body).toMatchObject({ response: 'ok' });
  });

  it('reports a dry run as it would go and changes nothing', async () => {
    const numbers = seedExtensions(44_000_000, 3);

    const response = await own.get('pbx/sync', { domain: DOMAIN, dry_run: true, prune: true });

    expect(response.body).toEqual({ response: 'ok', imported: numbers.map(at), updated: [], missing_on_pbx: [], pruned: [], dry_run: true });
    expect(await own.query('SELECT id FROM users WHERE domain = ?', [DOMAIN])).toEqual([]);
  });

  it('calls progress as it goes, up to the total', async () => {
    seedExtensions(45_000_000, 1_100);
    const seen: [number, number][] = [];

    await own.container.sync.sync(DOMAIN, { dryRun: false, prune: false, progress: (done, total) => seen.push([done, total]) });

    expect(seen).toEqual([
      [500, 1_100],
      [1_000, 1_100],
      [1_100, 1_100],
    ]);
  });
});
