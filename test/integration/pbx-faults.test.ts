import { randomBytes, randomInt } from 'node:crypto';
import type { Response } from 'supertest';
import { DEFAULT_EXTENSION_SETTINGS, type Extension } from '../../src/pbx/extension';
import type { FaultKind } from '../../src/pbx/simulator';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { heldPassword, type PasswordColumns } from '../helpers/secrets';

// CONTRACT section 7: the PBX and MySQL agree again by the time a node answers. For each node that
// touches the PBX, a one-shot fault is queued on the PBX path it calls (the simulator's faults:
// refused, HTTP 500, no answer, connection reset — before or after the change is applied), or MySQL
// is made to fail after the PBX said yes; then both stores are read back. A non-ok answer changed
// nothing anywhere; an ok answer changed both. The PBX timeout is short so lost answers are quick.
// Every test makes its own extension numbers, so nothing depends on the order the tests run in.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ pbx: { url: '', apiKey: '', username: '', password: '', timeoutMs: 300 } });
});

afterAll(async () => {
  await gateway.close();
});

type Params = Record<string, string | number | boolean>;

const LOCAL = 'pbx.local';
const SEARCH = '/pbx/users/search';
const ADD = '/pbx/users/add';
const UPDATE = '/pbx/users/update';
const REMOVE = '/pbx/users/remove';

const ALL_FAULTS: readonly FaultKind[] = ['refuse', 'http500', 'timeout', 'reset', 'timeout-after', 'reset-after'];
/** Faults that lose the PBX's answer: the gateway cannot tell from the answer whether the change was applied. */
const LOST_ANSWER: readonly FaultKind[] = ['http500', 'timeout', 'reset', 'timeout-after', 'reset-after'];
const NOT_APPLIED: readonly FaultKind[] = ['http500', 'timeout', 'reset'];
const APPLIED: readonly FaultKind[] = ['timeout-after', 'reset-after'];

/** What a PBX fault answers when the change did not happen: a refusal is failed/pbx, the rest error/pbx. */
function notDoneAnswer(kind: FaultKind): Record<string, unknown> {
  return kind === 'refuse'
    ? { response: 'failed', cause: 'pbx', detail: 'simulated refusal' }
    : { response: 'error', cause: 'pbx', detail: expect.any(String) };
}

