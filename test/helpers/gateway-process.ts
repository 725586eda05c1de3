import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { MYSQL_SERVER, TEST_KEY_FILE } from './gateway';
import type { PbxSimulator } from '../../src/pbx/simulator';

// The compiled gateway as its own process (`npm start` without the build step, which the jest
// global setup test/process/build.js has run), for what only a real process shows: signals, exit
// codes, several processes on one database, sockets cut under it.

const ROOT = path.resolve(__dirname, '..', '..');

/** The file `npm start` runs after its build check, read from package.json, so these tests also pin that it works. */
function startScript(): string {
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const match = /(?:^|&& )exec node (\S+)$/.exec(scripts.start ?? '');
  if (!match) throw new Error(`package.json "start" does not end with "exec node <file>": ${scripts.start}`);
  return path.join(ROOT, match[1]);
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface GatewayProcess {
  readonly child: ChildProcess;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** stdout and stderr so far, for assertions and for failure messages. */
  output(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** Whether it has exited. */
  readonly running: boolean;
  /** Ends it with SIGKILL if still running (afterAll, also after a failure). */
  kill(): Promise<void>;
}

const children = new Set<ChildProcess>();

export function newDatabaseName(): string {
  return `pbxgw_test_${randomBytes(6).toString('hex')}`;
}

/** The environment that points a gateway at a simulator. */
export function pbxEnvironment(pbx: PbxSimulator, url = pbx.url): Record<string, string> {
  return { PBX_URL: url, PBX_API_KEY: pbx.credentials.apiKey, PBX_USERNAME: pbx.credentials.username, PBX_PASSWORD: pbx.credentials.password };
}

/**
 * Spawns `node dist/src/main.js` with only the given environment (and PATH), on a port of its
 * own choosing, and resolves once it logs that it listens (an info line: LOG_LEVEL must let it through).
 */
export async function spawnGateway(environment: Record<string, string>, startTimeoutMs = 20_000): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [startScript()], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      AUTH_DISABLED: 'true',
      RATE_LIMIT_PER_MINUTE: '0',
      SECRETS_KEY_FILE: TEST_KEY_FILE,
      ...environment,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  let exitedWith: Exit | null = null;
  // 'close' comes after 'exit', once stdout and stderr are closed too: nothing of the child is left.
  const exited = new Promise<Exit>((resolve) => {
    child.once('close', (code, signal) => {
      exitedWith = { code, signal };
      children.delete(child);
      resolve(exitedWith);
    });
  });
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    output += text;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => reject(new Error(`the gateway did not start within ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs);
    child.stdout?.on('data', (text: string) => {
      output += text;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const entry = JSON.parse(line) as { message?: string; url?: string };
          if (entry.message === 'pbx-gateway listening' && entry.url) {
            clearTimeout(timer);
            resolve(entry.url);
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited (${exit.code ?? exit.signal}) before listening:\n${output}`));
    });
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw error;
  });
  return {
    child,
    url,
    port: Number(new URL(url).port),
    output: () => output,
    exited,
    get running() {
      return exitedWith === null;
    },
    async kill() {
      if (exitedWith === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** SIGKILLs every gateway process still running (for afterAll, whatever happened before). */
export async function killAllGateways(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export interface Answer {
  readonly status: number;
  // The envelope, or what /readyz answers.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
  /** How long it took, in ms. */
  readonly ms: number;
}

/**
 * One GET on a fresh connection (no keep-alive unless an agent is given), failing after
 * `timeoutMs` rather than hanging the test.
 */
export function httpGet(url: string, options: { timeoutMs?: number; agent?: http.Agent; headers?: Record<string, string> } = {}): Promise<Answer> {
  const { timeoutMs = 10_000, agent = false, headers = {} } = options;
  const started = performance.now();
  return new Promise<Answer>((resolve, reject) => {
    const request = http.get(url, { agent, timeout: timeoutMs, headers }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // plain text
        }
        resolve({ status: response.statusCode ?? 0, body, ms: performance.now() - started });
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}

/** GET /api/<node>?<params> on a gateway process. */
export function callNode(
  base: string,
  node: string,
  params: Record<string, string> = {},
  options: { timeoutMs?: number; agent?: http.Agent; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return httpGet(`${base}/api/${node}?${new URLSearchParams(params).toString()}`, options);
}

/** A connection to the MySQL server (no database), for assertions and for dropping test databases. */
export async function withServer<T>(work: (connection: mysql.Connection) => Promise<T>): Promise<T> {
  const connection = await mysql.createConnection(MYSQL_SERVER);
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

export async function dropDatabase(database: string): Promise<void> {
  await withServer((connection) => connection.query(`DROP DATABASE IF EXISTS \`${database}\``));
}

/** Polls `probe` every `everyMs` until it returns true, at most `timeoutMs`; returns whether it did. */
export async function waitFor(probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
