import { randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { MASKED_SECRET, type Extension } from './extension';

// A small Simotel v4 users API for the demo and the tests: the same paths, auth and envelope as the
// real PBX, one-shot faults that tests queue to break a call at a chosen step, and an optional
// random-fault mode for soak runs (each call fails with a given probability).

export interface SimulatorCredentials {
  readonly apiKey: string;
  readonly username: string;
  readonly password: string;
}

export type FaultKind =
  | 'refuse' // answers success: 0 without applying
  | 'http500' // answers HTTP 500 without applying
  | 'timeout' // never answers, without applying
  | 'reset' // drops the connection without applying
  | 'timeout-after' // applies the change, then never answers
  | 'reset-after' // applies the change, then drops the connection
  | 'delay-after'; // applies the change, then answers after lateAnswerMs (past the caller's timeout)

export const FAULT_KINDS: readonly FaultKind[] = ['refuse', 'http500', 'timeout', 'reset', 'timeout-after', 'reset-after', 'delay-after'];

export interface Fault {
  readonly path: string;
  readonly kind: FaultKind;
}

/** Random faults: each call (to one of `paths`, when given) fails with probability `rate`. */
export interface RandomFaults {
  /** 0..1 */
  readonly rate: number;
  /** Seeds the simulator's own generator, so a run's fault sequence can be repeated. */
  readonly seed: number;
  /** Short paths as fail() takes them ('/pbx/users/update'); absent: every path. */
  readonly paths?: readonly string[];
  /** The kinds drawn from, each equally likely; absent: every kind. */
  readonly kinds?: readonly FaultKind[];
}

export interface PbxSimulator {
  readonly url: string;
  readonly credentials: SimulatorCredentials;
  /** Every call received, in order (path and parsed body), for wire-format assertions. */
  readonly calls: { path: string; body: unknown }[];
  /** A copy of the stored extensions, secrets unmasked. */
  extensions(): Extension[];
  extension(number: string): Extension | undefined;
  /** Queues a fault for the next call to `path`. */
  fail(path: string, kind: FaultKind): void;
  /** Answers the next call to `path` with HTTP 200 and `body`, without applying it: an answer of a shape the simulator never gives. */
  answerOnce(path: string, body: unknown): void;
  /** Turns random faults on (or changes them), or off with null. */
  setRandomFaults(faults: RandomFaults | null): void;
  /** How many faults of each kind were used so far, one-shot and random together. */
  faultCounts(): Record<FaultKind, number>;
  /** Which users/add answer shape to use: {success: 1} or {status: "success"}. */
  addAnswerShape: 'success' | 'status';
  /** Puts an extension straight in (as if created on the PBX by hand). */
  seed(extension: Omit<Extension, '_id'>): Extension;
  close(): Promise<void>;
}

export interface SimulatorOptions {
  readonly host?: string;
  readonly port?: number;
  readonly credentials?: SimulatorCredentials;
  /** Log one line per call (the standalone simulator). */
  readonly log?: (line: string) => void;
  /** Random faults from the start (setRandomFaults changes them later). */
  readonly randomFaults?: RandomFaults;
  /** How long a 'delay-after' answer waits, in ms (default 2000): longer than the caller's timeout. */
  readonly lateAnswerMs?: number;
  /** Serve HTTPS with this certificate and key (PEM) instead of HTTP; the URL then says https. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
}

/** mulberry32: a small seeded generator of numbers in [0, 1) (the simulator's faults, the soak's plan). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sameText(given: string | undefined, expected: string): boolean {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function randomCredentials(): SimulatorCredentials {
  return {
    apiKey: randomBytes(24).toString('base64url'),
    username: 'gateway',
    password: randomBytes(18).toString('base64url'),
  };
}

/** An answer body already serialized (the whole list, kept until an extension changes). */
class Serialized {
  constructor(readonly text: string) {}
}

export async function startPbxSimulator(options: SimulatorOptions = {}): Promise<PbxSimulator> {
  const credentials = options.credentials ?? randomCredentials();
  const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  const store = new Map<string, Extension>();
  // pbx/sync lists every extension: with 10,000 of them, building and serializing the list is most of
  // the cost of a sync that changes nothing, so it is kept until the next change.
  let listed: Serialized | null = null;
  const put = (extension: Extension) => {
    store.set(extension.number, extension);
    listed = null;
  };
  const drop = (number: string) => {
    store.delete(number);
    listed = null;
  };
  const faults: Fault[] = [];
  const canned: { path: string; body: unknown }[] = [];
  const calls: { path: string; body: unknown }[] = [];
  const hanging = new Set<http.ServerResponse>();
  const lateAnswers = new Set<NodeJS.Timeout>();
  const lateAnswerMs = options.lateAnswerMs ?? 2000;
  const counts = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  let random: { faults: RandomFaults; next: () => number } | null = null;
  const setRandomFaults = (faults: RandomFaults | null) => {
    random = faults && faults.rate > 0 ? { faults, next: seededRandom(faults.seed) } : null;
  };
  setRandomFaults(options.randomFaults ?? null);

  /** The one-shot fault queued for this path, else (in random mode) maybe a random one. */
  const takeFault = (shortPath: string): Fault | undefined => {
    const faultIndex = faults.findIndex((fault) => fault.path === shortPath);
    if (faultIndex >= 0) return faults.splice(faultIndex, 1)[0];
    if (!random || (random.faults.paths && !random.faults.paths.includes(shortPath))) return undefined;
    if (random.next() >= random.faults.rate) return undefined;
    const kinds = random.faults.kinds && random.faults.kinds.length > 0 ? random.faults.kinds : FAULT_KINDS;
    return { path: shortPath, kind: kinds[Math.floor(random.next() * kinds.length)] };
  };
  /** Keeps the response open until close() (or until the caller gives up and closes it). */
  const hang = (response: http.ServerResponse) => {
    hanging.add(response);
    response.once('close', () => hanging.delete(response));
  };

  const answer = (response: http.ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'Content-Type': 'application/json' });
    response.end(body instanceof Serialized ? body.text : JSON.stringify(body));
  };
  const ok = (data: unknown = '') => ({ success: 1, message: 'Requested operation is done successfully', data });
  const refuse = (message: string) => ({ success: 0, message, data: '' });
  const byId = (id: unknown) => [...store.values()].find((extension) => extension._id === id);
  const masked = (extension: Extension) => ({ ...extension, secret: MASKED_SECRET });

  function apply(path: string, body: Record<string, unknown>): { status: number; body: unknown } {
    switch (path) {
      case '/api/v4/setting/ping/act':
        return { status: 200, body: ok() };
      case '/api/v4/pbx/users/search': {
        const conditions = (body.conditions ?? {}) as { number?: unknown };
        if (conditions.number === undefined) {
          listed ??= new Serialized(JSON.stringify(ok([...store.values()].map(masked))));
          return { status: 200, body: listed };
        }
        const number = String(conditions.number);
        // Like the real PBX, similar numbers may come back too: callers must keep the exact one.
        const found = [...store.values()].filter((extension) =>
          body.alike === true ? extension.number.includes(number) : extension.number.startsWith(number),
        );
        return { status: 200, body: ok(found.map(masked)) };
      }
      case '/api/v4/pbx/users/add': {
        const number = typeof body.number === 'string' ? body.number : '';
        if (!/^[0-9]{2,15}$/.test(number)) return { status: 200, body: refuse('number is required') };
        if (body._id !== undefined) return { status: 200, body: refuse('_id is not allowed here') };
        if (store.has(number)) return { status: 200, body: refuse('This number is already in use') };
        const created = { ...(body as unknown as Extension), _id: randomBytes(12).toString('hex') };
        put(created);
        return { status: 200, body: simulator.addAnswerShape === 'status' ? { status: 'success', message: 'added' } : ok() };
      }
      case '/api/v4/pbx/users/update': {
        const current = byId(body._id);
        if (!current) return { status: 200, body: refuse('user not found') };
        const next = { ...(body as unknown as Extension) };
        // An update without secret keeps the stored one (the gateway holds none for imported extensions).
        if (next.secret === undefined) next.secret = current.secret;
        if (next.number !== current.number) {
          if (store.has(next.number)) return { status: 200, body: refuse('This number is already in use') };
          drop(current.number);
        }
        put(next);
        return { status: 200, body: ok() };
      }
      case '/api/v4/pbx/users/remove': {
        const current = byId(body._id);
        if (!current) return { status: 200, body: refuse('user not found') };
        drop(current.number);
        return { status: 200, body: ok() };
      }
      default:
        return { status: 404, body: refuse('not found') };
    }
  }

  const handle: http.RequestListener = (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = (request.url ?? '').split('?')[0];
      options.log?.(`${request.method} ${path}`);
      if (request.method !== 'POST') return answer(response, 405, refuse('use POST'));
      if (!sameText(request.headers['x-apikey'] as string | undefined, credentials.apiKey) || !sameText(request.headers.authorization, basic)) {
        return answer(response, 401, { success: 0, message: 'Unauthorized', data: '' });
      }
      if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
        return answer(response, 415, refuse('Content-Type must be application/json'));
      }
      let body: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        body = parsed as Record<string, unknown>;
      } catch {
        return answer(response, 400, refuse('invalid JSON'));
      }
      const shortPath = path.replace(/^\/api\/v4/, '');
      calls.push({ path: shortPath, body });
      const cannedIndex = canned.findIndex((entry) => entry.path === shortPath);
      if (cannedIndex >= 0) return answer(response, 200, canned.splice(cannedIndex, 1)[0].body);
      const fault = takeFault(shortPath);
      if (fault) counts[fault.kind] += 1;
      if (fault?.kind === 'refuse') return answer(response, 200, refuse('simulated refusal'));
      if (fault?.kind === 'http500') return answer(response, 500, { message: 'simulated server error' });
      if (fault?.kind === 'reset') return request.socket.destroy();
      if (fault?.kind === 'timeout') return hang(response);
      const result = apply(path, body);
      if (fault?.kind === 'reset-after') return request.socket.destroy();
      if (fault?.kind === 'timeout-after') return hang(response);
      if (fault?.kind === 'delay-after') {
        hang(response);
        const timer = setTimeout(() => {
          lateAnswers.delete(timer);
          if (!response.destroyed) answer(response, result.status, result.body);
        }, lateAnswerMs);
        lateAnswers.add(timer);
        return undefined;
      }
      return answer(response, result.status, result.body);
    });
  };
  const server: http.Server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, handle) : http.createServer(handle);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;

  const simulator: PbxSimulator = {
    url: `${options.tls ? 'https' : 'http'}://${address}:${port}/api/v4`,
    credentials,
    calls,
    addAnswerShape: 'success',
    extensions: () => [...store.values()].map((extension) => ({ ...extension, forward_policy: { ...extension.forward_policy } })),
    extension: (number) => {
      const found = store.get(number);
      return found ? { ...found, forward_policy: { ...found.forward_policy } } : undefined;
    },
    fail: (path, kind) => {
      faults.push({ path, kind });
    },
    answerOnce: (path, body) => {
      canned.push({ path, body });
    },
    setRandomFaults,
    faultCounts: () => ({ ...counts }),
    seed: (extension) => {
      const created = { ...extension, _id: randomBytes(12).toString('hex') };
      put(created);
      return created;
    },
    close: async () => {
      setRandomFaults(null);
      for (const timer of lateAnswers) clearTimeout(timer);
      lateAnswers.clear();
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return simulator;
}
