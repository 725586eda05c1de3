// `npm run soak`: proves CONTRACT section 7 (consistency) under mixed faults, end to end.
//
// N gateway processes (dist/src/main.js) share one database, pbxgw_soak (dropped before and after
// the run), each through a TCP proxy of its own, and one PBX simulator in this process. Workers send
// a deterministic, seeded mix of changes over a small key space so that requests collide, while the
// simulator fails PBX calls at random and the proxies cut MySQL now and then. Then the faults stop,
// the stores are given SOAK_SETTLE_SECONDS to agree, and the invariants are checked on the final
// state of both stores, the answers and the gateways' logs. Exit status 0 only when all pass.
//
// Environment (all optional): SOAK_GATEWAYS (2), SOAK_WORKERS (16), SOAK_REQUESTS (20000),
// SOAK_SECONDS (600, bounds the request phase), SOAK_SEED (random, printed), SOAK_PBX_FAULT_RATE
// (0.10), SOAK_MYSQL_CUTS (40), SOAK_SETTLE_SECONDS (30), SOAK_MIN_RPS (5, for invariant 10).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { FORWARD_KEYS, type Extension, type ForwardName, type ForwardPolicy } from '../src/pbx/extension';
import { FAULT_KINDS, seededRandom, startPbxSimulator, type FaultKind, type PbxSimulator } from '../src/pbx/simulator';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy';
import { openKeyFile } from '../src/secrets/key-file';
import type { SecretBox } from '../src/secrets/secret-box';
import { openStoredSecret } from '../src/secrets/secrets-at-rest';

// ---------------------------------------------------------------------------------------------
// Settings

class SettingError extends Error {}

function numberSetting(name: string, fallback: number, low: number, high: number, integer = true): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < low || value > high || (integer && !Number.isInteger(value))) {
    throw new SettingError(`${name} must be ${integer ? 'an integer' : 'a number'} from ${low} to ${high} (got ${JSON.stringify(text)})`);
  }
  return value;
}

interface Settings {
  readonly gateways: number;
  readonly workers: number;
  readonly requests: number;
  readonly seconds: number;
  readonly seed: number;
  readonly pbxFaultRate: number;
  readonly mysqlCuts: number;
  readonly settleSeconds: number;
  readonly minRequestsPerSecond: number;
}

function readSettings(): Settings {
  return {
    gateways: numberSetting('SOAK_GATEWAYS', 2, 1, 16),
    workers: numberSetting('SOAK_WORKERS', 16, 1, 512),
    requests: numberSetting('SOAK_REQUESTS', 20_000, 1, 1_000_000),
    seconds: numberSetting('SOAK_SECONDS', 600, 1, 86_400),
    seed: numberSetting('SOAK_SEED', randomInt(0, 2 ** 32), 0, 2 ** 32 - 1),
    pbxFaultRate: numberSetting('SOAK_PBX_FAULT_RATE', 0.1, 0, 1, false),
    mysqlCuts: numberSetting('SOAK_MYSQL_CUTS', 40, 0, 100_000),
    settleSeconds: numberSetting('SOAK_SETTLE_SECONDS', 30, 1, 3600),
    minRequestsPerSecond: numberSetting('SOAK_MIN_RPS', 5, 0, 1_000_000, false),
  };
}

const MYSQL = { host: '127.0.0.1', port: 3306, user: 'root' } as const;
const DATABASE = 'pbxgw_soak';
const ROOT = path.resolve(__dirname, '..', '..');
const GATEWAY_MAIN = path.join(ROOT, 'dist', 'src', 'main.js');
// The gateways' key (the same default as theirs, under the checkout): the soak opens the passwords
// MySQL holds sealed with it to compare them with the PBX's secrets.
const SECRETS_KEY_FILE = path.resolve(ROOT, process.env.SECRETS_KEY_FILE || path.join('secrets', 'secrets.key'));

const PBX_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 10_000;
const REPAIR_INTERVAL_MS = 2000;
// A 'delay-after' answer comes well after the gateway stopped waiting for it.
const LATE_ANSWER_MS = 2 * PBX_TIMEOUT_MS;
// The client waits past the gateway's own request deadline before it calls an answer lost.
const CLIENT_TIMEOUT_MS = REQUEST_TIMEOUT_MS + 20_000;
const GATEWAY_START_MS = 30_000;
// CONTRACT section 7: repaired within 30 s after both stores answer again.
const CONVERGENCE_LIMIT_MS = 30_000;
// Agreement must hold this long (a few repair rounds) before it counts as convergence.
const STABLE_MS = 2 * REPAIR_INTERVAL_MS + 1000;
const SETTLE_POLL_MS = 250;
const SAMPLE_MS = 500;
const CUT_MIN_MS = 100;
const CUT_MAX_MS = 800;
const IN_DOUBT_MESSAGE = 'PBX and MySQL may disagree';
const EXAMPLES = 5;

// ---------------------------------------------------------------------------------------------
// The plan, the cuts and the simulator's faults follow the seed (mulberry32, from the simulator).

type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

// ---------------------------------------------------------------------------------------------
// The key space: small on purpose, so that requests collide.

const LOCAL_DOMAIN = 'pbx.local';
const REMOTE_DOMAIN = 'remote.example';
const LOCAL_USERS = Array.from({ length: 12 }, (_, index) => `${7101 + index}@${LOCAL_DOMAIN}`);
// Phones and aliases point only at these local users (and the remote ones): a user they point at
// cannot be removed, and the other nine extensions must keep being added and removed.
const ANCHORED_LOCAL_USERS = LOCAL_USERS.slice(0, 3);
const REMOTE_USERS = Array.from({ length: 4 }, (_, index) => `r${index + 1}@${REMOTE_DOMAIN}`);
const PHONE_USERS = [...ANCHORED_LOCAL_USERS, ...REMOTE_USERS];
const MACS = Array.from({ length: 5 }, (_, index) => `0004f2a1b2${(0xc0 + index).toString(16)}`);
const PLAIN_ALIASES = Array.from({ length: 6 }, (_, index) => `al${index + 1}@${LOCAL_DOMAIN}`);
const E164_ALIASES = Array.from({ length: 4 }, (_, index) => `+479000000${index + 1}@${LOCAL_DOMAIN}`);
// A remote destination with no user: allowed (only a local destination needs a user).
const ALIAS_DESTINATIONS = [...ANCHORED_LOCAL_USERS, ...REMOTE_USERS, `nobody@${REMOTE_DOMAIN}`];
const POOL_NUMBERS = Array.from({ length: 20 }, (_, index) => `+47910000${String(index).padStart(2, '0')}`);
const FORWARDS = Object.keys(FORWARD_KEYS) as ForwardName[];
const LOCAL_FIELDS = ['displayname', 'email', 'password', ...FORWARDS.map((name) => `forward.${name}`)];
const REMOTE_FIELDS = ['displayname', 'password'];

// Values of presence keys; a written value is always a request's own (w<index>...), never these.
const PRESENT = '(present)';
const ABSENT = '(absent)';

const userKey = (address: string) => `user:${address}`;
const fieldKey = (address: string, field: string) => `user:${address}#${field}`;
const phoneKey = (mac: string, address: string) => `phone:${mac}|${address}`;
const aliasKey = (alias: string) => `alias:${alias}`;
const numberKey = (number: string) => `number:${number}`;

function isPasswordKey(key: string): boolean {
  return key.endsWith('#password');
}

/** Every key whose final value is judged, with its value before the run (presence keys only). */
function presenceKeys(): string[] {
  return [
    ...[...LOCAL_USERS, ...REMOTE_USERS].map(userKey),
    ...MACS.flatMap((mac) => PHONE_USERS.map((user) => phoneKey(mac, user))),
    ...[...PLAIN_ALIASES, ...E164_ALIASES].map(aliasKey),
    ...POOL_NUMBERS.map(numberKey),
  ];
}

// ---------------------------------------------------------------------------------------------
// The plan: every request decided up front from the seed.

/** One key a request writes, and the value it writes there (null: the password add_local makes, known only from an ok answer). */
interface Write {
  readonly key: string;
  value: string | null;
}

interface Planned {
  readonly index: number;
  readonly node: string;
  readonly params: Record<string, string>;
  readonly gateway: number;
  readonly method: 'GET' | 'POST';
  readonly writes: Write[];
  /** The password the request sends, if any (for the log check). */
  readonly password?: string;
}

