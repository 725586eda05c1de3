import { randomBytes, randomInt } from 'node:crypto';
import mysql from 'mysql2/promise';
import { migrations } from '../../src/db/migrations';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';
import { MYSQL_SERVER } from '../helpers/gateway';
import {
  callNode,
  dropDatabase,
  httpGet,
  killAllGateways,
  newDatabaseName,
  pbxEnvironment,
  spawnGateway,
  type Answer,
  type GatewayProcess,
} from '../helpers/gateway-process';

// CONTRACT section 7 across processes (README "More than one gateway"): two gateway processes on
// one database and one PBX, each race fired at both at once. Nothing in one process's memory may
// be what keeps the duplicates out.

const PARALLEL = 16;
const ROUNDS = 2;

let simulator: PbxSimulator;
let gateways: GatewayProcess[] = [];
let db: mysql.Connection;
const database = newDatabaseName();

beforeAll(async () => {
  simulator = await startPbxSimulator();
  const environment = {
    MYSQL_URL: `${MYSQL_SERVER}/${database}`,
    ...pbxEnvironment(simulator),
    LOCAL_DOMAINS: 'pbx.local,second.local',
  };
  // Started together: they create and migrate the one database at the same time.
  gateways = await Promise.all([spawnGateway(environment), spawnGateway(environment)]);
  db = await mysql.createConnection(`${MYSQL_SERVER}/${database}`);
});

afterAll(async () => {
  await killAllGateways();
  await db?.end();
  await simulator?.close();
  await dropDatabase(database);
});

async function rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const [result] = await db.query(sql, params);
  return result as T[];
}

/** Request `index` of a race goes to gateway index % 2, all at once. */
function race(params: (index: number) => [string, Record<string, string>]): Promise<Answer[]> {
  return Promise.all(
    Array.from({ length: PARALLEL }, (_, index) => {
      const [node, query] = params(index);
      return callNode(gateways[index % 2].url, node, query, { timeoutMs: 20_000 });
    }),
  );
}