function extensionNumber(): string {
  return `6${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

function tag(): string {
  return randomBytes(4).toString('hex');
}

interface State {
  /** The extension on the PBX, secret unmasked. */
  pbx: Extension | undefined;
  /** The provisioning record in MySQL. */
  row: Record<string, unknown> | undefined;
  /** Who holds the address in MySQL. */
  owner: string | undefined;
}

async function state(username: string, domain = LOCAL, on: TestGateway = gateway): Promise<State> {
  const rows = await on.query<Record<string, unknown> & PasswordColumns>(
    'SELECT kind, displayname, email, dialplan, linetext, username, domain, secret, password FROM users WHERE username = ? AND domain = ?',
    [username, domain],
  );
  const owners = await on.query<{ owner: string }>('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [username, domain]);
  expect(rows.length).toBeLessThanOrEqual(1);
  const [stored] = rows;
  // The password is held sealed (CONTRACT section 9): the row is compared with it opened.
  const row = stored && {
    kind: stored.kind,
    displayname: stored.displayname,
    email: stored.email,
    dialplan: stored.dialplan,
    linetext: stored.linetext,
    password: heldPassword(on.container.secrets, stored),
  };
  return { pbx: on.pbx.extension(username), row, owner: owners[0]?.owner };
}

/** Queues the faults, runs the request, and checks that every fault was met (none is left for the next test). */
async function withFaults(faults: readonly [string, FaultKind][], request: () => Promise<Response>): Promise<Response> {
  const before = gateway.pbx.calls.length;
  for (const [path, kind] of faults) gateway.pbx.fail(path, kind);
  const response = await request();
  const calls = gateway.pbx.calls.slice(before);
  for (const path of new Set(faults.map(([faultPath]) => faultPath))) {
    const queued = faults.filter(([faultPath]) => faultPath === path).length;
    expect(calls.filter((call) => call.path === path).length).toBeGreaterThanOrEqual(queued);
  }
  return response;
}

async function addLocal(user: string, extra: Params = {}): Promise<{ password: string }> {
  const response = await gateway.get('user/add_local', { user, displayname: 'Faulty Person', email: 'faulty@example.com', ...extra });
  expect(response.body).toMatchObject({ response: 'ok' });
  return { password: response.body.password };
}

async function newLocalUser(): Promise<{ user: string; username: string; password: string }> {
  const username = extensionNumber();
  const user = `${username}@${LOCAL}`;
  const { password } = await addLocal(user);
  return { user, username, password };
}

/** The expected state once the node's change is in both stores. */
function changedBoth(before: State, pbx: Partial<Extension>, row: Record<string, unknown>): State {
  return { pbx: { ...(before.pbx as Extension), ...pbx }, row: { ...before.row, ...row }, owner: before.owner };
}

/** Runs `work` with a MySQL trigger in place, and drops it afterwards. */
async function withTrigger(name: string, definition: string, work: () => Promise<void>): Promise<void> {
  await gateway.query(`CREATE TRIGGER ${name} ${definition}`);
  try {
    await work();
  } finally {
    await gateway.query(`DROP TRIGGER IF EXISTS ${name}`);
  }
}

const DB_ERROR = { response: 'error', cause: 'db', detail: expect.any(String) };

describe('user/add_local', () => {
  it("answers failed/pbx with the PBX's message on a refused users/add, and neither side has the user", async () => {
    const username = extensionNumber();
    const response = await withFaults([[ADD, 'refuse']], () => gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: 'X' }));
    expect(response.body).toEqual(notDoneAnswer('refuse'));
    expect(await state(username)).toEqual({ pbx: undefined, row: undefined, owner: undefined });
  });

  it.each(NOT_APPLIED)('answers error/pbx on %s of users/add (not applied), and neither side has the user', async (kind) => {
    const username = extensionNumber();
    const response = await withFaults([[ADD, kind]], () => gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: 'X' }));
    expect(response.body).toEqual(notDoneAnswer(kind));
    expect(await state(username)).toEqual({ pbx: undefined, row: undefined, owner: undefined });
    // Nothing is left half-made: the address can be added now.
    await addLocal(`${username}@${LOCAL}`);
  });

  it.each(APPLIED)('settles a lost answer (%s of users/add) by searching, and completes the user on both sides', async (kind) => {
    const username = extensionNumber();
    const response = await withFaults([[ADD, kind]], () =>
      gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: 'Completed', email: 'done@example.com' }),
    );
    expect(response.body).toMatchObject({ response: 'ok', user: { user: `${username}@${LOCAL}`, kind: 'local' } });
    const { password } = response.body as { password: string };
    const after = await state(username);
    expect(after.pbx).toMatchObject({ number: username, name: 'Completed', email: 'done@example.com', secret: password });
    expect(after.row).toMatchObject({ kind: 'local', displayname: 'Completed', email: 'done@example.com', password });
    expect(after.owner).toBe('user');
    expect(gateway.pbx.extensions().filter((extension) => extension.number === username)).toHaveLength(1);
  });

  it.each(ALL_FAULTS)('answers without a change when the existence check (users/search) meets %s', async (kind) => {
    const username = extensionNumber();
    const before = gateway.pbx.calls.length;
    const response = await withFaults([[SEARCH, kind]], () => gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: 'X' }));
    expect(response.body).toEqual(notDoneAnswer(kind));
    expect(gateway.pbx.calls.slice(before).map((call) => call.path)).not.toContain(ADD);
    expect(await state(username)).toEqual({ pbx: undefined, row: undefined, owner: undefined });
  });

  it('removes the new extension again when MySQL fails after the PBX added it (error/db, neither side has the user)', async () => {
    const username = extensionNumber();
    const magic = `mysql-fails-${tag()}`;
    const trigger = `fail_insert_${tag()}`;
    await withTrigger(
      trigger,
      `BEFORE INSERT ON users FOR EACH ROW BEGIN IF NEW.displayname = '${magic}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; END IF; END`,
      async () => {
        const before = gateway.pbx.calls.length;
        const response = await gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: magic });
        expect(response.body).toEqual(DB_ERROR);
        expect(JSON.stringify(response.body)).not.toContain('injected');
        // The PBX did add it: the gateway undid that.
        expect(gateway.pbx.calls.slice(before).map((call) => call.path)).toEqual([SEARCH, ADD, SEARCH, REMOVE]);
        expect(await state(username)).toEqual({ pbx: undefined, row: undefined, owner: undefined });
      },
    );
    await addLocal(`${username}@${LOCAL}`);
  });
});

