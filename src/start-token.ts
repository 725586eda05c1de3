import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config';

/**
 * Writes this run's admin token to `file` (START_TOKEN_FILE) with mode 0600, in a directory made with
 * mode 0700 when missing, replacing what a previous start left there, and returns the token. The
 * token goes to a file, not to stderr: a supervisor (systemd, Docker, CI) keeps stderr in a log that
 * more people read than the gateway's working directory.
 */
export function writeStartToken(file: string): string {
  const token = randomBytes(32).toString('base64url');
  const target = path.resolve(file);
  const directory = path.dirname(target);
  // Written beside the target and renamed over it: readers never see half a token, and a symlink
  // planted at the target is replaced rather than followed ('wx' refuses one at the temporary name).
  const temporary = path.join(directory, `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    const handle = fs.openSync(temporary, 'wx', 0o600);
    try {
      fs.writeFileSync(handle, `${token}\n`);
    } finally {
      fs.closeSync(handle);
    }
    fs.renameSync(temporary, target);
  } catch (error) {
    try {
      fs.rmSync(temporary, { force: true });
    } catch {
      // nothing was made there
    }
    const { code, message } = error as { code?: string; message?: string };
    throw new ConfigError(`START_TOKEN_FILE: cannot write the start token to ${target} (${code ?? message ?? 'unknown error'}); set API_TOKENS, or a writable START_TOKEN_FILE`);
  }
  return token;
}

/** The path as an operator would type it from the working directory. */
export function shownPath(file: string): string {
  const relative = path.relative(process.cwd(), path.resolve(file));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : path.resolve(file);
}
