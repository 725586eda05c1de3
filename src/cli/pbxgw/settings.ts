import fs from 'node:fs';
import { UsageError } from './io';

// Where pbxgw goes and who it says it is (CONTRACT section 10): an option, else its PBXGW_*
// variable, else the default. The token is never part of a message: they name where it came from.

export const DEFAULT_URL = 'http://127.0.0.1:8080';
export const DEFAULT_TIMEOUT_SECONDS = 60;
export const DEFAULT_RETRIES = 5;

/** The global options as commander parsed them. */
export interface GlobalOptions {
  readonly url?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly json?: boolean;
  readonly timeout?: number;
  readonly retries?: number;
  readonly verbose?: boolean;
}

export interface Settings {
  readonly url: string;
  readonly token: string | null;
  /** Where the token came from ('--token', 'PBXGW_TOKEN_FILE (secrets/start-token)'), for messages; null without one. */
  readonly tokenSource: string | null;
  /** JSON on stdout even on a terminal. */
  readonly json: boolean;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly verbose: boolean;
}

/** A number of seconds, > 0 (for --timeout). */
export function parseSeconds(text: string): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > 86_400) throw new UsageError(`not a number of seconds (0 < s <= 86400): '${text}'`);
  return seconds;
}

/** A count of retries, 0–100 (for --retries). */
export function parseRetries(text: string): number {
  if (!/^\d{1,3}$/.test(text.trim()) || Number(text) > 100) throw new UsageError(`not a number of retries (0-100): '${text}'`);
  return Number(text);
}

const set = (value: string | undefined): value is string => value !== undefined && value !== '';

function checkedUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${source}: not a URL: '${url}'`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`${source}: not an http or https URL: '${url}'`);
  // Not shown: it may hold a password.
  if (parsed.username !== '' || parsed.password !== '') throw new UsageError(`${source}: the URL must not carry a user name or password (give the token with --token-file or PBXGW_TOKEN_FILE)`);
  if (parsed.search !== '' || parsed.hash !== '') throw new UsageError(`${source}: the gateway's base URL takes no query or fragment: '${url}'`);
  return parsed.href.replace(/\/+$/, '');
}

/** The token a file holds (its first line, surrounding whitespace dropped). */
function tokenFromFile(file: string, source: string): string {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${source}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const token = content.split('\n')[0].trim();
  if (token === '') throw new UsageError(`${source}: ${file} holds no token`);
  return token;
}

/** The token and where it came from: --token, --token-file, PBXGW_TOKEN, PBXGW_TOKEN_FILE, in that order. */
function tokenOf(options: GlobalOptions, env: NodeJS.ProcessEnv): { token: string; source: string } | null {
  let found: { token: string; source: string } | null = null;
  if (set(options.token)) found = { token: options.token, source: '--token' };
  else if (set(options.tokenFile)) found = { token: tokenFromFile(options.tokenFile, '--token-file'), source: `--token-file (${options.tokenFile})` };
  else if (set(env.PBXGW_TOKEN)) found = { token: env.PBXGW_TOKEN, source: 'PBXGW_TOKEN' };
  else if (set(env.PBXGW_TOKEN_FILE)) found = { token: tokenFromFile(env.PBXGW_TOKEN_FILE, 'PBXGW_TOKEN_FILE'), source: `PBXGW_TOKEN_FILE (${env.PBXGW_TOKEN_FILE})` };
  // What an Authorization header can carry (and what the gateway's tokens are made of).
  if (found && !/^[\x21-\x7e]+$/.test(found.token)) throw new UsageError(`the token from ${found.source} holds characters other than printable ASCII without spaces`);
  return found;
}

function fromEnvironment<T>(env: NodeJS.ProcessEnv, name: string, parse: (text: string) => T): T | undefined {
  const value = env[name];
  if (!set(value)) return undefined;
  try {
    return parse(value);
  } catch (error) {
    throw new UsageError(`${name}: ${(error as Error).message}`);
  }
}

export function resolveSettings(options: GlobalOptions, env: NodeJS.ProcessEnv): Settings {
  const url = set(options.url) ? checkedUrl(options.url, '--url') : set(env.PBXGW_URL) ? checkedUrl(env.PBXGW_URL, 'PBXGW_URL') : DEFAULT_URL;
  const token = tokenOf(options, env);
  const timeout = options.timeout ?? fromEnvironment(env, 'PBXGW_TIMEOUT', parseSeconds) ?? DEFAULT_TIMEOUT_SECONDS;
  return {
    url,
    token: token?.token ?? null,
    tokenSource: token?.source ?? null,
    json: options.json === true,
    timeoutMs: Math.round(timeout * 1000),
    retries: options.retries ?? fromEnvironment(env, 'PBXGW_RETRIES', parseRetries) ?? DEFAULT_RETRIES,
    verbose: options.verbose === true,
  };
}