interface ChangeNode {
  readonly node: string;
  /** The request's parameters (unique values per call). */
  params(): Params;
  /** The state once the change is in both stores. */
  changed(before: State, params: Params): State;
}

const CHANGE_NODES: readonly ChangeNode[] = [
  {
    node: 'user/change_pw',
    params: () => ({ password: `Changed-${tag()}` }),
    changed: (before, params) => changedBoth(before, { secret: params.password as string }, { password: params.password }),
  },
  {
    node: 'user/change_email',
    params: () => ({ email: `changed-${tag()}@example.com` }),
    changed: (before, params) => changedBoth(before, { email: params.email as string }, { email: params.email }),
  },
  {
    node: 'user/update',
    params: () => ({ displayname: `Changed ${tag()}`, email: `upd-${tag()}@example.com`, dialplan: `(${randomInt(100, 999)})` }),
    changed: (before, params) =>
      changedBoth(
        before,
        { name: params.displayname as string, email: params.email as string },
        { displayname: params.displayname, email: params.email, dialplan: params.dialplan },
      ),
  },
  {
    node: 'user/forward',
    params: () => ({ busy: `+47${randomInt(10_000_000, 99_999_999)}`, all: String(randomInt(100, 999)) }),
    changed: (before, params) =>
      changedBoth(
        before,
        { forward_policy: { ...(before.pbx as Extension).forward_policy, Busy: params.busy as string, All: params.all as string } },
        {},
      ),
  },
];

describe.each(CHANGE_NODES)('$node', ({ node, params, changed }) => {
  async function run(faults: readonly [string, FaultKind][]): Promise<{ response: Response; before: State; after: State; sent: Params }> {
    const { user, username } = await newLocalUser();
    const before = await state(username);
    const sent = params();
    const response = await withFaults(faults, () => gateway.get(node, { user, ...sent }));
    return { response, before, after: await state(username), sent };
  }

  it('changes both sides without faults (the baseline the fault tests compare with)', async () => {
    const { response, before, after, sent } = await run([]);
    expect(response.body.response).toBe('ok');
    expect(after).toEqual(changed(before, sent));
    expect(after).not.toEqual(before);
  });

  it('answers failed/pbx on a refused users/update, and neither side changed', async () => {
    const { response, before, after } = await run([[UPDATE, 'refuse']]);
    expect(response.body).toEqual(notDoneAnswer('refuse'));
    expect(after).toEqual(before);
  });

  it.each(LOST_ANSWER)('settles one lost answer (%s of users/update) by sending the object again: ok, and both sides changed', async (kind) => {
    const { response, before, after, sent } = await run([[UPDATE, kind]]);
    expect(response.body.response).toBe('ok');
    expect(after).toEqual(changed(before, sent));
  });

  it.each(LOST_ANSWER)('answers error/pbx when users/update meets %s twice, with the original restored on the PBX', async (kind) => {
    const { response, before, after } = await run([
      [UPDATE, kind],
      [UPDATE, kind],
    ]);
    expect(response.body).toEqual(notDoneAnswer(kind));
    expect(after).toEqual(before);
  });

  it('answers error/pbx when a lost answer (applied) is followed by a refusal of the re-send, with the original restored', async () => {
    const { response, before, after } = await run([
      [UPDATE, 'timeout-after'],
      [UPDATE, 'refuse'],
    ]);
    expect(response.body).toEqual(notDoneAnswer('timeout'));
    expect(after).toEqual(before);
  });

  it.each(ALL_FAULTS)('sends no update and changes nothing when the read step (users/search) meets %s', async (kind) => {
    const { user, username } = await newLocalUser();
    const before = await state(username);
    const start = gateway.pbx.calls.length;
    const response = await withFaults([[SEARCH, kind]], () => gateway.get(node, { user, ...params() }));
    expect(response.body).toEqual(notDoneAnswer(kind));
    expect(gateway.pbx.calls.slice(start).map((call) => call.path)).not.toContain(UPDATE);
    expect(await state(username)).toEqual(before);
  });
});

