import { randomUUID } from 'node:crypto';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { heldPassword, type PasswordColumns } from '../helpers/secrets';
import { ExtensionStore } from '../../src/nodes/user/extension-store';

// CONTRACT section 11: every change of one extension holds its claim, a committed row in
// pbx_extensions (not GET_LOCK, not a node's row lock), with a lease that a dead holder's claim
// runs out of.
let gateway: TestGateway;
let next = 7100;

beforeAll(async () => {
  gateway = await startTestGateway({ requestTimeoutMs: 2000 });
});

afterAll(async () => {
  await gateway.close();
});

async function localUser(): Promise<string> {
  next += 1;
  const user = `${next}@pbx.local`;
  const response = await gateway.get('user/add_local', { user, displayname: 'Claimed Person' });
  expect(response.body.response).toBe('ok');
  return user;
}

/** As if a gateway that died held the claim: its lease ends in `seconds` (negative: already over). */
async function deadHolder(number: string, seconds: number): Promise<void> {
  await gateway.query('UPDATE pbx_extensions SET claim = ?, claim_until = CURRENT_TIMESTAMP(3) + INTERVAL ? SECOND WHERE number = ?', [randomUUID(), seconds, number]);
}

it('leaves no claim behind after a change, and counts every claim in claim_seq', async () => {
  const user = await localUser();
  const number = user.split('@')[0];
  const [before] = await gateway.query<{ claim: string | null; claim_seq: number }>('SELECT claim, claim_seq FROM pbx_extensions WHERE number = ?', [number]);
  expect(before.claim).toBeNull();
  expect((await gateway.get('user/change_email', { user, email: 'claims@example.com' })).body.response).toBe('ok');
  const [after] = await gateway.query<{ claim: string | null; claim_seq: number }>('SELECT claim, claim_seq FROM pbx_extensions WHERE number = ?', [number]);
  expect(after.claim).toBeNull();
  // Claimed, fenced in the transaction: at least two writes of the row.
  expect(Number(after.claim_seq) - Number(before.claim_seq)).toBeGreaterThanOrEqual(2);
});

it('takes over the claim of a holder whose lease has run out', async () => {
  const user = await localUser();
  await deadHolder(user.split('@')[0], -1);
  expect((await gateway.get('user/change_email', { user, email: 'taken-over@example.com' })).body.response).toBe('ok');
  expect(gateway.pbx.extension(user.split('@')[0])?.email).toBe('taken-over@example.com');
});

it('waits for a live claim; a change still waiting at its deadline answers error and changes nothing anywhere', async () => {
  const user = await localUser();
  const number = user.split('@')[0];
  await deadHolder(number, 30);
  const started = Date.now();
  const response = await gateway.get('user/change_email', { user, email: 'never@example.com' });
  expect(response.body.response).toBe('error');
  expect(Date.now() - started).toBeLessThan(6000);
  // Released by its holder now: whatever was queued must not run after the answer.
  await gateway.query('UPDATE pbx_extensions SET claim = NULL, claim_until = NULL WHERE number = ?', [number]);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(gateway.pbx.extension(number)?.email).not.toBe('never@example.com');
  const [row] = await gateway.query<{ email: string }>("SELECT email FROM users WHERE username = ? AND domain = 'pbx.local'", [number]);
  expect(row.email).not.toBe('never@example.com');
  // And the next change goes through.
  expect((await gateway.get('user/change_email', { user, email: 'after@example.com' })).body.response).toBe('ok');
});

it('serialises parallel changes of one extension: the PBX and MySQL end with the same password', async () => {
  const user = await localUser();
  const passwords = Array.from({ length: 12 }, (_, index) => `Parallel-pass-${index}-x`);
  const answers = await Promise.all(passwords.map((password) => gateway.get('user/change_pw', { user, password })));
  expect(answers.map((answer) => answer.body.response)).toEqual(passwords.map(() => 'ok'));
  const number = user.split('@')[0];
  const [row] = await gateway.query<PasswordColumns>("SELECT id, username, domain, password, secret FROM users WHERE username = ? AND domain = 'pbx.local'", [number]);
  const stored = heldPassword(gateway.container.secrets, row);
  expect(passwords).toContain(stored);
  expect(gateway.pbx.extension(number)?.secret).toBe(stored);
});

it("takes over its own claim at once when the release did not reach MySQL (an outage), instead of waiting out the lease", async () => {
  const user = await localUser();
  const number = user.split('@')[0];
  const pool = gateway.container.pool;
  let failReleases = true;
  // The same pool, but a release (claim = NULL) fails while MySQL is "unreachable".
  const flaky = new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== 'execute') return Reflect.get(target, property, receiver) as unknown;
      return (sql: string, values?: unknown[]) =>
        failReleases && sql.includes('SET claim = NULL') ? Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) : target.execute(sql, values as never);
    },
  });
  const store = new ExtensionStore(flaky);
  await store.withClaim(number, async () => undefined);
  const [held] = await gateway.query<{ claim: string | null }>('SELECT claim FROM pbx_extensions WHERE number = ?', [number]);
  expect(held.claim).not.toBeNull();
  failReleases = false;
  const started = Date.now();
  await store.withClaim(number, async () => undefined);
  expect(Date.now() - started).toBeLessThan(1000);
  const [after] = await gateway.query<{ claim: string | null }>('SELECT claim FROM pbx_extensions WHERE number = ?', [number]);
  expect(after.claim).toBeNull();
});