function tally(answers: readonly Answer[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { body } of answers) {
    const key = body.response === 'ok' ? 'ok' : `${body.response}/${body.cause}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** An extension number no other test uses. */
function extensionNumber(): string {
  return String(randomInt(10_000_000, 99_999_999));
}

async function remoteUser(): Promise<{ user: string; username: string; domain: string }> {
  const username = tag();
  const domain = `${tag()}.example`;
  const user = `${username}@${domain}`;
  const answer = await callNode(gateways[0].url, 'user/add_remote', {
    user,
    password: 'Race-Secret1',
    displayname: 'Racer',
    registrar: 'sip.provider.example',
  });
  expect(answer.body.response).toBe('ok');
  return { user, username, domain };
}

function addsOnPbx(number: string): number {
  return simulator.calls.filter((call) => call.path === '/pbx/users/add' && (call.body as { number?: string }).number === number).length;
}

describe('two gateway processes on one database and one PBX', () => {
  it('both serve and both see the database ready', async () => {
    for (const gateway of gateways) {
      const ready = await httpGet(`${gateway.url}/readyz`);
      expect(ready.status).toBe(200);
    }
    // Every migration the gateway ships, applied once.
    expect(await rows('SELECT name FROM schema_migrations ORDER BY name')).toEqual(migrations.map(({ name }) => ({ name })));
    expect(await rows('SELECT domain FROM domains WHERE local = 1 ORDER BY domain')).toEqual([{ domain: 'pbx.local' }, { domain: 'second.local' }]);
  });

  it('phone/add of one association from both: one ok, one row', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { user } = await remoteUser();
      const mac = randomBytes(6).toString('hex');
      const answers = await race(() => ['phone/add', { mac, user }]);
      expect(tally(answers)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
      expect(await rows('SELECT mac FROM phones WHERE mac = ?', [mac])).toHaveLength(1);
    }
  });

  it('alias/add of E.164 aliases for one destination from both: one ok, one E.164 alias', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const { user, username, domain } = await remoteUser();
      // Half the requests ask for one alias, the others each for another E.164 number.
      const shared = `+47${randomInt(10_000_000, 99_999_999)}@pbx.local`;
      const answers = await race((index) => [
        'alias/add',
        { alias: index % 4 < 2 ? shared : `+47${randomInt(10_000_000, 99_999_999)}@pbx.local`, destination: user },
      ]);
      expect(tally(answers)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
      const aliases = await rows<{ alias_username: string }>(
        'SELECT alias_username FROM aliases WHERE destination_username = ? AND destination_domain = ?',
        [username, domain],
      );
      expect(aliases).toHaveLength(1);
      const winner = answers.find((answer) => answer.body.response === 'ok')?.body.alias as string;
      expect(`${aliases[0].alias_username}@pbx.local`).toBe(winner);
    }
    // The losers left no address claimed.
    const [{ orphans }] = await rows<{ orphans: number }>(
      "SELECT COUNT(*) AS orphans FROM addresses a LEFT JOIN aliases l ON l.alias_username = a.username AND l.alias_domain = a.domain WHERE a.owner = 'alias' AND l.id IS NULL",
    );
    expect(Number(orphans)).toBe(0);
  });

  it('numbers/add of one number from both: one ok, one row', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const digits = `4799${randomInt(1_000_000, 9_999_999)}`;
      const answers = await race(() => ['numbers/add', { number: `+${digits}` }]);
      expect(tally(answers)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
      expect(await rows('SELECT number FROM numbers WHERE number = ?', [digits])).toHaveLength(1);
    }
  });

  it('user/add_local of one user from both: one ok, one row, one extension, one users/add on the PBX', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const number = extensionNumber();
      const answers = await race((index) => ['user/add_local', { user: `${number}@pbx.local`, displayname: `Racer ${index}` }]);
      expect(tally(answers)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
      const winner = answers.find((answer) => answer.body.response === 'ok')?.body;
      const users = await rows<{ displayname: string }>('SELECT displayname FROM users WHERE username = ?', [number]);
      expect(users).toEqual([{ displayname: winner.user.displayname }]);
      expect(simulator.extensions().filter((extension) => extension.number === number)).toHaveLength(1);
      expect(simulator.extension(number)).toMatchObject({ name: winner.user.displayname, secret: winner.password });
      expect(addsOnPbx(number)).toBe(1);
    }
  });

  it('user/add_local of one extension number in two local domains from both: one ok overall, one extension', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const number = extensionNumber();
      // Gateway A gets pbx.local and second.local alike, and so does B.
      const domains = ['pbx.local', 'pbx.local', 'second.local', 'second.local'];
      const answers = await race((index) => ['user/add_local', { user: `${number}@${domains[index % 4]}`, displayname: 'Two Domains' }]);
      expect(tally(answers)).toEqual({ ok: 1, 'failed/exists': PARALLEL - 1 });
      const winner = answers.find((answer) => answer.body.response === 'ok')?.body;
      const users = await rows<{ domain: string }>('SELECT domain FROM users WHERE username = ?', [number]);
      expect(users).toEqual([{ domain: winner.user.domain }]);
      expect(await rows('SELECT domain FROM addresses WHERE username = ?', [number])).toEqual([{ domain: winner.user.domain }]);
      expect(simulator.extensions().filter((extension) => extension.number === number)).toHaveLength(1);
      expect(addsOnPbx(number)).toBe(1);
    }
  });

  it('leaves no duplicates anywhere and both processes still running', async () => {
    expect(await rows('SELECT mac, user_id FROM phones GROUP BY mac, user_id HAVING COUNT(*) > 1')).toEqual([]);
    expect(await rows('SELECT username, domain FROM users GROUP BY username, domain HAVING COUNT(*) > 1')).toEqual([]);
    expect(await rows('SELECT destination_username, destination_domain FROM aliases WHERE e164 = 1 GROUP BY destination_username, destination_domain HAVING COUNT(*) > 1')).toEqual([]);
    const numbers = simulator.extensions().map((extension) => extension.number);
    expect(new Set(numbers).size).toBe(numbers.length);
    const local = await rows<{ username: string }>("SELECT username FROM users WHERE kind = 'local' ORDER BY username");
    expect(local.map((user) => user.username)).toEqual([...numbers].sort());
    expect(gateways.every((gateway) => gateway.running)).toBe(true);
  });
});
