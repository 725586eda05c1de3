import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import { createLogger } from '../../src/logger';
import { start, type Running } from '../../src/start';
import { MYSQL_SERVER, testConfig } from '../helpers/gateway';
import { ROOT, commandEnvironment, type CommandRun } from '../helpers/command-process';
import { heldPassword, type PasswordColumns } from '../helpers/secrets';

// CONTRACT section 10, pbxgw: the command as an operator runs it (bin/pbxgw.js, which npx and a
// global install run), as a child process, against a real gateway (in this process, on its own
// database and built-in simulator) with client tokens.

const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const READ_TOKEN = randomBytes(32).toString('base64url');
const WRONG_TOKEN = randomBytes(32).toString('base64url');
const TOKENS = [ADMIN_TOKEN, READ_TOKEN, WRONG_TOKEN];
const BIN = path.join(ROOT, 'bin', 'pbxgw.js');
const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

let gateway: Running;
let scratch: string;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-command-'));
  const config = testConfig({
    authDisabled: false,
    apiTokens: [
      { name: 'root', token: ADMIN_TOKEN, scope: 'admin' },
      { name: 'helpdesk', token: READ_TOKEN, scope: 'read' },
    ],
    logLevel: 'warn',
  });
  const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
  gateway = await start(config, createLogger('warn', sink), 'test');
});

afterAll(async () => {
  await gateway?.stop();
  await gateway?.simulator?.close();
  const connection = await mysql.createConnection(MYSQL_SERVER);
  await connection.query(`DROP DATABASE IF EXISTS \`${new URL(gateway.container.config.mysqlUrl).pathname.slice(1)}\``);
  await connection.end();
  fs.rmSync(scratch, { recursive: true, force: true });
});

interface Run extends CommandRun {
  /** stdout parsed as JSON (one document). */
  json(): Record<string, unknown>;
}

/**
 * bin/pbxgw.js with `args`, PBXGW_URL pointing at the test gateway and only the given variables;
 * `input` is written to its standard input (a pipe). Every run is checked for the tokens of this
 * file: none is ever printed.
 */
async function pbxgw(args: string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: commandEnvironment({ PBXGW_URL: gateway.url, ...options.env }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
  }).finally(() => clearTimeout(timer));
  for (const token of [...TOKENS, options.env?.PBXGW_TOKEN ?? ADMIN_TOKEN]) {
    expect({ args, printed: `${stdout}${stderr}`.includes(token) }).toEqual({ args, printed: false });
  }
  return {
    code,
    signal,
    stdout,
    // The launcher's build check says on stderr when it builds: sources saved while the tests run.
    stderr: stderr.replace(/^pbx-gateway: buil(ding|t) dist\/.*\n/gm, ''),
    json: () => {
      try {
        return JSON.parse(stdout) as Record<string, unknown>;
      } catch {
        throw new Error(`stdout is not one JSON document:\n${stdout}\n--- stderr:\n${stderr}`);
      }
    },
  };
}

const admin = { PBXGW_TOKEN: ADMIN_TOKEN };
const unique = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;

async function storedRow(user: string): Promise<PasswordColumns> {
  const [username, domain] = user.split('@');
  const [rows] = await gateway.container.pool.query('SELECT id, username, domain, secret, password FROM users WHERE username = ? AND domain = ?', [username, domain]);
  return (rows as PasswordColumns[])[0];
}

/** A port nothing listens on (one was, a moment ago). */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A server that takes connections and never answers; close() drops them. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.resume();
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('the command', () => {
  it('prints its version and its help (exit 0), the token in neither', async () => {
    const shown = await pbxgw(['--version'], { env: admin });
    expect(shown).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    const help = await pbxgw(['--help'], { env: admin });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit status: 0 ok, 1 failed, 2 invalid or a usage error');
    expect(help.stdout).toContain('PBXGW_TOKEN_FILE');
  });

  it('runs as `npx pbxgw` in the checkout (the package bin), with a fresh npm cache', async () => {
    const cache = path.join(scratch, 'npm-cache');
    const run = spawnSync('npx', ['pbxgw', '--version'], { cwd: ROOT, env: commandEnvironment({ npm_config_cache: cache }), encoding: 'utf8', timeout: 120_000 });
    expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 0, stdout: `${version}\n` });
  }, 130_000);
});

