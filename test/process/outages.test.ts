import mysql from 'mysql2/promise';
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
  waitFor,
  type Answer,
  type GatewayProcess,
} from '../helpers/gateway-process';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

// CONTRACT sections 3, 7 and 8 with the lines to MySQL and to the PBX cut under a running gateway
// process: while a line is down, requests answer promptly with error/db or error/pbx (never hang),
// /readyz is 503 naming the part; once it is back, the same process recovers by itself; and every
// change answered ok is in both stores afterwards, none answered otherwise is in either.

const PBX_TIMEOUT_MS = 1000;
/** The longest any answer may take, the line up or down (a few PBX timeouts, with room for a busy machine). */
const PROMPT_MS = 3000;
const WORKERS = 3;
// A bound only: traffic runs until the plan ends (its windows last longer since /readyz answers from a 2 s look).
const MAX_REQUESTS_PER_WORKER = 2000;
const REMOVABLE_USERS = 6;

let simulator: PbxSimulator;
let dbLine: TcpProxy;
let pbxLine: TcpProxy;
let gateway: GatewayProcess;
let db: mysql.Connection;
const database = newDatabaseName();

beforeAll(async () => {
  simulator = await startPbxSimulator();
  const mysqlServer = new URL(MYSQL_SERVER);
  dbLine = await startTcpProxy({ host: mysqlServer.hostname, port: Number(mysqlServer.port || 3306) });
  pbxLine = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(simulator.url).port) });
  const throughLine = new URL(MYSQL_SERVER);
  throughLine.hostname = '127.0.0.1';
  throughLine.port = String(dbLine.port);
  gateway = await spawnGateway({
    MYSQL_URL: `${throughLine.toString().replace(/\/$/, '')}/${database}`,
    ...pbxEnvironment(simulator, `http://127.0.0.1:${pbxLine.port}/api/v4`),
    PBX_TIMEOUT_MS: String(PBX_TIMEOUT_MS),
    REQUEST_TIMEOUT_MS: '10000',
  });
  db = await mysql.createConnection(`${MYSQL_SERVER}/${database}`);
});

afterAll(async () => {
  await killAllGateways();
  await db?.end();
  await dbLine?.close();
  await pbxLine?.close();
  await simulator?.close();
  await dropDatabase(database);
});

type Operation = 'numbers/add' | 'user/add_local' | 'user/remove';

interface Exchange {
  readonly operation: Operation;
  /** The number (E.164 digits) or the extension number it is about. */
  readonly key: string;
  readonly started: number;
  readonly ended: number;
  readonly answer: Answer | null;
  readonly transportError: string | null;
}

type Part = 'database' | 'pbx';

interface Window {
  readonly parts: Part[];
  readonly cut: number;
  restored: number;
  /** When /readyz said 200 again. */
  recovered: number;
  readyzWhileCut: Answer | null;
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));
const now = () => performance.now();

/** Unique keys for the whole run. */
let counter = 0;
const nextKey = () => (counter += 1);

/**
 * Changes from several workers, one after another each, until stopped or out of budget: pool
 * numbers, local users added, and local users removed (those made beforehand or added ok on the
 * way; one whose removal did not answer ok is tried again later).
 */