describe('user/forward (read only)', () => {
  it.each(ALL_FAULTS)('answers without a change when users/search meets %s', async (kind) => {
    const { user, username } = await newLocalUser();
    const before = await state(username);
    const response = await withFaults([[SEARCH, kind]], () => gateway.get('user/forward', { user }));
    expect(response.body).toEqual(notDoneAnswer(kind));
    expect(await state(username)).toEqual(before);
  });
});

describe('MySQL failing after the PBX said yes to an update', () => {
  // `fails`: the rows the trigger refuses (by default, those given the magic value).
  const cases: { node: string; column: string; params: (magic: string) => Params; restored: (keyof Extension)[]; fails?: (username: string) => string }[] = [
    // The password is stored sealed (CONTRACT section 9): the trigger refuses a new sealed value for the user.
    {
      node: 'user/change_pw',
      column: 'password',
      params: (magic) => ({ password: magic }),
      restored: ['secret'],
      fails: (username) => `NEW.username = '${username}' AND NOT (NEW.secret <=> OLD.secret)`,
    },
    { node: 'user/change_email', column: 'email', params: (magic) => ({ email: magic }), restored: ['email'] },
    { node: 'user/update', column: 'displayname', params: (magic) => ({ displayname: magic, email: `other-${tag()}@example.com` }), restored: ['name', 'email'] },
  ];

  it.each(cases)('$node: answers error/db and restores the old values on the PBX', async ({ node, column, params, restored, fails }) => {
    const { user, username } = await newLocalUser();
    const before = await state(username);
    const magic = column === 'email' ? `fails-${tag()}@example.com` : `Fails-${tag()}`;
    await withTrigger(
      `fail_update_${tag()}`,
      `BEFORE UPDATE ON users FOR EACH ROW BEGIN IF ${fails ? fails(username) : `NEW.${column} = '${magic}'`} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; END IF; END`,
      async () => {
        const start = gateway.pbx.calls.length;
        const response = await gateway.get(node, { user, ...params(magic) });
        expect(response.body).toEqual(DB_ERROR);
        // The change reached the PBX, then was put back.
        const updates = gateway.pbx.calls.slice(start).filter((call) => call.path === UPDATE);
        expect(updates).toHaveLength(2);
        for (const field of restored) expect((updates[0].body as Extension)[field]).not.toBe((before.pbx as Extension)[field]);
        expect(await state(username)).toEqual(before);
      },
    );
  });

  it('user/update of an imported extension (no password held): restores the old name without sending a secret', async () => {
    const username = extensionNumber();
    gateway.pbx.seed({
      ...DEFAULT_EXTENSION_SETTINGS,
      number: username,
      cid_number: username,
      name: 'Imported',
      secret: 'Unknown-Secret7',
      email: '',
      forward_policy: { Busy: '', 'No Answer': '', UnAvailable: '', All: '' },
    });
    await gateway.query("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'user')", [username, LOCAL]);
    await gateway.query("INSERT INTO users (username, domain, kind, displayname, password) VALUES (?, ?, 'local', 'Imported', NULL)", [username, LOCAL]);
    const before = await state(username);
    const magic = `Fails-${tag()}`;
    await withTrigger(
      `fail_update_${tag()}`,
      `BEFORE UPDATE ON users FOR EACH ROW BEGIN IF NEW.displayname = '${magic}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; END IF; END`,
      async () => {
        const start = gateway.pbx.calls.length;
        expect((await gateway.get('user/update', { user: `${username}@${LOCAL}`, displayname: magic })).body).toEqual(DB_ERROR);
        for (const call of gateway.pbx.calls.slice(start)) expect(call.body).not.toHaveProperty('secret');
        expect(await state(username)).toEqual(before);
      },
    );
  });
});