function macForm(random: Random, mac: string): string {
  const form = Math.floor(random() * 3);
  if (form === 0) return mac;
  const pairs = mac.match(/../g) as string[];
  return form === 1 ? pairs.join(':').toUpperCase() : pairs.join('-');
}

function removeWrites(address: string, fields: readonly string[]): Write[] {
  return [{ key: userKey(address), value: ABSENT }, ...fields.map((field) => ({ key: fieldKey(address, field), value: ABSENT }))];
}

type Builder = (random: Random, index: number) => { params: Record<string, string>; writes: Write[]; password?: string };

// Each value a request writes carries its index, so the final state names its writer.
const displayname = (index: number) => `w${index}`;
const email = (index: number) => `w${index}@x.example`;
const password = (index: number) => `Pw${index}xxxxxxxx`;
const forwardTarget = (index: number, slot: number) => `9${index}${slot}`;

const BUILDERS: readonly { node: string; weight: number; build: Builder }[] = [
  {
    node: 'user/add_local',
    weight: 10,
    build: (random, index) => {
      const user = pick(random, LOCAL_USERS);
      return {
        params: { user, displayname: displayname(index), email: email(index) },
        writes: [
          { key: userKey(user), value: PRESENT },
          { key: fieldKey(user, 'displayname'), value: displayname(index) },
          { key: fieldKey(user, 'email'), value: email(index) },
          { key: fieldKey(user, 'password'), value: null },
          ...FORWARDS.map((name) => ({ key: fieldKey(user, `forward.${name}`), value: '' })),
        ],
      };
    },
  },
  {
    node: 'user/remove',
    weight: 6,
    build: (random) => {
      const user = pick(random, LOCAL_USERS);
      return { params: { user }, writes: removeWrites(user, LOCAL_FIELDS) };
    },
  },
  {
    node: 'user/change_pw',
    weight: 7,
    build: (random, index) => {
      const user = pick(random, LOCAL_USERS);
      return {
        params: { user, password: password(index) },
        writes: [{ key: fieldKey(user, 'password'), value: password(index) }],
        password: password(index),
      };
    },
  },
  {
    node: 'user/change_email',
    weight: 6,
    build: (random, index) => {
      const user = pick(random, LOCAL_USERS);
      return { params: { user, email: email(index) }, writes: [{ key: fieldKey(user, 'email'), value: email(index) }] };
    },
  },
  {
    node: 'user/update',
    weight: 7,
    build: (random, index) => {
      const user = pick(random, LOCAL_USERS);
      const withEmail = random() < 0.3;
      return {
        params: { user, displayname: displayname(index), ...(withEmail ? { email: email(index) } : {}) },
        writes: [
          { key: fieldKey(user, 'displayname'), value: displayname(index) },
          ...(withEmail ? [{ key: fieldKey(user, 'email'), value: email(index) }] : []),
        ],
      };
    },
  },
  {
    node: 'user/forward',
    weight: 7,
    build: (random, index) => {
      const user = pick(random, LOCAL_USERS);
      // A non-empty subset of the four forwards, each with a target of its own.
      let chosen = FORWARDS.filter(() => random() < 0.5);
      if (chosen.length === 0) chosen = [pick(random, FORWARDS)];
      const params: Record<string, string> = { user };
      const writes: Write[] = [];
      for (const name of chosen) {
        const target = forwardTarget(index, FORWARDS.indexOf(name));
        params[name] = target;
        writes.push({ key: fieldKey(user, `forward.${name}`), value: target });
      }
      return { params, writes };
    },
  },
  {
    node: 'user/add_remote',
    weight: 3,
    build: (random, index) => {
      const user = pick(random, REMOTE_USERS);
      return {
        params: { user, password: password(index), displayname: displayname(index), registrar: 'sip.remote.example' },
        writes: [
          { key: userKey(user), value: PRESENT },
          { key: fieldKey(user, 'displayname'), value: displayname(index) },
          { key: fieldKey(user, 'password'), value: password(index) },
        ],
        password: password(index),
      };
    },
  },
  {
    node: 'user/update',
    weight: 2,
    build: (random, index) => {
      const user = pick(random, REMOTE_USERS);
      return { params: { user, displayname: displayname(index) }, writes: [{ key: fieldKey(user, 'displayname'), value: displayname(index) }] };
    },
  },
  {
    node: 'user/change_pw',
    weight: 2,
    build: (random, index) => {
      const user = pick(random, REMOTE_USERS);
      return {
        params: { user, password: password(index) },
        writes: [{ key: fieldKey(user, 'password'), value: password(index) }],
        password: password(index),
      };
    },
  },
  {
    node: 'user/remove',
    weight: 2,
    build: (random) => {
      const user = pick(random, REMOTE_USERS);
      return { params: { user }, writes: removeWrites(user, REMOTE_FIELDS) };
    },
  },
  {
    node: 'phone/add',
    weight: 4,
    build: (random) => {
      const mac = pick(random, MACS);
      const user = pick(random, PHONE_USERS);
      return { params: { mac: macForm(random, mac), user }, writes: [{ key: phoneKey(mac, user), value: PRESENT }] };
    },
  },
  {
    node: 'phone/remove',
    weight: 5,
    build: (random) => {
      const mac = pick(random, MACS);
      const user = pick(random, PHONE_USERS);
      return { params: { mac: macForm(random, mac), user }, writes: [{ key: phoneKey(mac, user), value: ABSENT }] };
    },
  },
  {
    node: 'alias/add',
    weight: 5,
    build: (random) => {
      const alias = random() < 0.5 ? pick(random, PLAIN_ALIASES) : pick(random, E164_ALIASES);
      const destination = pick(random, ALIAS_DESTINATIONS);
      return { params: { alias, destination }, writes: [{ key: aliasKey(alias), value: destination }] };
    },
  },
  {
    node: 'alias/remove',
    weight: 6,
    build: (random) => {
      const alias = random() < 0.5 ? pick(random, PLAIN_ALIASES) : pick(random, E164_ALIASES);
      return { params: { alias }, writes: [{ key: aliasKey(alias), value: ABSENT }] };
    },
  },
  {
    node: 'numbers/add',
    weight: 5,
    build: (random) => {
      const number = pick(random, POOL_NUMBERS);
      return { params: { number }, writes: [{ key: numberKey(number), value: PRESENT }] };
    },
  },
  {
    node: 'numbers/remove',
    weight: 5,
    build: (random) => {
      const number = pick(random, POOL_NUMBERS);
      return { params: { number }, writes: [{ key: numberKey(number), value: ABSENT }] };
    },
  },
];

const WRITE_NODES = [...new Set(BUILDERS.map((builder) => builder.node))];

function makePlan(settings: Settings, random: Random): Planned[] {
  const total = BUILDERS.reduce((sum, builder) => sum + builder.weight, 0);
  const plan: Planned[] = [];
  for (let index = 0; index < settings.requests; index += 1) {
    let roll = random() * total;
    const builder = BUILDERS.find((candidate) => (roll -= candidate.weight) < 0) ?? BUILDERS[BUILDERS.length - 1];
    const built = builder.build(random, index);
    plan.push({ index, node: builder.node, ...built, gateway: Math.floor(random() * settings.gateways), method: random() < 0.25 ? 'GET' : 'POST' });
  }
  return plan;
}

interface Cut {
  /** Fraction of the request phase (by requests or by time, whichever is further) at which it starts. */
  readonly at: number;
  readonly gateway: number;
  readonly mode: 'reset' | 'refuse';
  readonly ms: number;
}

function planCuts(settings: Settings, random: Random): Cut[] {
  return Array.from({ length: settings.mysqlCuts }, (_, index) => ({
    at: (index + 0.25 + random() * 0.5) / settings.mysqlCuts,
    gateway: Math.floor(random() * settings.gateways),
    mode: random() < 0.5 ? ('reset' as const) : ('refuse' as const),
    ms: CUT_MIN_MS + Math.floor(random() * (CUT_MAX_MS - CUT_MIN_MS + 1)),
  }));
}

// ---------------------------------------------------------------------------------------------
// Gateway processes