function startTraffic(removable: string[]): { exchanges: Exchange[]; stop: () => Promise<void> } {
  const exchanges: Exchange[] = [];
  let stopped = false;
  const operations: Operation[] = ['numbers/add', 'user/add_local', 'user/remove'];
  const worker = async (index: number) => {
    for (let step = 0; step < MAX_REQUESTS_PER_WORKER && !stopped; step += 1) {
      let operation = operations[(index + step) % operations.length];
      if (operation === 'user/remove' && removable.length === 0) operation = 'user/add_local';
      let key: string;
      let params: Record<string, string>;
      if (operation === 'numbers/add') {
        key = String(4_798_000_000 + nextKey());
        params = { number: `+${key}` };
      } else if (operation === 'user/add_local') {
        key = String(700_000 + nextKey());
        params = { user: `${key}@pbx.local`, displayname: `Outage ${key}` };
      } else {
        key = removable.shift() as string;
        params = { user: `${key}@pbx.local` };
      }
      const started = now();
      let answer: Answer | null = null;
      let transportError: string | null = null;
      try {
        answer = await callNode(gateway.url, operation, params, { timeoutMs: 15_000 });
      } catch (error) {
        transportError = (error as Error).message;
      }
      exchanges.push({ operation, key, started, ended: now(), answer, transportError });
      const response = answer?.body?.response;
      if ((operation === 'user/add_local' && response === 'ok') || (operation === 'user/remove' && response === 'error')) removable.push(key);
      await sleep(15);
    }
  };
  const running = Promise.all(Array.from({ length: WORKERS }, (_, index) => worker(index)));
  return {
    exchanges,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

async function readiness(): Promise<Answer> {
  return httpGet(`${gateway.url}/readyz`, { timeoutMs: 5000 });
}

/** Waits (bounded) until /readyz answers `status`; returns the last answer. */
async function readyzBecomes(status: number, timeoutMs: number): Promise<Answer> {
  let last: Answer | null = null;
  await waitFor(async () => {
    last = await readiness();
    return last.status === status;
  }, timeoutMs, 100);
  return last as unknown as Answer;
}

/** What the two stores hold now: pool numbers, local users in MySQL, extensions on the PBX. */
async function stores(): Promise<{ pooled: Set<string>; inMysql: Set<string>; onPbx: Set<string> }> {
  const [numberRows] = await db.query('SELECT number FROM numbers');
  const [userRows] = await db.query("SELECT username FROM users WHERE domain = 'pbx.local' AND kind = 'local'");
  return {
    pooled: new Set((numberRows as { number: number | string }[]).map((row) => String(row.number))),
    inMysql: new Set((userRows as { username: string }[]).map((row) => row.username)),
    onPbx: new Set(simulator.extensions().map((extension) => extension.number)),
  };
}

function outcome(exchange: Exchange): string {
  if (!exchange.answer) return `transport: ${exchange.transportError}`;
  const { body } = exchange.answer;
  return body.response === 'ok' ? 'ok' : `${body.response}/${body.cause}`;
}

function summary(exchange: Exchange): string {
  return `${exchange.operation} ${exchange.key} answered ${outcome(exchange)} in ${Math.round(exchange.ended - exchange.started)} ms`;
}

describe('the lines to MySQL and to the PBX cut under a running gateway', () => {
  it('answers promptly while they are down, recovers by itself, and keeps both stores in agreement', async () => {
    // Local users to remove during the run (more join as they are added).
    const removable: string[] = [];
    for (let index = 0; index < REMOVABLE_USERS; index += 1) {
      const key = String(600_000 + index);
      const answer = await callNode(gateway.url, 'user/add_local', { user: `${key}@pbx.local`, displayname: `Removable ${key}` });
      expect(answer.body.response).toBe('ok');
      removable.push(key);
    }
    expect((await readiness()).status).toBe(200);
    const preMade = [...removable];

    // The cuts, one after another with traffic all along: each line refused, each line reset, both.
    const plan: { parts: Part[]; mode: 'refuse' | 'reset' }[] = [
      { parts: ['database'], mode: 'refuse' },
      { parts: ['pbx'], mode: 'reset' },
      { parts: ['database'], mode: 'reset' },
      { parts: ['pbx'], mode: 'refuse' },
      { parts: ['database', 'pbx'], mode: 'refuse' },
    ];
    const lines: Record<Part, TcpProxy> = { database: dbLine, pbx: pbxLine };
    const windows: Window[] = [];
    const traffic = startTraffic(removable);
    try {
      await sleep(600);
      for (const { parts, mode } of plan) {
        const window: Window = { parts, cut: now(), restored: Infinity, recovered: Infinity, readyzWhileCut: null };
        windows.push(window);
        for (const part of parts) await lines[part].cut(mode);
        window.readyzWhileCut = await readyzBecomes(503, 5000);
        await sleep(900);
        window.restored = now();
        for (const part of parts) await lines[part].restore();
        expect((await readyzBecomes(200, 10_000)).status).toBe(200);
        window.recovered = now();
        await sleep(500);
      }
    } finally {
      await traffic.stop();
    }
    const { exchanges } = traffic;

    // While cut, /readyz was 503 and named the failing parts, and only them.
    for (const { parts, readyzWhileCut } of windows) {
      expect(readyzWhileCut?.status).toBe(503);
      expect(readyzWhileCut?.body).toMatchObject({
        status: 'unready',
        failing: parts,
        checks: { database: parts.includes('database') ? 'failing' : 'ok', pbx: parts.includes('pbx') ? 'failing' : 'ok' },
      });
    }

    // A change in flight at the instant a line was cut may have been applied with its answer lost.
    const inFlightAtCut = (exchange: Exchange) => windows.some((window) => exchange.started < window.cut && exchange.ended > window.cut);

    // Every request was answered, promptly, with HTTP 200 and ok or error/db or error/pbx.
    expect(exchanges.length).toBeGreaterThan(30);
    const answers = exchanges.map((exchange) => ({ ...exchange, outcome: outcome(exchange) }));
    expect(answers.filter((exchange) => exchange.answer === null || exchange.answer.status !== 200)).toEqual([]);
    expect(answers.filter((exchange) => exchange.ended - exchange.started >= PROMPT_MS).map(summary)).toEqual([]);
    // A removal tried again after one in flight at a cut may find the user gone (see below).
    const triedAgain = (exchange: Exchange) =>
      exchange.operation === 'user/remove' &&
      answers.some((before) => before.key === exchange.key && before.operation === 'user/remove' && before.ended <= exchange.started && inFlightAtCut(before));
    const unexpected = answers.filter(
      (exchange) => !['ok', 'error/db', 'error/pbx'].includes(exchange.outcome) && !(exchange.outcome === 'failed/nonexistant' && triedAgain(exchange)),
    );
    expect(unexpected.map(summary)).toEqual([]);
    expect(answers.filter((exchange) => exchange.outcome === 'ok').length).toBeGreaterThan(10);

    // Inside a window (begun after the cut, ended before the restore) the failing part is the cause
    // (MySQL is asked first); numbers/add needs no PBX and goes on while only the PBX is down.
    for (const window of windows) {
      const inside = answers.filter((exchange) => exchange.started > window.cut && exchange.ended < window.restored);
      expect(inside.length).toBeGreaterThan(0);
      const expected = (operation: Operation) =>
        window.parts.includes('database') ? 'error/db' : operation === 'numbers/add' ? 'ok' : 'error/pbx';
      const off = inside.filter((exchange) => exchange.outcome !== expected(exchange.operation));
      expect(off.map((exchange) => `${window.parts.join(' and ')} cut: ${summary(exchange)}`)).toEqual([]);
    }
    // Before the first cut and from when /readyz said 200 again until the next cut, everything is
    // ok: the same process recovered by itself.
    const healthy = answers.filter(
      (exchange) =>
        exchange.ended < windows[0].cut ||
        windows.some((window, index) => exchange.started > window.recovered && exchange.ended < (windows[index + 1]?.cut ?? Infinity)),
    );
    expect(healthy.filter((exchange) => exchange.outcome !== 'ok' && !triedAgain(exchange)).map(summary)).toEqual([]);
    for (const window of windows) {
      const after = answers.filter((exchange) => exchange.started > window.recovered && exchange.outcome === 'ok');
      expect(new Set(after.map((exchange) => exchange.operation))).toEqual(new Set(['numbers/add', 'user/add_local', 'user/remove']));
    }
    expect(gateway.running).toBe(true);
    expect((await readiness()).status).toBe(200);

    // Both stores: every change answered ok is there, none answered otherwise is, with one
    // exception no gateway can avoid: a change in flight at the instant a line was cut may have been
    // applied with its answer lost on that line (and the line stays down, so the gateway cannot ask).
    // Such a change answers error; where the PBX side is in doubt the gateway must have said so in
    // its log, and it repairs the extension by itself once both lines are back (no pbx/sync).
    const loggedInDoubt = new Set(
      gateway
        .output()
        .split('\n')
        .filter((line) => line.includes('"message":"PBX and MySQL may disagree"'))
        .map((line) => (JSON.parse(line) as { extension: string }).extension),
    );
    const { pooled, inMysql, onPbx } = await stores();
    const wrong: string[] = [];
    const doubtful: string[] = [];
    // A user's changes never overlap (a removal starts after the add answered), so replaying the
    // answers in order gives where each user must be.
    const expected = new Map<string, { present: boolean; doubt: boolean; history: string[] }>(
      preMade.map((key) => [key, { present: true, doubt: false, history: ['made before'] }]),
    );
    for (const exchange of [...answers].sort((a, b) => a.started - b.started)) {
      const ok = exchange.outcome === 'ok';
      if (exchange.operation === 'numbers/add') {
        if (pooled.has(exchange.key) !== ok) {
          (inFlightAtCut(exchange) ? doubtful : wrong).push(`numbers/add ${exchange.key} answered ${exchange.outcome}, in the pool: ${pooled.has(exchange.key)}`);
        }
        continue;
      }
      const state = expected.get(exchange.key) ?? { present: false, doubt: false, history: [] };
      if (ok) state.present = exchange.operation === 'user/add_local';
      state.doubt ||= !ok && inFlightAtCut(exchange);
      state.history.push(`${exchange.operation} ${exchange.outcome}${inFlightAtCut(exchange) ? ' (in flight at a cut)' : ''}`);
      expected.set(exchange.key, state);
    }
    for (const [key, { present, doubt, history }] of expected) {
      const where = `${key} (${history.join(', ')})`;
      if (inMysql.has(key) !== present) (doubt ? doubtful : wrong).push(`${where}: in MySQL ${inMysql.has(key)}`);
      if (onPbx.has(key) !== present) {
        (doubt ? doubtful : wrong).push(`${where}: on the PBX ${onPbx.has(key)}`);
        if (!loggedInDoubt.has(key)) wrong.push(`${where}: on the PBX ${onPbx.has(key)}, and the gateway did not log it as in doubt`);
      }
    }
    expect(wrong).toEqual([]);
    // Only a few requests can be in flight at the cuts.
    expect(doubtful.length).toBeLessThanOrEqual(windows.length * WORKERS * 2);
    // The two stores agree on the local users as a whole within 30 s (CONTRACT section 7), by the
    // gateway's own repair rounds.
    let settled = await stores();
    for (let waited = 0; waited < 30_000 && [...settled.onPbx].sort().join() !== [...settled.inMysql].sort().join(); waited += 250) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      settled = await stores();
    }
    expect([...settled.onPbx].sort()).toEqual([...settled.inMysql].sort());
    // No address left claimed without its user.
    const [orphans] = await db.query(
      "SELECT a.username FROM addresses a LEFT JOIN users u ON u.username = a.username AND u.domain = a.domain WHERE a.owner = 'user' AND u.id IS NULL",
    );
    expect(orphans).toEqual([]);
  }, 60_000);
});