describe('exit statuses', () => {
  it('0 for ok: the envelope as one JSON document on stdout when it is not a terminal, nothing on stderr', async () => {
    const run = await pbxgw(['domains/list'], { env: admin });
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ response: 'ok', domains: expect.arrayContaining([expect.objectContaining({ domain: 'pbx.local' })]) });
    expect(run.stderr).toBe('');
    // --json gives the same document.
    expect((await pbxgw(['--json', 'domains/list'], { env: admin })).json()).toEqual(run.json());
  });

  it('1 for failed, with the cause on stderr', async () => {
    const run = await pbxgw(['user/get', `user=${unique('nobody')}@pbx.local`], { env: admin });
    expect(run.code).toBe(1);
    expect(run.json()).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(run.stderr).toMatch(/^pbxgw: failed\/nonexistant: /);
  });

  it('2 for invalid', async () => {
    const run = await pbxgw(['user/get', 'user=not-an-address'], { env: admin });
    expect(run.code).toBe(2);
    expect(run.json()).toMatchObject({ response: 'invalid', cause: 'user' });
  });

  it('2 for an unknown node, with a hint to run pbxgw nodes', async () => {
    const run = await pbxgw(['user/teleport', 'user=1001@pbx.local'], { env: admin });
    expect(run.code).toBe(2);
    expect(run.json()).toMatchObject({ response: 'invalid', cause: 'node' });
    expect(run.stderr).toContain('has no node user/teleport: pbxgw nodes lists those it has');
  });

  it.each([
    ['a name given twice', ['user/get', 'user=a@pbx.local', 'user=b@pbx.local'], 'user is given twice'],
    ['a word that is no name=value', ['user/get', 'user=a@pbx.local', 'oops'], "'oops' is not a parameter"],
    ['a word that is no node', ['user'], "'user' is not a node"],
    ['no node at all', [], 'Usage: pbxgw'],
    ['an unknown option', ['--bogus', 'domains/list'], "unknown option '--bogus'"],
    ['a malformed --timeout', ['--timeout', 'soon', 'domains/list'], 'not a number of seconds'],
    ['a --url that is no URL', ['--url', 'nowhere', 'domains/list'], "--url: not a URL: 'nowhere'"],
    ['--concurrency out of range', ['import', '--concurrency', '0', 'people.csv'], 'not a concurrency (1-32)'],
    ['--resume without --report', ['batch', '--resume', 'calls.jsonl'], '--resume needs --report FILE'],
  ])('2 for a usage error: %s, one message on stderr, nothing sent', async (_name, args, message) => {
    const run = await pbxgw(args, { env: admin });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
  });

  it('3 for error (the PBX fails under user/add_local)', async () => {
    gateway.simulator?.fail('/pbx/users/add', 'http500');
    const run = await pbxgw(['user/add_local', `user=${70_000 + Math.floor(Math.random() * 20_000)}@pbx.local`, 'displayname=Broken'], { env: admin });
    expect(run.code).toBe(3);
    expect(run.json()).toMatchObject({ response: 'error', cause: 'pbx' });
  });

  it('3 when the gateway is unreachable: nothing listens, or nothing answers within --timeout', async () => {
    const refused = await pbxgw(['domains/list'], { env: { ...admin, PBXGW_URL: `http://127.0.0.1:${await closedPort()}` } });
    expect(refused).toMatchObject({ code: 3, stdout: '' });
    expect(refused.stderr).toMatch(/^pbxgw: cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\n$/);

    const silent = await silentServer();
    try {
      const started = Date.now();
      const run = await pbxgw(['--timeout', '0.5', 'domains/list'], { env: { ...admin, PBXGW_URL: `http://127.0.0.1:${silent.port}` } });
      expect(run).toMatchObject({ code: 3, stdout: '' });
      expect(run.stderr).toContain('no answer from the gateway');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await silent.close();
    }
  });

  it('4 for a read token on a write node (403), a wrong token and no token (401)', async () => {
    const scope = await pbxgw(['numbers/add', 'number=+4791000001'], { env: { PBXGW_TOKEN: READ_TOKEN } });
    expect(scope.code).toBe(4);
    expect(scope.json()).toMatchObject({ response: 'failed', cause: 'scope' });
    expect(scope.stderr).toContain('refused (HTTP 403)');

    const wrong = await pbxgw(['domains/list'], { env: { PBXGW_TOKEN: WRONG_TOKEN } });
    expect(wrong.code).toBe(4);
    expect(wrong.json()).toMatchObject({ response: 'invalid', cause: 'auth' });
    expect(wrong.stderr).toContain('refused (HTTP 401): the gateway does not take the token from PBXGW_TOKEN');

    const none = await pbxgw(['domains/list']);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain('no token was given');
  });

  it('5 when rate limited after the retries (a token made with tokens/add and rate_per_minute=1)', async () => {
    const made = await pbxgw(['tokens/add', `name=${unique('limited-')}`, 'scope=read', 'rate_per_minute=1'], { env: admin });
    expect(made.code).toBe(0);
    const token = made.json().token as string;
    const limited = { PBXGW_TOKEN: token, PBXGW_RETRIES: '0' };
    expect((await pbxgw(['domains/list'], { env: limited })).code).toBe(0);
    const refused = await pbxgw(['domains/list'], { env: limited });
    expect(refused.code).toBe(5);
    expect(refused.json()).toMatchObject({ response: 'failed', cause: 'rate' });
    expect(refused.stderr).toMatch(/rate limited \(HTTP 429\) after 0 retries: .*; try again in \d+ s/);
  });

  it('5 after trying a 429 again after its Retry-After, --retries times', async () => {
    let requests = 0;
    const server = http.createServer((request, response) => {
      requests += 1;
      request.resume();
      response.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '1' }).end(JSON.stringify({ response: 'failed', cause: 'rate', detail: 'slow down' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const started = Date.now();
      const run = await pbxgw(['--retries', '2', 'domains/list'], { env: { ...admin, PBXGW_URL: url } });
      expect(run.code).toBe(5);
      expect(requests).toBe(3);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(run.stderr).toContain('rate limited (HTTP 429): trying again in 1 s (1 of 2)');
      expect(run.stderr).toContain('rate limited (HTTP 429) after 2 retries: slow down; try again in 1 s');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('passwords from standard input (password=-)', () => {
  it('reach the gateway (user/add_remote, then user/change_pw) and are never printed', async () => {
    const user = `${unique('remote')}@remote.example`;
    const first = `Pw-${randomBytes(6).toString('hex')}`;
    const added = await pbxgw(['user/add_remote', `user=${user}`, 'password=-', 'displayname=Remote One', 'registrar=sip.remote.example'], {
      env: admin,
      input: `${first}\n`,
    });
    expect(added.code).toBe(0);
    expect(added.json()).toMatchObject({ response: 'ok', user: { user, kind: 'remote' } });
    expect(heldPassword(gateway.container.secrets, await storedRow(user))).toBe(first);

    const second = `Pw-${randomBytes(6).toString('hex')}`;
    // --verbose shows the parameters, the password as ***.
    const changed = await pbxgw(['--verbose', 'user', 'change_pw', `user=${user}`, 'password=-'], { env: admin, input: `${second}\r\nleft over\n` });
    expect(changed.code).toBe(0);
    expect(changed.stderr).toContain('"password":"***"');
    expect(heldPassword(gateway.container.secrets, await storedRow(user))).toBe(second);
    for (const run of [added, changed]) expect(`${run.stdout}${run.stderr}`).not.toMatch(new RegExp(`${first}|${second}`));
  });

  it('an empty standard input is a usage error: nothing is sent', async () => {
    const user = `${unique('remote')}@remote.example`;
    const run = await pbxgw(['user/add_remote', `user=${user}`, 'password=-', 'displayname=X', 'registrar=sip.remote.example'], { env: admin, input: '' });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('password=-: standard input ended before a line for it was read');
    expect(await storedRow(user)).toBeUndefined();
  });
});

describe('where and who', () => {
  it('reads the token from PBXGW_TOKEN_FILE and --token-file (an admin node answers ok)', async () => {
    const file = path.join(scratch, 'start-token');
    fs.writeFileSync(file, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    const fromEnvironment = await pbxgw(['tokens/list'], { env: { PBXGW_TOKEN_FILE: file } });
    expect(fromEnvironment.code).toBe(0);
    expect(fromEnvironment.json()).toMatchObject({ response: 'ok', tokens: expect.arrayContaining([expect.objectContaining({ name: 'root' })]) });
    const fromOption = await pbxgw(['--token-file', file, '--verbose', 'tokens/list']);
    expect(fromOption.code).toBe(0);
    expect(fromOption.stderr).toContain(`token from --token-file (${file})`);
    // --token wins over the file.
    expect((await pbxgw(['--token', READ_TOKEN, 'tokens/list'], { env: { PBXGW_TOKEN_FILE: file } })).code).toBe(4);
  });

  it('a token file that cannot be read is a usage error naming the file', async () => {
    const missing = path.join(scratch, 'no-such-token');
    const run = await pbxgw(['domains/list'], { env: { PBXGW_TOKEN_FILE: missing } });
    expect(run).toMatchObject({ code: 2, stdout: '', stderr: `pbxgw: PBXGW_TOKEN_FILE: cannot read ${missing} (ENOENT)\n` });
  });

  it('the two-word form calls the same node as group/node', async () => {
    const slash = await pbxgw(['domains/list'], { env: admin });
    const words = await pbxgw(['domains', 'list'], { env: admin });
    expect(words.code).toBe(0);
    expect(words.json()).toEqual(slash.json());
  });

  it('user/genpw prints the password alone (text/plain), or as a JSON string with --json', async () => {
    const plain = await pbxgw(['user/genpw'], { env: { PBXGW_TOKEN: READ_TOKEN } });
    expect(plain).toMatchObject({ code: 0, stderr: '' });
    expect(plain.stdout).toMatch(/^[A-HJ-NP-Za-km-z2-9]{12}\n$/);
    const json = await pbxgw(['--json', 'user/genpw'], { env: { PBXGW_TOKEN: READ_TOKEN } });
    expect(JSON.parse(json.stdout)).toMatch(/^[A-HJ-NP-Za-km-z2-9]{12}$/);
  });
});

describe("nodes and help, from the gateway's OpenAPI document", () => {
  it('pbxgw nodes lists every node the gateway serves, with its scope and summary', async () => {
    const run = await pbxgw(['nodes']);
    expect(run.code).toBe(0);
    const nodes = run.json().nodes as { node: string; scope: string; summary: string }[];
    expect(nodes.map((node) => node.node).sort()).toEqual(gateway.container.nodes.map((node) => node.path).sort());
    expect(nodes.find((node) => node.node === 'tokens/add')).toEqual({ node: 'tokens/add', scope: 'admin', summary: expect.stringContaining('token') });
  });

  it('pbxgw help tokens/add: its parameters, scope, answer members and causes', async () => {
    const run = await pbxgw(['help', 'tokens/add']);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    const help = run.json();
    expect(help).toMatchObject({ node: 'tokens/add', scope: 'admin', answer: { plainText: false } });
    expect(help.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'name', required: true, type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' }),
        expect.objectContaining({ name: 'scope', required: true, enum: ['read', 'write', 'admin'] }),
        expect.objectContaining({ name: 'rate_per_minute', required: false, type: 'integer', minimum: 1 }),
      ]),
    );
    expect((help.answer as { members: { name: string }[] }).members.map((member) => member.name)).toEqual(expect.arrayContaining(['name', 'scope', 'token']));
    expect(help.causes).toEqual({ failed: { exists: expect.any(String) }, invalid: { expires: expect.any(String) } });
    // The two-word form.
    expect((await pbxgw(['help', 'tokens', 'add'])).json()).toEqual(help);
  });

  it('pbxgw help for a node the gateway does not have: exit 2, the hint', async () => {
    const run = await pbxgw(['help', 'user/teleport']);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toContain('has no node user/teleport: pbxgw nodes lists those it has');
  });
});

// On a terminal: script(1) gives the command a pseudo-terminal (util-linux; skipped where there is none).
const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
(hasScript ? describe : describe.skip)('on a terminal', () => {
  /** `pbxgw args` on a pseudo-terminal, `typed` sent to it after a moment; what the terminal shows. */
  function onTerminal(args: string[], typed = ''): Promise<{ code: number | null; screen: string }> {
    const command = [process.execPath, BIN, ...args].map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd: ROOT, env: commandEnvironment({ PBXGW_URL: gateway.url, ...admin }), stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (screen += text));
    setTimeout(() => child.stdin.end(typed), 1000);
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, screen: screen.replace(/\r/g, '').replace(/^pbx-gateway: buil(ding|t) dist\/.*\n/gm, '') })));
  }

  it('prints the readable form: the outcome first, lists as tables', async () => {
    const { code, screen } = await onTerminal(['domains/list']);
    expect(code).toBe(0);
    expect(screen).toMatch(/^ok\ndomains \(\d+\):\n {2}DOMAIN +LOCAL +REGISTRAR +PROXY +R_PORT +P_PORT\n {2}pbx\.local +true /);
    expect(screen).not.toContain(ADMIN_TOKEN);
  }, 15_000);

  it('asks for password=- at a prompt without echo', async () => {
    const user = `${unique('remote')}@remote.example`;
    const typed = `Typed-${randomBytes(6).toString('hex')}`;
    const { code, screen } = await onTerminal(['user/add_remote', `user=${user}`, 'password=-', 'displayname=Typed', 'registrar=sip.remote.example'], `${typed}\r`);
    expect(code).toBe(0);
    expect(screen).toMatch(/^password: \nok\nuser:\n/);
    expect(screen).not.toContain(typed);
    expect(heldPassword(gateway.container.secrets, await storedRow(user))).toBe(typed);
  }, 15_000);
});