interface Gateway {
  readonly index: number;
  readonly child: ChildProcess;
  readonly proxy: TcpProxy;
  readonly agent: http.Agent;
  url: string;
  /** Every stdout and stderr line, for the log checks. */
  readonly lines: string[];
  exit: { code: number | null; signal: NodeJS.Signals | null } | null;
  readonly closed: Promise<void>;
}

function spawnGateway(index: number, proxy: TcpProxy, simulator: PbxSimulator, workers: number): Promise<Gateway> {
  const child = spawn(process.execPath, [GATEWAY_MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOST: '127.0.0.1',
      PORT: '0',
      AUTH_DISABLED: 'true',
      // All workers come from one address; with auth off, MAX_IN_FLIGHT counts per address.
      MAX_IN_FLIGHT: String(Math.max(32, workers)),
      LOG_LEVEL: 'info',
      PBX_TIMEOUT_MS: String(PBX_TIMEOUT_MS),
      REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      REPAIR_INTERVAL_MS: String(REPAIR_INTERVAL_MS),
      MYSQL_URL: `mysql://root@127.0.0.1:${proxy.port}/${DATABASE}`,
      PBX_URL: simulator.url,
      PBX_API_KEY: simulator.credentials.apiKey,
      PBX_USERNAME: simulator.credentials.username,
      PBX_PASSWORD: simulator.credentials.password,
      SECRETS_KEY_FILE,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let listening: (url: string) => void = () => undefined;
  const started = new Promise<string>((resolve) => (listening = resolve));
  const gateway: Gateway = {
    index,
    child,
    proxy,
    agent: new http.Agent({ keepAlive: true, maxSockets: workers }),
    url: '',
    lines: [],
    exit: null,
    closed: new Promise<void>((resolve) =>
      child.once('close', (code, signal) => {
        gateway.exit = { code, signal };
        resolve();
      }),
    ),
  };
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (text: string) => {
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        gateway.lines.push(line);
        if (gateway.url === '' && line.includes('pbx-gateway listening')) {
          try {
            const entry = JSON.parse(line) as { message?: string; url?: string };
            if (entry.message === 'pbx-gateway listening' && typeof entry.url === 'string') listening(entry.url);
          } catch {
            // not a JSON line
          }
        }
      }
    });
    stream?.on('end', () => {
      if (pending !== '') gateway.lines.push(pending);
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const tail = () => gateway.lines.slice(-15).join('\n');
  return Promise.race([
    started.then((url) => {
      gateway.url = url;
      return gateway;
    }),
    gateway.closed.then(() => {
      throw new Error(`gateway ${index} exited (${gateway.exit?.code ?? gateway.exit?.signal}) before listening:\n${tail()}`);
    }),
    sleep(GATEWAY_START_MS).then(() => {
      throw new Error(`gateway ${index} did not listen within ${GATEWAY_START_MS} ms:\n${tail()}`);
    }),
  ]).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
}

async function stopGateway(gateway: Gateway): Promise<void> {
  gateway.agent.destroy();
  if (gateway.exit !== null) return;
  gateway.child.kill('SIGTERM');
  const inTime = await Promise.race([gateway.closed.then(() => true), sleep(5000).then(() => false)]);
  if (!inTime && gateway.exit === null) {
    gateway.child.kill('SIGKILL');
    await Promise.race([gateway.closed, sleep(5000)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

type Klass = 'ok' | 'unknown' | 'error' | 'failed' | 'invalid';

interface Done {
  readonly op: Planned;
  /** ms since the request phase began, taken in this process: the gateway's work lies within. */
  readonly start: number;
  readonly end: number;
  readonly status?: number;
  readonly requestId?: string;
  /** Failed at the TCP level (no complete answer). */
  readonly transport?: string;
  readonly nonJson: boolean;
  readonly envelope?: { response?: unknown; cause?: unknown; detail?: unknown; password?: unknown };
  readonly wellFormed: boolean;
  /**
   * ok; unknown: the outcome could not be known (error whose detail says so, or no usable answer
   * at all), so it may have committed; error: a plain error, which must have changed nothing.
   */
  readonly klass: Klass;
}

const OUTCOMES = new Set(['ok', 'invalid', 'failed', 'error']);
// An error whose detail says its outcome is unknown (CONTRACT section 7) may have committed. The
// PBX client's "cannot reach the PBX (unknown error)" is about the cause, not the outcome.
const OUTCOME_UNKNOWN = /\bunknown\b(?! error)/i;

function classify(envelope: Done['envelope'], usable: boolean): { wellFormed: boolean; klass: Klass } {
  if (!usable || envelope === undefined) return { wellFormed: false, klass: 'unknown' };
  const response = envelope.response;
  const wellFormed =
    typeof response === 'string' && OUTCOMES.has(response) && (response === 'ok' || typeof envelope.cause === 'string');
  if (!wellFormed) return { wellFormed, klass: 'unknown' };
  if (response === 'error') return { wellFormed, klass: typeof envelope.detail === 'string' && OUTCOME_UNKNOWN.test(envelope.detail) ? 'unknown' : 'error' };
  return { wellFormed, klass: response as Klass };
}

function send(gateway: Gateway, op: Planned, origin: number): Promise<Done> {
  const start = performance.now() - origin;
  const query = new URLSearchParams(op.params).toString();
  const body = op.method === 'POST' ? Buffer.from(JSON.stringify(op.params)) : undefined;
  const url = `${gateway.url}/api/${op.node}${op.method === 'GET' ? `?${query}` : ''}`;
  return new Promise<Done>((resolve) => {
    let finished = false;
    const finish = (done: Omit<Done, 'op' | 'start' | 'end'>) => {
      if (finished) return;
      finished = true;
      resolve({ op, start, end: performance.now() - origin, ...done });
    };
    const request = http.request(
      url,
      {
        method: op.method,
        agent: gateway.agent,
        headers: body ? { 'Content-Type': 'application/json', 'Content-Length': body.length } : {},
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error: Error) => finish({ transport: error.message, nonJson: false, wellFormed: false, klass: 'unknown' }));
        response.on('aborted', () => finish({ transport: 'answer aborted', nonJson: false, wellFormed: false, klass: 'unknown' }));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const requestId = response.headers['x-request-id'];
          let envelope: Done['envelope'];
          let nonJson = false;
          try {
            const parsed: unknown = JSON.parse(text);
            if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) envelope = parsed as Done['envelope'];
            else nonJson = true;
          } catch {
            nonJson = true;
          }
          const status = response.statusCode ?? 0;
          finish({
            status,
            requestId: typeof requestId === 'string' ? requestId : undefined,
            nonJson,
            envelope,
            // A 5xx or a non-JSON answer says nothing about the outcome: it may have committed.
            ...classify(envelope, !nonJson && status < 500),
          });
        });
      },
    );
    request.setTimeout(CLIENT_TIMEOUT_MS, () => request.destroy(new Error(`no answer within ${CLIENT_TIMEOUT_MS} ms`)));
    request.on('error', (error: Error) => finish({ transport: error.message, nonJson: false, wellFormed: false, klass: 'unknown' }));
    request.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// The request phase

interface Phase {
  readonly done: Done[];
  readonly durationMs: number;
  readonly cutsDone: number;
  readonly cutsByMode: Record<'reset' | 'refuse', number>;
  readonly stoppedByTime: boolean;
  /** What MySQL showed during the phase, read every SAMPLE_MS. */
  readonly observer: Observer;
  readonly samples: number;
  readonly sampleErrors: number;
}

async function restoreProxy(proxy: TcpProxy): Promise<void> {
  // The port is kept across a cut; should another socket have taken it meanwhile, try again.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await proxy.restore();
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(100);
    }
  }
}

async function runRequests(
  settings: Settings,
  plan: readonly Planned[],
  cuts: readonly Cut[],
  gateways: readonly Gateway[],
  reader: mysql.Connection,
  secrets: SecretBox,
  aborted: () => boolean,
): Promise<Phase> {
  const origin = performance.now();
  const observer = new Observer(origin);
  const done: Done[] = [];
  let next = 0;
  let stoppedByTime = false;
  const elapsed = () => performance.now() - origin;
  const progress = () => Math.max(next / plan.length, elapsed() / (settings.seconds * 1000));
  let requestsOver = false;

  const worker = async () => {
    for (;;) {
      if (aborted()) return;
      if (elapsed() >= settings.seconds * 1000) {
        stoppedByTime = next < plan.length;
        return;
      }
      const op = plan[next];
      if (op === undefined) return;
      next += 1;
      done.push(await send(gateways[op.gateway], op, origin));
      if (done.length % 1000 === 0) process.stdout.write(`  ${done.length} requests answered (${(elapsed() / 1000).toFixed(1)} s)\n`);
    }
  };

  const cutsByMode = { reset: 0, refuse: 0 };
  let cutsDone = 0;
  const cutter = async () => {
    for (const cut of cuts) {
      while (!requestsOver && !aborted() && progress() < cut.at) await sleep(20);
      if (requestsOver || aborted()) return;
      const proxy = gateways[cut.gateway].proxy;
      await proxy.cut(cut.mode);
      cutsDone += 1;
      cutsByMode[cut.mode] += 1;
      await sleep(cut.ms);
      await restoreProxy(proxy);
    }
  };

  // MySQL read directly (not through a proxy) while the requests run: each read is judged later,
  // once every request's outcome is known, by the same rule as the final state.
  let samples = 0;
  let sampleErrors = 0;
  const columns = await userColumns(reader);
  const sampler = async () => {
    while (!requestsOver && !aborted()) {
      try {
        await observer.readUsers(reader, columns, secrets);
        await observer.readOthers(reader);
        samples += 1;
      } catch {
        sampleErrors += 1;
      }
      await sleep(SAMPLE_MS);
    }
  };

  const cutting = cutter();
  const sampling = sampler();
  await Promise.all(Array.from({ length: settings.workers }, worker));
  const durationMs = elapsed();
  requestsOver = true;
  await Promise.all([cutting, sampling]);
  done.sort((a, b) => a.op.index - b.op.index);
  return { done, durationMs, cutsDone, cutsByMode, stoppedByTime, observer, samples, sampleErrors };
}

// ---------------------------------------------------------------------------------------------
// Final state of both stores

interface UserRow {
  readonly id: number;
  readonly address: string;
  readonly username: string;
  readonly kind: string;
  readonly displayname: string;
  readonly email: string;
  readonly password: string | null;
  /** undefined: the column does not exist; null: unknown. */
  readonly forwardPolicy: string | null | undefined;
}

interface Snapshot {
  readonly users: Map<string, UserRow>;
  readonly extensions: Extension[];
  readonly forwardColumn: boolean;
  /** null: the table pbx_extensions does not exist. */
  readonly inDoubt: number | null;
}

async function tableColumns(connection: mysql.Connection, table: string): Promise<Set<string> | null> {
  const [rows] = await connection.execute<RowDataPacket[]>(
    'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [DATABASE, table],
  );
  return rows.length === 0 ? null : new Set(rows.map((row) => String(row.name)));
}

/** The password a row holds, opened (a value that does not open shows as such, and disagrees with the PBX). */
function heldPassword(row: RowDataPacket, secrets: SecretBox): string | null {
  try {
    return openStoredSecret(secrets, { id: Number(row.id), username: row.username, domain: row.domain, sealed: row.secret ?? null, clear: row.password });
  } catch {
    return '(a stored password that does not open)';
  }
}

/** users' columns read by the checks (secret and forward_policy when the schema has them). */
async function userColumns(connection: mysql.Connection): Promise<string> {
  const columns = (await tableColumns(connection, 'users')) ?? new Set<string>();
  return ['id', 'username', 'domain', 'kind', 'displayname', 'email', 'password', 'secret', 'forward_policy'].filter((name) => columns.has(name)).join(', ');
}

function rowToUserRow(row: RowDataPacket, secrets: SecretBox): UserRow {
  return {
    id: Number(row.id),
    address: `${row.username}@${row.domain}`,
    username: String(row.username),
    kind: String(row.kind),
    displayname: String(row.displayname),
    email: String(row.email),
    password: heldPassword(row, secrets),
    forwardPolicy: 'forward_policy' in row ? (row.forward_policy === null ? null : String(row.forward_policy)) : undefined,
  };
}

async function snapshot(connection: mysql.Connection, simulator: PbxSimulator, secrets: SecretBox): Promise<Snapshot> {
  const forwardColumn = (await tableColumns(connection, 'users'))?.has('forward_policy') ?? false;
  const [rows] = await connection.query<RowDataPacket[]>(`SELECT ${await userColumns(connection)} FROM users`);
  const users = new Map(rows.map((row) => [`${row.username}@${row.domain}`, rowToUserRow(row, secrets)]));
  let inDoubt: number | null = null;
  if ((await tableColumns(connection, 'pbx_extensions'))?.has('in_doubt_since')) {
    const [counted] = await connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM pbx_extensions WHERE in_doubt_since IS NOT NULL');
    inDoubt = Number(counted[0].n);
  }
  return { users, extensions: simulator.extensions(), forwardColumn, inDoubt };
}

function forwardOf(extension: Extension, name: ForwardName): string {
  // The PBX's object as stored: a key may be missing, which reads as no forward.
  const policy: Partial<ForwardPolicy> | undefined = extension.forward_policy;
  return policy?.[FORWARD_KEYS[name]] ?? '';
}

/** Where the two stores disagree for the local domain (invariant 4); empty when they agree. */
function disagreements(state: Snapshot): string[] {
  const found: string[] = [];
  const byNumber = new Map(state.extensions.map((extension) => [extension.number, extension]));
  const locals = [...state.users.values()].filter((user) => user.kind === 'local' && user.address.endsWith(`@${LOCAL_DOMAIN}`));
  const localNumbers = new Set(locals.map((user) => user.username));
  for (const user of locals) {
    const extension = byNumber.get(user.username);
    if (!extension) {
      found.push(`${user.address}: local user without an extension on the PBX`);
      continue;
    }
    if (extension.name !== user.displayname) found.push(`${user.address}: name on the PBX is ${JSON.stringify(extension.name)}, displayname in MySQL ${JSON.stringify(user.displayname)}`);
    if (extension.email !== user.email) found.push(`${user.address}: email on the PBX is ${JSON.stringify(extension.email)}, in MySQL ${JSON.stringify(user.email)}`);
    if ((extension.secret ?? null) !== user.password) found.push(`${user.address}: the secret on the PBX is not the password in MySQL`);
    if (typeof user.forwardPolicy === 'string') {
      let held: Record<string, unknown> | null = null;
      try {
        const parsed: unknown = JSON.parse(user.forwardPolicy);
        if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) held = parsed as Record<string, unknown>;
      } catch {
        // reported below
      }
      if (held === null) found.push(`${user.address}: users.forward_policy is not a JSON object`);
      else {
        for (const name of FORWARDS) {
          const key = FORWARD_KEYS[name];
          const inMysql = held[key] ?? '';
          if (inMysql !== forwardOf(extension, name)) {
            found.push(`${user.address}: forward ${key} on the PBX is ${JSON.stringify(forwardOf(extension, name))}, in MySQL ${JSON.stringify(inMysql)}`);
          }
        }
      }
    }
  }
  for (const extension of state.extensions) {
    if (!localNumbers.has(extension.number)) found.push(`extension ${extension.number} on the PBX without a local user in MySQL`);
  }
  return found;
}

interface Settled {
  readonly state: Snapshot;
  /** ms after the faults stopped at which the stores last began to agree (and stayed so); null: not within the window. */
  readonly convergedMs: number | null;
  readonly waitedMs: number;
  readonly lastDisagreements: string[];
}

/**
 * Polls until the stores agree and nothing is in doubt, and that has held for STABLE_MS (a gateway's
 * repair could still undo an agreement reached by chance). Past the settle window it stops as soon
 * as the answer is known: no agreement, or an agreement that began in the window and held STABLE_MS
 * (extensions still in doubt are then invariant 7's finding). Bounded by the window plus STABLE_MS.
 */
async function settle(connection: mysql.Connection, simulator: PbxSimulator, secrets: SecretBox, settleMs: number): Promise<Settled> {
  const origin = performance.now();
  let agreeingSince: number | null = null;
  let cleanSince: number | null = null;
  for (;;) {
    const now = performance.now() - origin;
    const state = await snapshot(connection, simulator, secrets);
    const found = disagreements(state);
    const doubt = state.inDoubt !== null && state.inDoubt > 0;
    agreeingSince = found.length === 0 ? (agreeingSince ?? now) : null;
    cleanSince = found.length === 0 && !doubt ? (cleanSince ?? now) : null;
    const result = (): Settled => ({
      state,
      convergedMs: agreeingSince !== null && agreeingSince <= settleMs ? agreeingSince : null,
      waitedMs: now,
      lastDisagreements: found,
    });
    if (cleanSince !== null && now - cleanSince >= STABLE_MS) return result();
    if (now > settleMs && (agreeingSince === null || agreeingSince > settleMs || now - agreeingSince >= STABLE_MS)) return result();
    await sleep(SETTLE_POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

interface Check {
  readonly number: number;
  readonly name: string;
  readonly pass: boolean;
  readonly figures: string;
  readonly examples: string[];
}

function describeRequest(done: Done): string {
  const answer = done.transport
    ? `transport error (${done.transport})`
    : done.envelope
      ? `${String(done.envelope.response)}${done.envelope.cause !== undefined ? `/${String(done.envelope.cause)}` : ''}` +
        (done.envelope.response === 'error' && typeof done.envelope.detail === 'string' ? ` "${done.envelope.detail}"` : '')
      : `HTTP ${done.status} non-JSON`;
  // The gateway's request id finds the request in its log and in audit_log.
  const id = done.requestId ? ` (request ${done.requestId})` : '';
  return `#${done.op.index} ${done.op.node} via gateway ${done.op.gateway}${id} [${done.start.toFixed(0)}–${done.end.toFixed(0)} ms] → ${answer}`;
}

/** A value as shown in a report: passwords never. */
function shown(key: string, value: string | null): string {
  if (value === null) return 'a generated password';
  if (isPasswordKey(key) && value !== ABSENT) return 'a password';
  return JSON.stringify(value);
}

interface Verdict {
  readonly key: string;
  /** The observed value as a report may show it. */
  readonly value: string;
  readonly invariant: 5 | 6 | null;
  readonly reason: string;
  /** The value came from a request whose outcome was unknown. */
  readonly fromUnknown: boolean;
}

interface Writer {
  readonly value: string | null;
  readonly done: Done | null; // null: the state before the run
  readonly klass: Klass;
  readonly start: number;
  readonly end: number;
}

/** One value of one key as read from a store, by a read that ran from `ts` to `te` (Infinity: the final state). */
interface Observation {
  readonly key: string;
  readonly value: string;
  readonly ts: number;
  readonly te: number;
}

const mayHaveApplied = (writer: Writer) => writer.klass === 'ok' || writer.klass === 'unknown';

/**
 * Invariants 5 and 6 for one observed value of one key.
 *
 * The rule (linearisability, judged from this side of the wire): every request takes effect, if at
 * all, at one instant between its start and its end as measured here, and a read sees the state at
 * one instant between its own start `ts` and end `te`. An `ok` request took effect; `failed`,
 * `invalid` and a plain `error` took none (they must have changed nothing); an `error` saying the
 * outcome is unknown, or a request without a usable answer, may have. So the value read must come
 * from a writer W that
 *   - started before the read ended (W.start ≤ te), and
 *   - may have taken effect (ok or unknown) — or was still running when the read began (W.end ≥ ts:
 *     what an unfinished request shows is not judged), and
 *   - did not end before an ok write of the same key started, among the ok writes that had ended
 *     before the read began (that ok write took effect after W and before the read, so W's value
 *     cannot be the one read).
 * The final state is the read with ts = te = Infinity: its value must come from an ok or unknown
 * request that did not end before the last-starting ok write of the key started ("no ok write may
 * be overtaken by a write that ended before it started"). Presence is a value too: adds write
 * present, removes absent, and the state before the run is an ok "absent" that ended at -Infinity;
 * a remove also writes "absent" to the user's fields, so a field value older than an ok remove
 * cannot be read from the user present again. A password that no request sent and no ok answer
 * showed can only be one a user/add_local made without answering ok: it is judged against those.
 *
 * Failing it is invariant 6 when the only requests that wrote the value answered failed, invalid
 * or a plain error and had ended (they changed something after all), and invariant 5 otherwise (an
 * ok was overtaken by an older write, or the value was written by no request that had started).
 */
function judge(observation: Observation, writers: readonly Writer[]): Verdict {
  const { key, value, ts, te } = observation;
  let okBefore = -Infinity;
  let lastOk: Writer | undefined;
  for (const writer of writers) {
    if (writer.klass === 'ok' && writer.end < ts && writer.start >= okBefore) {
      okBefore = writer.start;
      lastOk = writer;
    }
  }
  let candidates = writers.filter((writer) => writer.value === value && writer.start <= te);
  if (candidates.length === 0 && isPasswordKey(key) && value !== ABSENT) candidates = writers.filter((writer) => writer.value === null && writer.start <= te);
  const valid = candidates.filter((writer) => writer.end >= okBefore && (mayHaveApplied(writer) || writer.end >= ts));
  const valueShown = shown(key, value);
  if (valid.length > 0) {
    return { key, value: valueShown, invariant: null, reason: '', fromUnknown: valid.every((writer) => writer.klass === 'unknown') };
  }
  const lastOkText = lastOk?.done ? `${describeRequest(lastOk.done)} wrote ${shown(key, lastOk.value)}` : 'none';
  const applied = candidates.filter(mayHaveApplied);
  if (applied.length > 0) {
    const writer = applied.sort((a, b) => b.end - a.end)[0];
    // Presence values are not unique: name the requests that answered otherwise but could have written it late.
    const suspects = candidates.filter((candidate) => candidate.done && !mayHaveApplied(candidate) && candidate.end >= okBefore);
    return {
      key,
      value: valueShown,
      invariant: 5,
      reason:
        `overtaken: its last possible writer ${writer.done ? describeRequest(writer.done) : '(the state before the run)'} ended before the ok write ${lastOkText} started` +
        (suspects.length > 0 ? `; answered otherwise but wrote this value too: ${suspects.slice(0, 3).map((suspect) => describeRequest(suspect.done as Done)).join('; ')}` : ''),
      fromUnknown: false,
    };
  }
  if (candidates.length > 0) {
    return {
      key,
      value: valueShown,
      invariant: 6,
      reason: `written only by requests that must have changed nothing: ${candidates
        .slice(0, 3)
        .map((writer) => (writer.done ? describeRequest(writer.done) : 'the state before the run'))
        .join('; ')}`,
      fromUnknown: false,
    };
  }
  return { key, value: valueShown, invariant: 5, reason: `written by no request that had started (last ok write before: ${lastOkText})`, fromUnknown: false };
}

/** What one read of the stores shows, as observations; keys of the key space not seen read absent. */
class Observer {
  readonly observations: Observation[] = [];
  /** Keys outside the soak's key space (judged too: no request wrote them). */
  readonly strays = new Set<string>();

  constructor(private readonly origin: number) {}

  private now(): number {
    return this.origin === Infinity ? Infinity : performance.now() - this.origin;
  }

  private record(values: Map<string, string>, presence: readonly string[], ts: number, te: number): void {
    const space = new Set(presenceKeys());
    for (const key of presence) if (!values.has(key)) values.set(key, ABSENT);
    for (const [key, value] of values) {
      if (!key.includes('#') && !space.has(key)) this.strays.add(key);
      this.observations.push({ key, value, ts, te });
    }
  }

  /**
   * Users and their fields (an absent user's fields are judged by its presence key). Forwards are
   * read from `forwards` when it knows them: the PBX for the final state, users.forward_policy
   * during the run.
   */
  users(users: Iterable<UserRow>, forwards: (user: UserRow) => Record<string, string> | null, ts: number, te: number): void {
    const values = new Map<string, string>();
    for (const user of users) {
      values.set(userKey(user.address), PRESENT);
      values.set(fieldKey(user.address, 'displayname'), user.displayname);
      values.set(fieldKey(user.address, 'password'), user.password ?? '(none)');
      if (user.kind !== 'local') continue;
      values.set(fieldKey(user.address, 'email'), user.email);
      const known = forwards(user);
      if (known) for (const name of FORWARDS) values.set(fieldKey(user.address, `forward.${name}`), known[name] ?? '');
    }
    this.record(values, [...LOCAL_USERS, ...REMOTE_USERS].map(userKey), ts, te);
  }

  async readUsers(connection: mysql.Connection, columns: string, secrets: SecretBox): Promise<void> {
    const ts = this.now();
    const [rows] = await connection.query<RowDataPacket[]>(`SELECT ${columns} FROM users`);
    this.users(
      rows.map((row) => rowToUserRow(row, secrets)),
      forwardsFromMysql,
      ts,
      this.now(),
    );
  }

  /** Phones, aliases and numbers: one statement each, each its own read. */
  async readOthers(connection: mysql.Connection): Promise<void> {
    let ts = this.now();
    const [phones] = await connection.query<RowDataPacket[]>('SELECT p.mac, u.username, u.domain FROM phones p JOIN users u ON u.id = p.user_id');
    this.record(
      new Map(phones.map((row) => [phoneKey(String(row.mac), `${row.username}@${row.domain}`), PRESENT])),
      MACS.flatMap((mac) => PHONE_USERS.map((user) => phoneKey(mac, user))),
      ts,
      this.now(),
    );
    ts = this.now();
    const [aliases] = await connection.query<RowDataPacket[]>('SELECT alias_username, alias_domain, destination_username, destination_domain FROM aliases');
    this.record(
      new Map(aliases.map((row) => [aliasKey(`${row.alias_username}@${row.alias_domain}`), `${row.destination_username}@${row.destination_domain}`])),
      [...PLAIN_ALIASES, ...E164_ALIASES].map(aliasKey),
      ts,
      this.now(),
    );
    ts = this.now();
    const [numbers] = await connection.query<RowDataPacket[]>('SELECT number FROM numbers');
    this.record(new Map(numbers.map((row) => [numberKey(`+${String(row.number)}`), PRESENT])), POOL_NUMBERS.map(numberKey), ts, this.now());
  }
}

/** users.forward_policy as {busy, no_answer, unavailable, all}, or null when unknown or unreadable (invariant 4 reports the latter). */
function forwardsFromMysql(user: UserRow): Record<string, string> | null {
  if (typeof user.forwardPolicy !== 'string') return null;
  try {
    const held = JSON.parse(user.forwardPolicy) as Record<string, unknown> | null;
    if (held === null || typeof held !== 'object' || Array.isArray(held)) return null;
    return Object.fromEntries(FORWARDS.map((name) => [name, String(held[FORWARD_KEYS[name]] ?? '')]));
  } catch {
    return null;
  }
}

function writersByKey(done: readonly Done[]): Map<string, Writer[]> {
  const byKey = new Map<string, Writer[]>();
  const add = (key: string, writer: Writer) => {
    const list = byKey.get(key);
    if (list) list.push(writer);
    else byKey.set(key, [writer]);
  };
  for (const key of presenceKeys()) add(key, { value: ABSENT, done: null, klass: 'ok', start: -Infinity, end: -Infinity });
  for (const request of done) {
    for (const write of request.op.writes) {
      let value = write.value;
      // add_local's password is known only from an ok answer.
      if (value === null && request.klass === 'ok' && typeof request.envelope?.password === 'string') value = request.envelope.password;
      add(write.key, { value, done: request, klass: request.klass, start: request.start, end: request.end });
    }
  }
  return byKey;
}

/** The secrets that must never be logged, by kind. */
function secretsOf(done: readonly Done[], simulator: PbxSimulator): { exact: Map<string, string>; passwords: Set<string> } {
  const basic = Buffer.from(`${simulator.credentials.username}:${simulator.credentials.password}`).toString('base64');
  const exact = new Map<string, string>([
    [simulator.credentials.apiKey, 'the PBX API key'],
    [simulator.credentials.password, 'the PBX Basic password'],
    [basic, 'the PBX Basic credentials (base64)'],
  ]);
  const passwords = new Set<string>();
  for (const request of done) {
    if (request.op.password) passwords.add(request.op.password);
    if (typeof request.envelope?.password === 'string') passwords.add(request.envelope.password);
  }
  return { exact, passwords };
}

/** The first secret a line holds (its kind, never the secret), or null. */
function secretIn(line: string, exact: Map<string, string>, passwords: Set<string>, lengths: readonly number[]): string | null {
  for (const [secret, kind] of exact) if (line.includes(secret)) return kind;
  // Passwords are runs of printable characters: try every window of each length a password has,
  // within runs of characters a password may hold (no quotes, spaces or backslashes).
  for (const run of line.match(/[!#-[\]-~]{8,}/g) ?? []) {
    for (const length of lengths) {
      for (let at = 0; at + length <= run.length; at += 1) if (passwords.has(run.slice(at, at + length))) return 'a user password';
    }
  }
  return null;
}

async function duplicates(connection: mysql.Connection, simulator: PbxSimulator): Promise<{ figures: string[]; examples: string[] }> {
  const queries: [string, string][] = [
    ['users(username,domain)', 'SELECT CONCAT(username, "@", domain) AS k, COUNT(*) AS n FROM users GROUP BY username, domain HAVING n > 1'],
    ['phones(mac,user_id)', 'SELECT CONCAT(mac, " ", user_id) AS k, COUNT(*) AS n FROM phones GROUP BY mac, user_id HAVING n > 1'],
    ['aliases(alias)', 'SELECT CONCAT(alias_username, "@", alias_domain) AS k, COUNT(*) AS n FROM aliases GROUP BY alias_username, alias_domain HAVING n > 1'],
    // Judged by the alias's own form, not by the gateway's e164 column.
    [
      'E.164 aliases per destination',
      "SELECT CONCAT(destination_username, '@', destination_domain) AS k, COUNT(*) AS n FROM aliases WHERE alias_username REGEXP '^[+][1-9][0-9]{1,14}$' GROUP BY destination_username, destination_domain HAVING n > 1",
    ],
    ['numbers(number)', 'SELECT number AS k, COUNT(*) AS n FROM numbers GROUP BY number HAVING n > 1'],
  ];
  const figures: string[] = [];
  const examples: string[] = [];
  for (const [name, sql] of queries) {
    const [rows] = await connection.query<RowDataPacket[]>(sql);
    figures.push(`${name} ${rows.length}`);
    for (const row of rows.slice(0, EXAMPLES)) examples.push(`${name}: ${String(row.k)} ×${String(row.n)}`);
  }
  const perNumber = new Map<string, number>();
  for (const extension of simulator.extensions()) perNumber.set(extension.number, (perNumber.get(extension.number) ?? 0) + 1);
  const twice = [...perNumber].filter(([, count]) => count > 1);
  figures.push(`PBX extensions per number ${twice.length}`);
  for (const [number, count] of twice.slice(0, EXAMPLES)) examples.push(`PBX: extension ${number} ×${count}`);
  return { figures, examples };
}

interface InDoubtLines {
  readonly exact: number;
  readonly containing: number;
  readonly extensions: Set<string>;
}

function inDoubtLines(gateways: readonly Gateway[]): InDoubtLines {
  let exact = 0;
  let containing = 0;
  const extensions = new Set<string>();
  for (const gateway of gateways) {
    for (const line of gateway.lines) {
      if (!line.includes(IN_DOUBT_MESSAGE)) continue;
      try {
        const entry = JSON.parse(line) as { message?: unknown; extension?: unknown };
        if (typeof entry.message !== 'string' || !entry.message.includes(IN_DOUBT_MESSAGE) || entry.extension === undefined) continue;
        if (entry.message === IN_DOUBT_MESSAGE) exact += 1;
        else containing += 1;
        extensions.add(String(entry.extension));
      } catch {
        // not a JSON line
      }
    }
  }
  return { exact, containing, extensions };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

function formatCounts(counts: Map<string, number>): string {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${name} ${count}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------
// Main

interface Resources {
  simulator: PbxSimulator | null;
  proxies: TcpProxy[];
  gateways: Gateway[];
  callCounter: NodeJS.Timeout | null;
}

const resources: Resources = { simulator: null, proxies: [], gateways: [], callCounter: null };
let cleaning: Promise<void> | null = null;

function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    if (resources.callCounter) clearInterval(resources.callCounter);
    await Promise.all(resources.gateways.map((gateway) => stopGateway(gateway).catch(() => undefined)));
    await Promise.all(resources.proxies.map((proxy) => proxy.close().catch(() => undefined)));
    await resources.simulator?.close().catch(() => undefined);
    await dropDatabase().catch((error: Error) => process.stderr.write(`soak: could not drop ${DATABASE}: ${error.message}\n`));
  })();
  return cleaning;
}

async function dropDatabase(): Promise<void> {
  const connection = await mysql.createConnection({ ...MYSQL, connectTimeout: 5000 });
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``);
  } finally {
    await connection.end();
  }
}

let interrupted = false;

async function main(): Promise<number> {
  const settings = readSettings();
  const random = seededRandom(settings.seed);
  const plan = makePlan(settings, random);
  const cuts = planCuts(settings, random);
  const faultSeed = Math.floor(random() * 2 ** 32);
  const begun = performance.now();

  process.stdout.write(
    `soak: seed ${settings.seed} (SOAK_SEED=${settings.seed} repeats the plan), ${settings.gateways} gateways, ${settings.workers} workers, ` +
      `${settings.requests} requests or ${settings.seconds} s, PBX fault rate ${settings.pbxFaultRate}, ${settings.mysqlCuts} MySQL cuts, ` +
      `settle ${settings.settleSeconds} s\n`,
  );

  await dropDatabase();
  // Made here when missing, so that the gateways starting together find it.
  const secrets = openKeyFile(SECRETS_KEY_FILE).box;
  const simulator = await startPbxSimulator({ lateAnswerMs: LATE_ANSWER_MS });
  resources.simulator = simulator;
  // The simulator keeps every call for tests; here only their number matters.
  let pbxCalls = 0;
  resources.callCounter = setInterval(() => (pbxCalls += simulator.calls.splice(0).length), 1000);
  for (let index = 0; index < settings.gateways; index += 1) resources.proxies.push(await startTcpProxy({ host: MYSQL.host, port: MYSQL.port }));

  // The first gateway migrates the fresh database alone; the others then start together.
  const spawnOne = async (index: number) => {
    const gateway = await spawnGateway(index, resources.proxies[index], simulator, settings.workers);
    resources.gateways[index] = gateway;
  };
  await spawnOne(0);
  await Promise.all(Array.from({ length: settings.gateways - 1 }, (_, index) => spawnOne(index + 1)));
  process.stdout.write(`soak: gateways listening: ${resources.gateways.map((gateway) => gateway.url).join(', ')}\n`);
  const gateways = resources.gateways;

  const connection = await mysql.createConnection({ ...MYSQL, database: DATABASE, connectTimeout: 5000 });
  try {
    simulator.setRandomFaults({ rate: settings.pbxFaultRate, seed: faultSeed });
    const phase = await runRequests(settings, plan, cuts, gateways, connection, secrets, () => interrupted);
    simulator.setRandomFaults(null);
    await Promise.all(resources.proxies.map((proxy) => (proxy.isCut ? restoreProxy(proxy) : Promise.resolve())));
    const faults = simulator.faultCounts();
    if (interrupted) return 130;
    process.stdout.write(`soak: ${phase.done.length} requests in ${(phase.durationMs / 1000).toFixed(1)} s; faults off, proxies restored; settling\n`);

    const settled = await settle(connection, simulator, secrets, settings.settleSeconds * 1000);
    pbxCalls += simulator.calls.splice(0).length;
    const running = gateways.filter((gateway) => gateway.exit === null).length;
    const { done } = phase;
    const checks: Check[] = [];

    // 1. No crash.
    {
      const serverErrors = done.filter((request) => request.status !== undefined && request.status >= 500);
      const nonJson = done.filter((request) => request.nonJson);
      const transport = done.filter((request) => request.transport !== undefined);
      const exited = gateways.filter((gateway) => gateway.exit !== null);
      checks.push({
        number: 1,
        name: 'no crash',
        pass: exited.length === 0 && serverErrors.length === 0 && nonJson.length === 0 && transport.length === 0,
        figures: `${running}/${gateways.length} gateways running, ${serverErrors.length} HTTP 5xx, ${nonJson.length} non-JSON answers, ${transport.length} transport errors`,
        examples: [
          ...exited.map((gateway) => `gateway ${gateway.index} exited (${gateway.exit?.code ?? gateway.exit?.signal})`),
          ...[...serverErrors, ...nonJson, ...transport].slice(0, EXAMPLES).map(describeRequest),
        ],
      });
    }

    // 2. No secret in any log line.
    {
      const { exact, passwords } = secretsOf(done, simulator);
      const lengths = [...new Set([...passwords].map((secret) => secret.length))];
      let lines = 0;
      let leaking = 0;
      const examples: string[] = [];
      for (const gateway of gateways) {
        gateway.lines.forEach((line, number) => {
          lines += 1;
          const kind = secretIn(line, exact, passwords, lengths);
          if (kind === null) return;
          leaking += 1;
          if (examples.length < EXAMPLES) {
            let message = '';
            try {
              message = ` (message ${JSON.stringify((JSON.parse(line) as { message?: unknown }).message)})`;
            } catch {
              message = ' (not a JSON line)';
            }
            examples.push(`gateway ${gateway.index} line ${number + 1}${message} holds ${kind}`);
          }
        });
      }
      checks.push({
        number: 2,
        name: 'no secret in the logs',
        pass: leaking === 0,
        figures: `${leaking} of ${lines} log lines hold a secret (${passwords.size} user passwords, the API key and the Basic credentials looked for)`,
        examples,
      });
    }

    // 3. No duplicates.
    {
      const { figures, examples } = await duplicates(connection, simulator);
      checks.push({ number: 3, name: 'no duplicates', pass: examples.length === 0, figures: `duplicates: ${figures.join(', ')}`, examples });
    }

    // 4. The stores agree after the settle window, in time.
    {
      const converged = settled.convergedMs;
      const pass = converged !== null && converged <= CONVERGENCE_LIMIT_MS && settled.lastDisagreements.length === 0;
      const nullForwards = [...settled.state.users.values()].filter((user) => user.kind === 'local' && user.forwardPolicy === null).length;
      const forwardNote = settled.state.forwardColumn
        ? `${nullForwards} local user(s) with forward_policy NULL (forwards not compared for them)`
        : 'users.forward_policy missing: forwards not compared';
      checks.push({
        number: 4,
        name: 'stores agree after the settle window',
        pass,
        figures:
          `${converged === null ? `not converged within ${settings.settleSeconds} s` : `converged in ${(converged / 1000).toFixed(1)} s`} ` +
          `(limit ${CONVERGENCE_LIMIT_MS / 1000} s, stable for ${STABLE_MS / 1000} s), ${settled.lastDisagreements.length} disagreement(s) at the end, ` +
          `${[...settled.state.users.values()].filter((user) => user.kind === 'local').length} local users, ${settled.state.extensions.length} extensions; ${forwardNote}`,
        examples: settled.lastDisagreements.slice(0, EXAMPLES * 2),
      });
    }

    // 5 and 6. Every ok honoured; nothing changed by failed, invalid or plain error: judged on the
    // final state (the local users' forwards as the PBX has them) and on every read made during the run.
    {
      const writers = writersByKey(done);
      const final = new Observer(Infinity);
      const byNumber = new Map(settled.state.extensions.map((extension) => [extension.number, extension]));
      final.users(
        settled.state.users.values(),
        (user) => {
          const extension = byNumber.get(user.username);
          return extension ? Object.fromEntries(FORWARDS.map((name) => [name, forwardOf(extension, name)])) : null;
        },
        Infinity,
        Infinity,
      );
      await final.readOthers(connection);
      const finalVerdicts = final.observations.map((observation) => judge(observation, writers.get(observation.key) ?? []));
      const sampled = phase.observer.observations.map((observation) => judge(observation, writers.get(observation.key) ?? []));
      const strays = new Set([...final.strays, ...phase.observer.strays]);
      const distinct = (verdicts: Verdict[]) => [...new Map(verdicts.map((verdict) => [`${verdict.key}=${verdict.value}`, verdict])).values()];
      const findings = (invariant: 5 | 6) => ({
        final: finalVerdicts.filter((verdict) => verdict.invariant === invariant),
        sampled: sampled.filter((verdict) => verdict.invariant === invariant),
      });
      const examples = (found: { final: Verdict[]; sampled: Verdict[] }) => [
        ...found.final.slice(0, EXAMPLES).map((verdict) => `final ${verdict.key} = ${verdict.value}: ${verdict.reason}`),
        ...distinct(found.sampled)
          .slice(0, EXAMPLES)
          .map((verdict) => `during the run ${verdict.key} = ${verdict.value}: ${verdict.reason}`),
      ];
      const fifth = findings(5);
      const sixth = findings(6);
      const presence = finalVerdicts.filter((verdict) => !verdict.key.includes('#')).length;
      const reads = `${sampled.length} values in ${phase.samples} reads during the run${phase.sampleErrors > 0 ? ` (${phase.sampleErrors} reads failed)` : ''}`;
      checks.push({
        number: 5,
        name: 'every ok honoured',
        pass: fifth.final.length === 0 && fifth.sampled.length === 0,
        figures:
          `final: ${finalVerdicts.length} values (${presence} presences, ${finalVerdicts.length - presence} fields), ${fifth.final.length} violation(s), ` +
          `${finalVerdicts.filter((verdict) => verdict.fromUnknown).length} from unknown-outcome requests; ` +
          `${reads}: ${fifth.sampled.length} violation(s) (${distinct(fifth.sampled).length} distinct); ${strays.size} key(s) outside the key space`,
        examples: examples(fifth),
      });
      const plainErrors = done.filter((request) => request.klass === 'error').length;
      const refused = done.filter((request) => request.klass === 'failed' || request.klass === 'invalid').length;
      const doubt = inDoubtLines(gateways);
      checks.push({
        number: 6,
        name: 'failed, invalid and plain error changed nothing',
        pass: sixth.final.length === 0 && sixth.sampled.length === 0,
        figures:
          `values written by such requests (${refused} failed/invalid, ${plainErrors} plain errors): final ${sixth.final.length}, ` +
          `during the run ${sixth.sampled.length} (${distinct(sixth.sampled).length} distinct); ` +
          `in-doubt log lines: ${doubt.exact} with the exact message, ${doubt.containing} containing it, ${doubt.extensions.size} extension(s)`,
        examples: examples(sixth),
      });
    }

    // 7. Nothing left in doubt.
    {
      const inDoubt = settled.state.inDoubt;
      checks.push({
        number: 7,
        name: 'nothing left in doubt',
        pass: inDoubt === 0,
        figures: inDoubt === null ? 'table pbx_extensions (column in_doubt_since) does not exist' : `${inDoubt} extension(s) with in_doubt_since set`,
        examples: [],
      });
    }

    // 8. One audit record per request at most.
    {
      const columns = await tableColumns(connection, 'audit_log');
      if (!columns?.has('request_id')) {
        checks.push({ number: 8, name: 'one audit record per request', pass: false, figures: 'column audit_log.request_id does not exist', examples: [] });
      } else {
        const [rows] = await connection.query<RowDataPacket[]>(
          'SELECT request_id, COUNT(*) AS n FROM audit_log WHERE request_id IS NOT NULL GROUP BY request_id HAVING n > 1 ORDER BY n DESC',
        );
        const [total] = await connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n, COUNT(request_id) AS with_id FROM audit_log');
        checks.push({
          number: 8,
          name: 'one audit record per request',
          pass: rows.length === 0,
          figures: `${rows.length} request id(s) recorded more than once; ${String(total[0].n)} audit records, ${String(total[0].with_id)} with a request id`,
          examples: rows.slice(0, EXAMPLES).map((row) => `request ${String(row.request_id)} ×${String(row.n)}`),
        });
      }
    }

    // 9. Well-formed envelopes.
    {
      const answered = done.filter((request) => request.transport === undefined);
      const malformed = answered.filter((request) => !request.wellFormed);
      const notOk200 = answered.filter((request) => request.status !== 200);
      checks.push({
        number: 9,
        name: 'well-formed envelopes',
        pass: malformed.length === 0 && notOk200.length === 0,
        figures: `${malformed.length} of ${answered.length} answers malformed, ${notOk200.length} not HTTP 200`,
        examples: [...new Set([...malformed, ...notOk200])].slice(0, EXAMPLES).map(describeRequest),
      });
    }

    // 10. Throughput sanity: enough requests a second, and every node of the mix answered ok at least once.
    const perSecond = done.length / (phase.durationMs / 1000);
    {
      const okNodes = new Set(done.filter((request) => request.klass === 'ok').map((request) => request.op.node));
      const neverOk = WRITE_NODES.filter((node) => !okNodes.has(node));
      checks.push({
        number: 10,
        name: 'throughput sanity',
        pass: perSecond >= settings.minRequestsPerSecond && neverOk.length === 0,
        figures:
          `${perSecond.toFixed(1)} requests/s (at least ${settings.minRequestsPerSecond}), ${done.length} of ${plan.length} planned requests sent` +
          `${phase.stoppedByTime ? ` (stopped by SOAK_SECONDS=${settings.seconds})` : ''}, nodes never ok: ${neverOk.length === 0 ? 'none' : neverOk.join(', ')}`,
        examples: [],
      });
    }

    // Figures.
    const out: string[] = [];
    out.push('');
    out.push('figures:');
    out.push(`  requests: ${done.length} in ${(phase.durationMs / 1000).toFixed(1)} s (${perSecond.toFixed(1)}/s); total run so far ${((performance.now() - begun) / 1000).toFixed(1)} s`);
    out.push(`  outcomes: ${formatCounts(countBy(done, (request) => request.klass))}`);
    const errorDetails = countBy(
      done.filter((request) => request.klass === 'error' || request.klass === 'unknown'),
      (request) => (request.transport ? 'transport error' : `${String(request.envelope?.cause)}: ${String(request.envelope?.detail)}`),
    );
    out.push(`  errors and unknown outcomes by detail:${errorDetails.size === 0 ? ' none' : ''}`);
    for (const [detail, count] of [...errorDetails].sort((a, b) => b[1] - a[1]).slice(0, 12)) out.push(`    ${count} × ${detail}`);
    out.push('  by node and response:');
    const byNode = new Map<string, Map<string, number>>();
    for (const request of done) {
      const response = request.transport ? 'transport' : String(request.envelope?.response ?? 'malformed');
      const counts = byNode.get(request.op.node) ?? new Map<string, number>();
      counts.set(response, (counts.get(response) ?? 0) + 1);
      byNode.set(request.op.node, counts);
    }
    for (const [node, counts] of [...byNode].sort((a, b) => a[0].localeCompare(b[0]))) {
      out.push(`    ${node.padEnd(18)} ${['ok', 'failed', 'invalid', 'error', 'transport', 'malformed'].map((name) => `${name} ${counts.get(name) ?? 0}`).join(', ')}`);
    }
    const injected = FAULT_KINDS.map((kind: FaultKind) => `${kind} ${faults[kind]}`).join(', ');
    out.push(`  PBX faults: ${FAULT_KINDS.reduce((sum, kind) => sum + faults[kind], 0)} of ${pbxCalls} calls (${injected})`);
    out.push(`  MySQL cuts: ${phase.cutsDone} of ${cuts.length} done (reset ${phase.cutsByMode.reset}, refuse ${phase.cutsByMode.refuse})`);
    out.push(
      `  convergence: ${settled.convergedMs === null ? `none within ${settings.settleSeconds} s` : `${(settled.convergedMs / 1000).toFixed(1)} s`} after the faults stopped (waited ${(settled.waitedMs / 1000).toFixed(1)} s)`,
    );
    const failing = checks.filter((check) => !check.pass && check.examples.length > 0);
    if (failing.length > 0) {
      out.push('');
      out.push('details of failures:');
      for (const check of failing) {
        out.push(`  ${check.number}. ${check.name}:`);
        for (const example of check.examples) out.push(`    ${example}`);
      }
    }
    out.push('');
    for (const check of checks) out.push(`${check.pass ? 'PASS' : 'FAIL'} ${check.number}. ${check.name}: ${check.figures}`);
    const passed = checks.filter((check) => check.pass).length;
    out.push(`${passed} passed, ${checks.length - passed} failed`);
    process.stdout.write(`${out.join('\n')}\n`);
    return passed === checks.length ? 0 : 1;
  } finally {
    await connection.end().catch(() => undefined);
  }
}

process.once('SIGINT', () => {
  interrupted = true;
  process.stderr.write('soak: interrupted; cleaning up\n');
  void cleanUp().then(() => process.exit(130));
});

main()
  .then(
    (status) => {
      process.exitCode = status;
    },
    (error: unknown) => {
      process.stderr.write(`soak: ${error instanceof SettingError ? error.message : ((error as Error).stack ?? String(error))}\n`);
      process.exitCode = 2;
    },
  )
  .finally(() => cleanUp())
  .then(() => process.exit());
