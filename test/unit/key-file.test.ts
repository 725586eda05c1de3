import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config';
import { openKeyFile } from '../../src/secrets/key-file';
import { SecretBox } from '../../src/secrets/secret-box';

// SECRETS_KEY_FILE (CONTRACT section 2): made with mode 0600 when missing, never overwritten, and
// refused with one line naming the setting when it is not a private file holding one key.

let directory: string;

beforeEach(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-key-'));
});

afterEach(() => {
  fs.rmSync(directory, { recursive: true, force: true });
});

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('openKeyFile', () => {
  it('makes a missing file (and its directory) private, with one line of base64 of 32 bytes', () => {
    const file = path.join(directory, 'nested', 'secrets.key');
    const made = openKeyFile(file);
    expect(made.created).toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(file, 'ascii')).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['secrets.key']);
    const again = openKeyFile(file);
    expect(again.created).toBe(false);
    expect(again.box.keyId).toBe(made.box.keyId);
  });

  it('never overwrites a file that is there, and reads the form openssl rand -base64 32 writes', () => {
    const file = path.join(directory, 'secrets.key');
    const key = SecretBox.newKey();
    fs.writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600 });
    expect(openKeyFile(file).box.keyId).toBe(new SecretBox(key).keyId);
    expect(fs.readFileSync(file, 'ascii')).toBe(`${key.toString('base64')}\n`);
  });

  it('refuses a file others may read, saying chmod 600', () => {
    const file = path.join(directory, 'secrets.key');
    openKeyFile(file);
    fs.chmodSync(file, 0o644);
    const message = refusal(() => openKeyFile(file));
    expect(message).toMatch(/^SECRETS_KEY_FILE: /);
    expect(message).toContain('chmod 600');
    expect(message).toContain('0644');
  });

  it.each([
    ['a key of 16 bytes', `${Buffer.alloc(16, 1).toString('base64')}\n`],
    ['an empty file', ''],
    ['a raw 32-byte key', Buffer.alloc(32, 7).toString('latin1')],
    ['two keys', `${SecretBox.newKey().toString('base64')}\n${SecretBox.newKey().toString('base64')}\n`],
  ])('refuses %s with one line naming SECRETS_KEY_FILE', (_what, content) => {
    const file = path.join(directory, 'secrets.key');
    fs.writeFileSync(file, content, { mode: 0o600 });
    const message = refusal(() => openKeyFile(file));
    expect(message).toMatch(/^SECRETS_KEY_FILE: .*does not hold a key/);
    expect(message).not.toContain('\n');
  });

  it('refuses a directory, and names the setting it was given', () => {
    expect(refusal(() => openKeyFile(directory, { setting: '--new-key-file' }))).toMatch(/^--new-key-file: .* is not a regular file/);
  });

  it('does not make the file when asked not to', () => {
    const file = path.join(directory, 'missing.key');
    expect(refusal(() => openKeyFile(file, { create: false }))).toMatch(/^SECRETS_KEY_FILE: cannot read the key file .*ENOENT/);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('SECRETS_KEY_FILE', () => {
  const config = path.resolve(__dirname, '..', '..', 'config');

  it('defaults to secrets/secrets.key under the working directory', () => {
    expect(loadConfig({}, config).secretsKeyFile).toBe(path.resolve('secrets', 'secrets.key'));
  });

  it('is resolved against the working directory', () => {
    expect(loadConfig({ SECRETS_KEY_FILE: 'keys/gateway.key' }, config).secretsKeyFile).toBe(path.resolve('keys', 'gateway.key'));
    expect(loadConfig({ SECRETS_KEY_FILE: '/etc/pbxgw/secrets.key' }, config).secretsKeyFile).toBe('/etc/pbxgw/secrets.key');
  });

  it('may not be empty', () => {
    expect(() => loadConfig({ SECRETS_KEY_FILE: '' }, config)).toThrow(/^SECRETS_KEY_FILE /);
  });
});