describe('user/remove', () => {
  async function run(faults: readonly [string, FaultKind][]): Promise<{ response: Response; before: State; after: State; user: string }> {
    const { user, username } = await newLocalUser();
    const before = await state(username);
    const response = await withFaults(faults, () => gateway.get('user/remove', { user }));
    return { response, before, after: await state(username), user };
  }

  it('answers failed/pbx on a refused users/remove, and both sides keep the user', async () => {
    const { response, before, after } = await run([[REMOVE, 'refuse']]);
    expect(response.body).toEqual(notDoneAnswer('refuse'));
    expect(after).toEqual(before);
  });

  it.each(NOT_APPLIED)('answers error/pbx on %s of users/remove (not applied), and both sides keep the user', async (kind) => {
    const { response, before, after } = await run([[REMOVE, kind]]);
    expect(response.body).toEqual(notDoneAnswer(kind));
    expect(after).toEqual(before);
  });

  it.each(APPLIED)('settles a lost answer (%s of users/remove) by searching, and completes the removal on both sides', async (kind) => {
    const { response, after, user } = await run([[REMOVE, kind]]);
    expect(response.body).toEqual({ response: 'ok', user });
    expect(after).toEqual({ pbx: undefined, row: undefined, owner: undefined });
  });

  it.each(ALL_FAULTS)('sends no users/remove and changes nothing when the lookup (users/search) meets %s', async (kind) => {
    const start = gateway.pbx.calls.length;
    const { response, before, after } = await run([[SEARCH, kind]]);
    expect(response.body).toEqual(notDoneAnswer(kind));
    expect(gateway.pbx.calls.slice(start).filter((call) => call.path === REMOVE)).toEqual([]);
    expect(after).toEqual(before);
  });

  it('adds the extension back when MySQL fails after the PBX removed it (error/db, both sides keep the user)', async () => {
    const { user, username, password } = await newLocalUser();
    await gateway.get('user/forward', { user, busy: '4242' });
    const before = await state(username);
    await withTrigger(
      `fail_delete_${tag()}`,
      `BEFORE DELETE ON addresses FOR EACH ROW BEGIN IF OLD.username = '${username}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected'; END IF; END`,
      async () => {
        const start = gateway.pbx.calls.length;
        expect((await gateway.get('user/remove', { user })).body).toEqual(DB_ERROR);
        // The undo reads the PBX afresh (under a new lock) before it adds the extension back.
        expect(gateway.pbx.calls.slice(start).map((call) => call.path)).toEqual([SEARCH, REMOVE, SEARCH, ADD]);
        const after = await state(username);
        // Back with everything it had, its secret included; the PBX gave it a new _id.
        expect(after).toEqual({ ...before, pbx: { ...before.pbx, _id: expect.any(String) } });
        expect(after.pbx?.secret).toBe(password);
      },
    );
    // And the gateway can work with it again.
    expect((await gateway.get('user/change_pw', { user, password: 'After-Undo-1' })).body.response).toBe('ok');
    expect(gateway.pbx.extension(username)?.secret).toBe('After-Undo-1');
    expect((await gateway.get('user/remove', { user })).body.response).toBe('ok');
    expect(await state(username)).toEqual({ pbx: undefined, row: undefined, owner: undefined });
  });
});

