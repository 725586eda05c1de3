import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../config';
import { KEY_BYTES, SecretBox } from './secret-box';

// The key file holds the 32 key bytes as one line of base64 (44 characters and a newline): the form
// `openssl rand -base64 32 > FILE` writes, and one that survives copying between machines.

const KEY_TEXT = /^[A-Za-z0-9+/]{43}=$/;

export interface KeyFile {
  readonly path: string;
  readonly box: SecretBox;
  /** Whether this call made the file (it did not exist). */
  readonly created: boolean;
}

export interface KeyFileOptions {
  /** The setting the file comes from, named in every refusal (default SECRETS_KEY_FILE). */
  readonly setting?: string;
  /** Make a new random key when the file does not exist (default true). */
  readonly create?: boolean;
}

function errorCode(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  return code ?? message ?? String(error);
}

/**
 * Writes a new key to `file` unless a file is there already: the key goes to a private temporary
 * file first, which is then hard-linked into place. link() never replaces a file and is atomic, so
 * two gateways starting at once agree on one key, and no reader ever sees a half-written one.
 */
function createKeyFile(file: string, setting: string): boolean {
  const directory = path.dirname(file);
  const temporary = path.join(directory, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    if (!fs.existsSync(directory)) fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    const descriptor = fs.openSync(temporary, 'wx', 0o600);
    try {
      fs.fchmodSync(descriptor, 0o600);
      fs.writeSync(descriptor, `${SecretBox.newKey().toString('base64')}\n`);
      fs.fsyncSync(descriptor);
    } finally {
      fs.closeSync(descriptor);
    }
    fs.linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new ConfigError(`${setting}: cannot create the key file ${file} (${errorCode(error)})`);
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/**
 * Reads the secrets key from `file` (an absolute path), making the file first when it is missing.
 * A file that is not a private regular file holding one base64 key stops the start with one line
 * naming the setting: a key others can read is a leak already, so it is refused, not used.
 */
export function openKeyFile(file: string, options: KeyFileOptions = {}): KeyFile {
  const setting = options.setting ?? 'SECRETS_KEY_FILE';
  const created = (options.create ?? true) && !fs.existsSync(file) ? createKeyFile(file, setting) : false;
  let stat: fs.Stats;
  let text: string;
  try {
    stat = fs.statSync(file);
    if (!stat.isFile()) throw new ConfigError(`${setting}: ${file} is not a regular file`);
    text = fs.readFileSync(file, 'ascii');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${setting}: cannot read the key file ${file} (${errorCode(error)})`);
  }
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError(`${setting}: ${file} may be read by other users (mode ${mode}); run chmod 600 ${file}`);
  }
  const line = text.trim();
  if (!KEY_TEXT.test(line)) {
    throw new ConfigError(`${setting}: ${file} does not hold a key (one line of base64 of ${KEY_BYTES} random bytes, e.g. openssl rand -base64 32)`);
  }
  return { path: file, box: new SecretBox(Buffer.from(line, 'base64')), created };
}
