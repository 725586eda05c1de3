import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import request from 'supertest';
import { createApp } from '../../src/app';
import { ConfigError, type Config } from '../../src/config';
import type { Container } from '../../src/container';
import { createLogger } from '../../src/logger';
import { openKeyFile } from '../../src/secrets/key-file';
import { SecretBox, sealedKeyId } from '../../src/secrets/secret-box';
import { rotateKeyFile } from '../../src/secrets/rotation';
import { appDeps, prepare } from '../../src/start';
import { MYSQL_SERVER, startTestGateway, type TestGateway } from '../helpers/gateway';
import { heldPassword, type PasswordColumns } from '../helpers/secrets';

// CONTRACT section 9: the passwords the gateway holds are sealed under the key in SECRETS_KEY_FILE;
// a dump of the database reveals none; rows written before are sealed on the start; a start with
// another key stops with one line naming SECRETS_KEY_FILE; `npm run secrets -- rotate` moves every
// secret to a new key in one transaction.

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'src', 'cli', 'secrets.js');
const KEY_FILE_MODULE = path.join(ROOT, 'dist', 'src', 'secrets', 'key-file.js');
const LOCAL = 'pbx.local';
const REMOTE = 'remote.example';

let directory: string;
const open: TestGateway[] = [];
const restarted: Container[] = [];

beforeEach(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-secrets-'));
});

afterEach(async () => {
  for (const container of restarted.splice(0)) await container.close().catch(() => undefined);
  for (const gateway of open.splice(0)) await gateway.close();
  fs.rmSync(directory, { recursive: true, force: true });
});

/** A gateway on a fresh database whose key file is `keyFile` (made by the start when missing). */
async function gatewayWithKey(keyFile: string): Promise<TestGateway> {
  const gateway = await startTestGateway({ secretsKeyFile: keyFile });
  open.push(gateway);
  return gateway;
}

/** A second start on the same database (and PBX simulator), as after a restart or by another gateway. */
async function restart(config: Config, overrides: Partial<Config> = {}): Promise<{ container: Container; app: Express; logs: string[] }> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const container = await prepare({ ...config, ...overrides }, createLogger('debug', sink));
  restarted.push(container);
  return { container, app: createApp(appDeps(container, 'test')), logs };
}

async function refusedStart(config: Config, keyFile: string): Promise<string> {
  const error = await prepare({ ...config, secretsKeyFile: keyFile }, createLogger('error', new Writable({ write: (_c, _e, done) => done() }))).then(
    (container) => {
      restarted.push(container);
      throw new Error('the start was not refused');
    },
    (refusal: unknown) => refusal,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as Error).message;
}

function databaseOf(config: Config): string {
  return new URL(config.mysqlUrl).pathname.slice(1);
}

function keyPath(name: string): string {
  return path.join(directory, name);
}