/** Waits until the PBX has received a call to `path` since call number `start`. */
async function arrived(path: string, start: number): Promise<void> {
  while (!gateway.pbx.calls.slice(start).some((call) => call.path === path)) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('a lost answer whose check (users/search) fails once too', () => {
  // Only the faults that hold the answer back leave time to queue the search fault before the check.
  const HELD: readonly FaultKind[] = ['timeout', 'timeout-after'];
  // A refused check decides nothing either: it is asked again like a lost one.
  const HELD_THEN_CHECK = HELD.flatMap((kind) => (['http500', 'refuse'] as const).map((check) => [kind, check] as const));

  it.each(HELD_THEN_CHECK)('user/add_local: %s of users/add, then a check that meets %s: asks again and answers by what the PBX has', async (kind, check) => {
    const username = extensionNumber();
    const start = gateway.pbx.calls.length;
    gateway.pbx.fail(ADD, kind);
    const request = gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: 'Doubly Lost' }).then((response) => response);
    await arrived(ADD, start);
    gateway.pbx.fail(SEARCH, check);
    const response = await request;
    // The last search is the settling of the extension from MySQL (afresh, under a new lock) after
    // the add did not commit; it finds nothing to undo when the add was not applied.
    expect(gateway.pbx.calls.slice(start).map((call) => call.path)).toEqual([SEARCH, ADD, SEARCH, SEARCH, ...(kind === 'timeout' ? [SEARCH] : [])]);
    const after = await state(username);
    if (kind === 'timeout-after') {
      expect(response.body).toMatchObject({ response: 'ok', password: expect.any(String) });
      expect(after.pbx?.secret).toBe(response.body.password);
      expect(after.row?.password).toBe(response.body.password);
    } else {
      expect(response.body).toEqual(notDoneAnswer(kind));
      expect(after).toEqual({ pbx: undefined, row: undefined, owner: undefined });
    }
  });

  it.each(HELD_THEN_CHECK)('user/remove: %s of users/remove, then a check that meets %s: asks again and answers by what the PBX has', async (kind, check) => {
    const { user, username } = await newLocalUser();
    const before = await state(username);
    const start = gateway.pbx.calls.length;
    gateway.pbx.fail(REMOVE, kind);
    const request = gateway.get('user/remove', { user }).then((response) => response);
    await arrived(REMOVE, start);
    gateway.pbx.fail(SEARCH, check);
    const response = await request;
    // When the removal did not happen, the last search is the settling of the extension from MySQL.
    expect(gateway.pbx.calls.slice(start).map((call) => call.path)).toEqual([SEARCH, REMOVE, SEARCH, SEARCH, ...(kind === 'timeout' ? [SEARCH] : [])]);
    if (kind === 'timeout-after') {
      expect(response.body).toEqual({ response: 'ok', user });
      expect(await state(username)).toEqual({ pbx: undefined, row: undefined, owner: undefined });
    } else {
      expect(response.body).toEqual(notDoneAnswer(kind));
      expect(await state(username)).toEqual(before);
    }
  });
});

describe('a lost users/add answer while another local domain adds the same number', () => {
  it('is not settled with the other domain\'s extension: one ok, one user, the PBX secret is its password', async () => {
    const second = `l${tag()}.example`;
    expect((await gateway.get('domains/add', { domain: second, local: true })).body.response).toBe('ok');
    const username = extensionNumber();
    // The first add's users/add is not applied and never answered ...
    gateway.pbx.fail(ADD, 'timeout');
    const start = gateway.pbx.calls.length;
    const first = gateway.get('user/add_local', { user: `${username}@${LOCAL}`, displayname: 'First' }).then((response) => response);
    await arrived(ADD, start);
    // ... and while it waits for the answer, the same number is asked for in the other local domain.
    const secondRequest = gateway.get('user/add_local', { user: `${username}@${second}`, displayname: 'Second' }).then((response) => response);
    const answers = [(await first).body, (await secondRequest).body];
    expect(answers[0]).toEqual({ response: 'error', cause: 'pbx', detail: expect.any(String) });
    expect(answers[1]).toMatchObject({ response: 'ok', user: { user: `${username}@${second}` } });
    expect(gateway.pbx.extensions().filter((extension) => extension.number === username)).toHaveLength(1);
    expect(gateway.pbx.extension(username)).toMatchObject({ name: 'Second', secret: answers[1].password });
    const rows = await gateway.query<PasswordColumns>('SELECT username, domain, secret, password FROM users WHERE username = ?', [username]);
    expect(rows.map((row) => ({ domain: row.domain, password: heldPassword(gateway.container.secrets, row) }))).toEqual([{ domain: second, password: answers[1].password }]);
    expect(await gateway.query('SELECT domain FROM addresses WHERE username = ?', [username])).toEqual([{ domain: second }]);
  });
});

