import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_EXTENSION_SETTINGS, emptyForwardPolicy } from '../../src/pbx/extension';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';
import { MYSQL_SERVER, TEST_KEY_FILE } from '../helpers/gateway';
import { dropDatabase, newDatabaseName, pbxEnvironment, waitFor } from '../helpers/gateway-process';
import { ROOT, accepts, jsonLines, occupiedPort, runCommand, startCommand, within } from '../helpers/command-process';

// README "Two commands" and "npm's output": the npm scripts themselves, as an operator runs them.
// `npm start`'s stdout is the gateway's JSON lines and nothing else, SIGTERM to npm stops the
// gateway, a failed start is one line, `npm run sync -- --json` prints one JSON document, and a
// script run on unchanged sources does not build again.

const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-npm-scripts-'));
const databases: string[] = [];
let simulator: PbxSimulator;

function database(): string {
  const name = newDatabaseName();
  databases.push(name);
  return `${MYSQL_SERVER}/${name}`;
}

beforeAll(async () => {
  simulator = await startPbxSimulator();
});

afterAll(async () => {
  await simulator?.close();
  for (const name of databases) await dropDatabase(name);
  fs.rmSync(directory, { recursive: true, force: true });
});

function gatewayEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  return {
    MYSQL_URL: database(),
    SECRETS_KEY_FILE: TEST_KEY_FILE,
    START_TOKEN_FILE: path.join(directory, 'start-token'),
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

describe('npm start', () => {
  it('writes only JSON lines to stdout, and stops the gateway on SIGTERM to npm (npm exits 0 once it has)', async () => {
    // The built-in simulator (no PBX_URL) and a generated token: README's `npm ci && npm start`.
    const npm = startCommand('npm', ['start'], gatewayEnvironment());
    try {
      expect(await waitFor(() => npm.stdout().includes('"pbx-gateway listening"'), 30_000)).toBe(true);
      const listening = jsonLines(npm.stdout()).find((line) => (line as { message?: string }).message === 'pbx-gateway listening') as { url: string };
      const port = Number(new URL(listening.url).port);
      const health = await fetch(`${listening.url}/healthz`);
      expect(health.status).toBe(200);

      npm.child.kill('SIGTERM');
      // npm waits for the gateway's graceful shutdown and exits with its code. Through a shell that
      // does not exec its last command (Debian's dash), npm would exit at once and leave the gateway
      // running, orphaned, still listening.
      expect(await within(npm.exited, 5000, 'npm exiting after SIGTERM')).toEqual({ code: 0, signal: null });
      expect(await accepts(port)).toBe(false);
      const exit = await within(npm.finished, 5000, 'the gateway closing its output');

      const messages = jsonLines(exit.stdout).map((line) => (line as { message: string }).message);
      expect(messages).toEqual(expect.arrayContaining(['no PBX configured (PBX_URL is unset): using the built-in Simotel simulator', 'pbx-gateway listening', 'shutting down']));
      // npm's banner ("> pbx-gateway@0.1.0 start") is on neither stream.
      expect(exit.stderr).not.toContain('> pbx-gateway@');
    } finally {
      npm.child.kill('SIGKILL');
    }
  }, 60_000);

  it('stops with one line naming PORT and a non-zero exit when PORT is taken; nothing of npm is added', async () => {
    const taken = await occupiedPort();
    try {
      // AUTH_DISABLED: no token is made, so stderr has no notice of where it is.
      const run = await runCommand('npm', ['start'], gatewayEnvironment({ PORT: String(taken.port), AUTH_DISABLED: 'true' }));
      expect(run.code).not.toBe(0);
      expect(run.stderr).toBe(`pbx-gateway: PORT: cannot listen on 127.0.0.1:${taken.port} (EADDRINUSE)\n`);
      const messages = jsonLines(run.stdout).map((line) => (line as { message: string }).message);
      expect(messages).not.toContain('pbx-gateway listening');
    } finally {
      await taken.close();
    }
  }, 60_000);
});

describe('npm run sync -- --json', () => {
  it('prints one JSON document on stdout; its log lines go to stderr', async () => {
    simulator.seed({ ...DEFAULT_EXTENSION_SETTINGS, name: 'Imported', number: '7301', cid_number: '7301', email: '', forward_policy: emptyForwardPolicy() });
    // A key file that does not exist yet: making it is logged (a warn line, which sync does print).
    const run = await runCommand('npm', ['run', 'sync', '--', '--domain', 'pbx.local', '--json'], {
      MYSQL_URL: database(),
      SECRETS_KEY_FILE: path.join(directory, 'sync', 'secrets.key'),
      ...pbxEnvironment(simulator),
    });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ imported: ['7301@pbx.local'], updated: [], missing_on_pbx: [], pruned: [] });
    expect(jsonLines(run.stderr).map((line) => (line as { message: string }).message)).toContain(
      'made a new secrets key (SECRETS_KEY_FILE); back it up: without it the passwords the gateway holds are lost',
    );
  }, 60_000);
});

describe('the build step of the npm scripts', () => {
  it('does not build again when nothing changed since the last build (npm run migrate -- --help)', async () => {
    // Built by the jest global setup with the same check; again here, should a source have been saved since.
    expect((await runCommand(process.execPath, ['scripts/build-if-stale.js'], {}, { timeoutMs: 60_000 })).code).toBe(0);
    const built = ['dist/src/main.js', 'dist/src/db/migrate-cli.js', 'dist/.build-stamp'].map((file) => fs.statSync(path.join(ROOT, file)).mtimeMs);
    const run = await runCommand('npm', ['run', 'migrate', '--', '--help'], {});
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: npm run migrate -- /);
    expect(['dist/src/main.js', 'dist/src/db/migrate-cli.js', 'dist/.build-stamp'].map((file) => fs.statSync(path.join(ROOT, file)).mtimeMs)).toEqual(built);
  }, 90_000);
});
