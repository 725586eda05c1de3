import { randomInt } from 'node:crypto';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// Issue 9, finding 5: /readyz is anonymous, so it must not be a way to make the gateway call the
// PBX: it answers from one look every few seconds, and its PBX ping never takes a PBX concurrency
// slot from real work.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ pbx: { maxConcurrency: 1, timeoutMs: 3000 } });
});

afterAll(async () => {
  await gateway.close();
});

const pings = () => gateway.pbx.calls.filter((call) => call.path === '/setting/ping/act').length;

it('answers while the only PBX slot is held by a hanging call (the ping does not wait for it)', async () => {
  gateway.pbx.setRandomFaults({ rate: 1, seed: 1, kinds: ['timeout'], paths: ['/pbx/users/add'] });
  try {
    const hanging = gateway.get('user/add_local', { user: `${randomInt(10_000_000, 99_999_999)}@pbx.local`, displayname: 'Hang' }).then((answer) => answer);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const ready = await request(gateway.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { database: 'ok', pbx: 'ok' } });
    expect(performance.now() - started).toBeLessThan(1000);
    await hanging;
  } finally {
    gateway.pbx.setRandomFaults(null);
  }
});

it('asks the PBX at most once per look however many anonymous callers ask: 200 calls, at most 2 pings', async () => {
  await new Promise((resolve) => setTimeout(resolve, 2100)); // the previous test's look has expired
  const before = pings();
  const answers = await Promise.all(Array.from({ length: 200 }, () => request(gateway.app).get('/readyz')));
  expect(answers.every((answer) => answer.status === 200)).toBe(true);
  expect(pings() - before).toBeGreaterThanOrEqual(1);
  expect(pings() - before).toBeLessThanOrEqual(2);
});