describe('concurrent requests', () => {
  // These run on a gateway with the default PBX timeout: twenty requests at once must not trip the short one.
  let racing: TestGateway;
  const PARALLEL = 20;

  beforeAll(async () => {
    racing = await startTestGateway();
  });

  afterAll(async () => {
    await racing.close();
  });

  function tally(responses: readonly Response[]): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const { body } of responses) {
      const key = body.response === 'ok' ? 'ok' : `${body.response}/${body.cause}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  async function racingUser(): Promise<{ user: string; username: string }> {
    const username = extensionNumber();
    const user = `${username}@${LOCAL}`;
    expect((await racing.get('user/add_local', { user, displayname: 'Racer' })).body.response).toBe('ok');
    return { user, username };
  }

  it(`${PARALLEL} parallel user/add_local of one address: one ok, failed/exists otherwise, one extension on the PBX`, async () => {
    const username = extensionNumber();
    const user = `${username}@${LOCAL}`;
    const responses = await Promise.all(Array.from({ length: PARALLEL }, () => racing.get('user/add_local', { user, displayname: 'Racer' })));
    expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
    const winner = responses.find((response) => response.body.response === 'ok')?.body as { password: string };
    expect(racing.pbx.extensions().filter((extension) => extension.number === username)).toHaveLength(1);
    const after = await state(username, LOCAL, racing);
    expect(after.pbx?.secret).toBe(winner.password);
    expect(after.row?.password).toBe(winner.password);
    expect(after.owner).toBe('user');
  });

  it(`${PARALLEL} parallel user/add_local of one extension number in two local domains: one ok, failed/exists otherwise`, async () => {
    const second = `l${tag()}.example`;
    expect((await racing.get('domains/add', { domain: second, local: true })).body.response).toBe('ok');
    const username = extensionNumber();
    const domains = [LOCAL, second];
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, index) => racing.get('user/add_local', { user: `${username}@${domains[index % 2]}`, displayname: 'Racer' })),
    );
    expect(tally(responses)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
    const winner = responses.find((response) => response.body.response === 'ok')?.body as { user: { domain: string }; password: string };
    expect(racing.pbx.extensions().filter((extension) => extension.number === username)).toHaveLength(1);
    expect(racing.pbx.extension(username)?.secret).toBe(winner.password);
    const rows = await racing.query<PasswordColumns>('SELECT username, domain, secret, password FROM users WHERE username = ?', [username]);
    expect(rows.map((row) => ({ domain: row.domain, password: heldPassword(racing.container.secrets, row) }))).toEqual([{ domain: winner.user.domain, password: winner.password }]);
    expect(await racing.query('SELECT domain FROM addresses WHERE username = ?', [username])).toEqual([{ domain: winner.user.domain }]);
  });

  it(`${PARALLEL} parallel user/change_pw of one user: all ok, and the PBX ends with the password MySQL holds`, async () => {
    const { user, username } = await racingUser();
    const passwords = Array.from({ length: PARALLEL }, (_, index) => `Parallel-${index}-${tag()}`);
    const responses = await Promise.all(passwords.map((password) => racing.get('user/change_pw', { user, password })));
    expect(tally(responses)).toEqual({ ok: PARALLEL });
    const after = await state(username, LOCAL, racing);
    expect(passwords).toContain(after.row?.password);
    expect(after.pbx?.secret).toBe(after.row?.password);
  });

  it(`${PARALLEL} parallel user/remove of one user: one ok, failed/nonexistant otherwise, one users/remove sent`, async () => {
    const { user, username } = await racingUser();
    const id = racing.pbx.extension(username)?._id;
    const start = racing.pbx.calls.length;
    const responses = await Promise.all(Array.from({ length: PARALLEL }, () => racing.get('user/remove', { user })));
    expect(tally(responses)).toEqual({ ok: 1, 'failed/nonexistant': PARALLEL - 1 });
    expect(racing.pbx.calls.slice(start).filter((call) => call.path === REMOVE)).toEqual([{ path: REMOVE, body: { _id: id } }]);
    expect(await state(username, LOCAL, racing)).toEqual({ pbx: undefined, row: undefined, owner: undefined });
  });
});