function extensionNumber(): string {
  return `7${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

function password(): string {
  return `Pw-${randomBytes(9).toString('base64url')}`;
}

async function addRemote(gateway: TestGateway, user: string, secret: string): Promise<void> {
  const response = await gateway.get('user/add_remote', { user, password: secret, displayname: 'Remote Person', registrar: 'sip.remote.example' });
  expect(response.body).toMatchObject({ response: 'ok' });
}

async function addLocal(gateway: TestGateway, number: string): Promise<string> {
  const response = await gateway.get('user/add_local', { user: `${number}@${LOCAL}`, displayname: 'Local Person' });
  expect(response.body).toMatchObject({ response: 'ok' });
  return response.body.password as string;
}

async function storedRows(gateway: TestGateway): Promise<PasswordColumns[]> {
  return gateway.query<PasswordColumns>('SELECT id, username, domain, secret, password FROM users ORDER BY id');
}

/** What a database of the old schema held: no secret column, no check table, passwords in clear. */
async function makeOldSchema(gateway: TestGateway, clear: Record<string, string>): Promise<void> {
  await gateway.query('ALTER TABLE users DROP INDEX users_clear_password, DROP COLUMN secret');
  await gateway.query('DROP TABLE secrets_check');
  await gateway.query("DELETE FROM schema_migrations WHERE name = '004-secrets'");
  for (const [address, secret] of Object.entries(clear)) {
    const [username, domain] = address.split('@');
    await gateway.query('UPDATE users SET password = ? WHERE username = ? AND domain = ?', [secret, username, domain]);
  }
}

function dump(database: string): string {
  const server = new URL(MYSQL_SERVER);
  const run = spawnSync('/usr/bin/mariadb-dump', [`-h${server.hostname}`, `-P${server.port || '3306'}`, `-u${decodeURIComponent(server.username) || 'root'}`, database], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(server.password ? { MYSQL_PWD: decodeURIComponent(server.password) } : {}) },
  });
  if (run.status !== 0) throw new Error(`mariadb-dump failed: ${run.stderr}`);
  return run.stdout;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The compiled `npm run secrets --` (test/process/build.js has built dist/) with only these settings. */
function runSecretsCli(args: string[], environment: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const WRONG_KEY = (keyFile: string) =>
  `SECRETS_KEY_FILE: the key in ${keyFile} does not open the secrets stored in the database; use the key file they were sealed with`;

describe('the key file', () => {
  it('is made with mode 0600 (its directory 0700) on the first start when missing, and said so in the log', async () => {
    const keyFile = path.join(directory, 'made', 'secrets.key');
    const gateway = await gatewayWithKey(keyFile);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(keyFile)).mode & 0o777).toBe(0o700);
    expect(gateway.logs.join('')).toContain('made a new secrets key');
    const [check] = await gateway.query<{ sealed: string }>('SELECT sealed FROM secrets_check');
    expect(sealedKeyId(check.sealed)).toBe(openKeyFile(keyFile, { create: false }).box.keyId);
  });

  it('is made once when processes race to make it: every one reads the same key', async () => {
    const keyFile = path.join(directory, 'raced', 'secrets.key');
    const script = `process.stdout.write(require(${JSON.stringify(KEY_FILE_MODULE)}).openKeyFile(${JSON.stringify(keyFile)}).box.keyId)`;
    const ids = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<string>((resolve, reject) => {
            const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
            let out = '';
            child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
            child.once('error', reject);
            child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
          }),
      ),
    );
    expect(new Set(ids).size).toBe(1);
    expect(fs.readdirSync(path.dirname(keyFile))).toEqual(['secrets.key']);
  });

  it('stops the start when others may read it, saying chmod 600', async () => {
    const gateway = await gatewayWithKey(keyPath('loose.key'));
    fs.chmodSync(keyPath('loose.key'), 0o640);
    const message = await refusedStart(gateway.config, keyPath('loose.key'));
    expect(message).toMatch(/^SECRETS_KEY_FILE: .*chmod 600/);
    expect(message).not.toContain('\n');
  });
});

describe('the passwords in the database', () => {
  it('are sealed: a dump after adding local and remote users holds none of their passwords', async () => {
    const gateway = await gatewayWithKey(keyPath('dump.key'));
    const remote = [password(), password()];
    await addRemote(gateway, `dumped@${REMOTE}`, remote[0]);
    await addRemote(gateway, `changed@${REMOTE}`, password());
    expect((await gateway.get('user/change_pw', { user: `changed@${REMOTE}`, password: remote[1] })).body.response).toBe('ok');
    const number = extensionNumber();
    const generated = await addLocal(gateway, number);
    const chosen = password();
    const second = extensionNumber();
    await addLocal(gateway, second);
    expect((await gateway.get('user/change_pw', { user: `${second}@${LOCAL}`, password: chosen })).body.response).toBe('ok');

    const text = dump(databaseOf(gateway.config));
    expect(text).toContain('INSERT INTO `users`');
    for (const secret of [...remote, generated, chosen]) expect(text).not.toContain(secret);
    const rows = await storedRows(gateway);
    expect(rows.every((row) => row.password === null && /^g1\.[0-9a-f]{12}\./.test(String(row.secret)))).toBe(true);
    for (const row of rows) expect(text).toContain(String(row.secret));
    // ... and the gateway opens them: the PBX got the local passwords, MySQL holds the same.
    expect(gateway.pbx.extension(number)?.secret).toBe(generated);
    expect(gateway.pbx.extension(second)?.secret).toBe(chosen);
    const held = Object.fromEntries(rows.map((row) => [`${row.username}@${row.domain}`, heldPassword(gateway.container.secrets, row)]));
    expect(held).toEqual({
      [`dumped@${REMOTE}`]: remote[0],
      [`changed@${REMOTE}`]: remote[1],
      [`${number}@${LOCAL}`]: generated,
      [`${second}@${LOCAL}`]: chosen,
    });
  });

  it('written before (old schema, in clear) are sealed on the start, and the nodes still work', async () => {
    const gateway = await gatewayWithKey(keyPath('old.key'));
    const remoteSecret = password();
    const localSecret = password();
    await addRemote(gateway, `legacy@${REMOTE}`, password());
    const number = extensionNumber();
    await addLocal(gateway, number);
    // The PBX holds the secret the old database held for the extension.
    const [extension] = gateway.pbx.extensions().filter((candidate) => candidate.number === number);
    gateway.pbx.seed({ ...extension, secret: localSecret });
    await makeOldSchema(gateway, { [`legacy@${REMOTE}`]: remoteSecret, [`${number}@${LOCAL}`]: localSecret });
    expect(dump(databaseOf(gateway.config))).toContain(remoteSecret);

    const { app, container, logs } = await restart(gateway.config);
    const sealing = logs.map((line) => JSON.parse(line) as { message: string; sealed?: number }).find((line) => line.message.startsWith('sealed the passwords'));
    expect(sealing?.sealed).toBe(2);
    expect(logs.join('')).not.toContain(remoteSecret);
    expect(logs.join('')).not.toContain(localSecret);
    const rows = await storedRows(gateway);
    expect(rows.map((row) => row.password)).toEqual([null, null]);
    expect(rows.map((row) => heldPassword(container.secrets, row))).toEqual([remoteSecret, localSecret]);
    const text = dump(databaseOf(gateway.config));
    expect(text).not.toContain(remoteSecret);
    expect(text).not.toContain(localSecret);

    const got = await request(app).get('/api/user/get').query({ user: `legacy@${REMOTE}` });
    expect(got.body).toMatchObject({ response: 'ok', user: { user: `legacy@${REMOTE}`, kind: 'remote' } });
    const before = gateway.pbx.calls.length;
    const updated = await request(app).get('/api/user/update').query({ user: `${number}@${LOCAL}`, displayname: 'After Sealing' });
    expect(updated.body).toMatchObject({ response: 'ok' });
    const updates = gateway.pbx.calls.slice(before).filter((call) => call.path === '/pbx/users/update');
    expect(updates).toHaveLength(1);
    expect((updates[0].body as { secret?: string }).secret).toBe(localSecret);
    expect(gateway.pbx.extension(number)).toMatchObject({ name: 'After Sealing', secret: localSecret });
  });

  it('are sealed once when several gateways start together on a database holding them in clear', async () => {
    const gateway = await gatewayWithKey(keyPath('together.key'));
    const clear: Record<string, string> = {};
    for (let index = 0; index < 30; index += 1) {
      const user = `together${index}@${REMOTE}`;
      await addRemote(gateway, user, password());
      clear[user] = password();
    }
    await makeOldSchema(gateway, clear);
    const starts = await Promise.all(Array.from({ length: 4 }, () => restart(gateway.config)));
    const sealed = starts.flatMap(({ logs }) =>
      logs.map((line) => JSON.parse(line) as { message: string; sealed?: number }).filter((line) => line.message.startsWith('sealed the passwords')),
    );
    expect(sealed.reduce((sum, line) => sum + (line.sealed ?? 0), 0)).toBe(30);
    const rows = await storedRows(gateway);
    expect(Object.fromEntries(rows.map((row) => [`${row.username}@${row.domain}`, heldPassword(starts[0].container.secrets, row)]))).toEqual(clear);
  });

  it('answers error/internal for a stored password that does not open when a node needs it, naming the user in the log, and serves the rest', async () => {
    const gateway = await gatewayWithKey(keyPath('corrupt.key'));
    const [corrupt, sound] = ['7301', '7302'];
    for (const number of [corrupt, sound]) {
      expect((await gateway.get('user/add_local', { user: `${number}@pbx.local`, displayname: `Local ${number}` })).body.response).toBe('ok');
    }
    const [row] = await gateway.query<{ secret: string }>("SELECT secret FROM users WHERE username = ? AND domain = 'pbx.local'", [corrupt]);
    const tampered = `${row.secret.slice(0, -2)}${row.secret.endsWith('AA') ? 'BB' : 'AA'}`;
    await gateway.query("UPDATE users SET secret = ? WHERE username = ? AND domain = 'pbx.local'", [tampered, corrupt]);
    // A change of a local user sends its held secret back to the PBX: it needs the password.
    const response = await gateway.get('user/update', { user: `${corrupt}@pbx.local`, displayname: 'Changed' });
    expect(response.body).toEqual({ response: 'error', cause: 'internal', detail: expect.any(String) });
    expect(gateway.logs.join('')).toContain(`the stored password of ${corrupt}@pbx.local does not open`);
    expect(gateway.pbx.extension(corrupt)?.name).not.toBe('Changed');
    // Reads never open the password, so the user is still shown; other users are served whole.
    expect((await gateway.get('user/get', { user: `${corrupt}@pbx.local` })).body.response).toBe('ok');
    expect((await gateway.get('user/update', { user: `${sound}@pbx.local`, displayname: 'Changed' })).body.response).toBe('ok');
  });
});

describe('a start with another key', () => {
  it('is refused with one line naming SECRETS_KEY_FILE, even with no user yet', async () => {
    const gateway = await gatewayWithKey(keyPath('first.key'));
    expect(await refusedStart(gateway.config, keyPath('second.key'))).toBe(WRONG_KEY(keyPath('second.key')));
    await addRemote(gateway, `keyed@${REMOTE}`, password());
    expect(await refusedStart(gateway.config, keyPath('second.key'))).toBe(WRONG_KEY(keyPath('second.key')));
  });

  it('is refused when the check value is gone but sealed passwords are there', async () => {
    const gateway = await gatewayWithKey(keyPath('kept.key'));
    await addRemote(gateway, `unchecked@${REMOTE}`, password());
    await gateway.query('DELETE FROM secrets_check');
    expect(await refusedStart(gateway.config, keyPath('stranger.key'))).toBe(WRONG_KEY(keyPath('stranger.key')));
    // The right key writes the check value again.
    await restart(gateway.config);
    expect(await gateway.query('SELECT id FROM secrets_check WHERE sealed IS NOT NULL')).toHaveLength(1);
  });
});

describe('npm run secrets -- rotate', () => {
  it('re-seals every password under the new key: a start with the new key works, one with the old key is refused', async () => {
    const oldKey = keyPath('old.key');
    const gateway = await gatewayWithKey(oldKey);
    const remote = password();
    await addRemote(gateway, `rotated@${REMOTE}`, remote);
    const number = extensionNumber();
    const local = await addLocal(gateway, number);
    // An imported extension holds no password: nothing to re-seal.
    await gateway.query("INSERT INTO addresses (username, domain, owner) VALUES ('5550001', ?, 'user')", [LOCAL]);
    await gateway.query("INSERT INTO users (username, domain, kind, displayname) VALUES ('5550001', ?, 'local', 'Imported')", [LOCAL]);
    const before = await storedRows(gateway);

    const rotation = await rotateKeyFile(gateway.config, keyPath('new.key'), createLogger('error'));
    expect(rotation).toEqual({ count: 2, newKeyFile: keyPath('new.key'), created: true });
    expect(fs.statSync(keyPath('new.key')).mode & 0o777).toBe(0o600);
    const next = openKeyFile(keyPath('new.key'), { create: false }).box;
    const after = await storedRows(gateway);
    expect(after.map((row) => (row.secret === null ? null : sealedKeyId(row.secret)))).toEqual([next.keyId, next.keyId, null]);
    expect(after.map((row) => heldPassword(next, row))).toEqual([remote, local, null]);
    expect(after.map((row) => row.secret)).not.toEqual(before.map((row) => row.secret));

    expect(await refusedStart(gateway.config, oldKey)).toBe(WRONG_KEY(oldKey));
    const { app } = await restart(gateway.config, { secretsKeyFile: keyPath('new.key') });
    expect((await request(app).get('/api/user/get').query({ user: `rotated@${REMOTE}` })).body.response).toBe('ok');
    const sent = gateway.pbx.calls.length;
    expect((await request(app).get('/api/user/update').query({ user: `${number}@${LOCAL}`, displayname: 'Rotated' })).body.response).toBe('ok');
    expect(gateway.pbx.calls.slice(sent).find((call) => call.path === '/pbx/users/update')?.body).toMatchObject({ secret: local });
  });

  it('leaves a gateway still holding the old key unable to seal or open anything, before it touches the PBX', async () => {
    const gateway = await gatewayWithKey(keyPath('running.key'));
    const number = extensionNumber();
    const local = await addLocal(gateway, number);
    await rotateKeyFile(gateway.config, keyPath('rotated.key'), createLogger('error'));
    const sent = gateway.pbx.calls.length;
    // A new password would be sealed under the old key: refused by the key check that begins each change.
    const added = await gateway.get('user/add_remote', { user: `late@${REMOTE}`, password: password(), displayname: 'Late', registrar: 'sip.remote.example' });
    expect(added.body).toEqual({ response: 'error', cause: 'internal', detail: expect.stringContaining('restart it with the new SECRETS_KEY_FILE') });
    expect(await gateway.query("SELECT id FROM users WHERE username = 'late'")).toEqual([]);
    // Changes of a held password, or ones that send it back to the PBX, are refused alike.
    for (const [node, params] of [
      ['user/change_pw', { password: password() }],
      ['user/update', { displayname: 'Rotated' }],
    ] as const) {
      const changed = await gateway.get(node, { user: `${number}@${LOCAL}`, ...params });
      expect(changed.body).toEqual({ response: 'error', cause: 'internal', detail: expect.stringContaining('restart it with the new SECRETS_KEY_FILE') });
    }
    expect(gateway.pbx.calls.slice(sent)).toEqual([]);
    const [row] = await storedRows(gateway);
    expect(heldPassword(openKeyFile(keyPath('rotated.key'), { create: false }).box, row)).toBe(local);
  });

  it('as a command: prints how many it re-encrypted and exits 0; with a wrong current key exits 1 with one line', async () => {
    const oldKey = keyPath('cli-old.key');
    const gateway = await gatewayWithKey(oldKey);
    for (let index = 0; index < 3; index += 1) await addRemote(gateway, `cli${index}@${REMOTE}`, password());
    const environment = { MYSQL_URL: gateway.config.mysqlUrl, SECRETS_KEY_FILE: oldKey };

    const rotated = await runSecretsCli(['rotate', '--new-key-file', keyPath('cli-new.key')], environment);
    expect(rotated).toMatchObject({ code: 0, stderr: '' });
    expect(rotated.stdout).toContain(
      `re-encrypted 3 secrets under ${keyPath('cli-new.key')}; set SECRETS_KEY_FILE to it (or move it over the old one) and restart the gateways\n`,
    );
    const next = openKeyFile(keyPath('cli-new.key'), { create: false }).box;
    expect((await storedRows(gateway)).map((row) => sealedKeyId(String(row.secret)))).toEqual([next.keyId, next.keyId, next.keyId]);

    // The database is sealed under the new key now: the old one is no longer the current key.
    const refused = await runSecretsCli(['rotate', '--new-key-file', keyPath('cli-third.key')], environment);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(WRONG_KEY(oldKey));
    expect(fs.existsSync(keyPath('cli-third.key'))).toBe(false);
    expect((await storedRows(gateway)).map((row) => sealedKeyId(String(row.secret)))).toEqual([next.keyId, next.keyId, next.keyId]);

    const same = await runSecretsCli(['rotate', '--new-key-file', keyPath('cli-new.key')], { ...environment, SECRETS_KEY_FILE: keyPath('cli-new.key') });
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/^pbx-gateway: --new-key-file: .*holds the key in use already/);
  });

  it('a gateway process with the wrong key stops at the start with one line naming SECRETS_KEY_FILE', async () => {
    const gateway = await gatewayWithKey(keyPath('process.key'));
    const wrong = keyPath('process-wrong.key');
    fs.writeFileSync(wrong, `${SecretBox.newKey().toString('base64')}\n`, { mode: 0o600 });
    const run = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'src', 'main.js')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: '0', AUTH_DISABLED: 'true', LOG_LEVEL: 'error', MYSQL_URL: gateway.config.mysqlUrl, SECRETS_KEY_FILE: wrong },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`pbx-gateway: ${WRONG_KEY(wrong)}\n`);
  });
});
