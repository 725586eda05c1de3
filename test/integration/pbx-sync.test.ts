import { randomInt } from 'node:crypto';
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
