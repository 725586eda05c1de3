import fs from 'node:fs';
import path from 'node:path';
import Joi from 'joi';
import { DEFAULT_EXTENSION_SETTINGS, EXTENSION_SETTING_NAMES, type ExtensionSettings } from './pbx/extension';

export type Scope = 'read' | 'write' | 'admin';

export interface ApiToken {
  readonly name: string;
  readonly token: string;
  readonly scope: Scope;
}

export interface PbxConfig {
  /** Base URL ending in /api/v4; empty means "run the built-in simulator". */
  readonly url: string;
  readonly apiKey: string;
  readonly username: string;
  readonly password: string;
  readonly timeoutMs: number;
  /** The most PBX calls in flight at once from this process; more wait their turn. */
  readonly maxConcurrency: number;
  /** Field values for a new extension (users/add), over the seed's defaults. */
  readonly extensionDefaults: ExtensionSettings;
}

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly mysqlUrl: string;
  readonly mysqlPoolSize: number;
  readonly localDomains: readonly string[];
  readonly logLevel: string;
  readonly numbersMaxRange: number;
  readonly authDisabled: boolean;
  readonly apiTokens: readonly ApiToken[];
  /** Requests per minute per client token (per address without one); 0 turns the limit off. */
  readonly rateLimitPerMinute: number;
  /** The longest a request may take before the client is answered error/internal. */
  readonly requestTimeoutMs: number;
  /** Whether /metrics is served and request counters are kept (off only to measure their cost). */
  readonly metricsEnabled: boolean;
  /** How often extensions in doubt are repaired (CONTRACT section 7: within 30 s). */
  readonly repairIntervalMs: number;
  readonly pbx: PbxConfig;
}

/** A setting that stops the start: the message is the one line the operator sees. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

// Which environment variable overrides which config path. The names are the contract's (section 2).
const ENVIRONMENT: Record<string, string> = {
  HOST: 'host',
  PORT: 'port',
  MYSQL_URL: 'mysqlUrl',
  MYSQL_POOL_SIZE: 'mysqlPoolSize',
  LOCAL_DOMAINS: 'localDomains',
  LOG_LEVEL: 'logLevel',
  NUMBERS_MAX_RANGE: 'numbersMaxRange',
  AUTH_DISABLED: 'authDisabled',
  API_TOKENS: 'apiTokens',
  RATE_LIMIT_PER_MINUTE: 'rateLimitPerMinute',
  REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  METRICS_ENABLED: 'metricsEnabled',
  REPAIR_INTERVAL_MS: 'repairIntervalMs',
  PBX_MAX_CONCURRENCY: 'pbx.maxConcurrency',
  PBX_URL: 'pbx.url',
  PBX_API_KEY: 'pbx.apiKey',
  PBX_USERNAME: 'pbx.username',
  PBX_PASSWORD: 'pbx.password',
  PBX_TIMEOUT_MS: 'pbx.timeoutMs',
};

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const MYSQL_URL_FORM = 'must be a URL like mysql://user:password@host:3306/database';

/** A host, a valid port if any, and a database name as the pool accepts it (see db/pool.ts). */
function isMysqlUrl(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  let database: string;
  try {
    database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } catch {
    return false;
  }
  return url.protocol === 'mysql:' && url.hostname !== '' && /^[A-Za-z0-9_$]{1,64}$/.test(database);
}

const tokenSchema = Joi.object({
  name: Joi.string().pattern(/^[A-Za-z0-9._-]{1,64}$/).required(),
  token: Joi.string().min(16).max(256).pattern(/^[\x21-\x7e]+$/).required(),
  scope: Joi.string().valid('read', 'write', 'admin').required(),
});

const schema = Joi.object<Config>({
  host: Joi.string().min(1).required(),
  port: Joi.number().integer().min(0).max(65535).required(),
  mysqlUrl: Joi.string()
    .uri({ scheme: ['mysql'] })
    .custom((value: string, helpers) => (isMysqlUrl(value) ? value : helpers.error('string.uriCustomScheme')))
    .required()
    .messages({ 'string.uriCustomScheme': MYSQL_URL_FORM }),
  mysqlPoolSize: Joi.number().integer().min(1).max(200).required(),
  localDomains: Joi.array()
    .items(Joi.string().lowercase().pattern(HOSTNAME).messages({ 'string.pattern.base': 'must be DNS host names' }))
    .required(),
  logLevel: Joi.string().valid('error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly').required(),
  numbersMaxRange: Joi.number().integer().min(1).max(100_000_000).required(),
  authDisabled: Joi.boolean().required(),
  apiTokens: Joi.array().items(tokenSchema).unique('name').unique('token').required(),
  rateLimitPerMinute: Joi.number().integer().min(0).max(10_000_000).default(1200),
  requestTimeoutMs: Joi.number().integer().min(100).max(600_000).default(30_000),
  metricsEnabled: Joi.boolean().default(true),
  repairIntervalMs: Joi.number().integer().min(100).max(25_000).default(5000),
  pbx: Joi.object({
    url: Joi.string()
      .allow('')
      .uri({ scheme: ['http', 'https'] })
      .pattern(/\/api\/v4\/?$/)
      .messages({ 'string.pattern.base': 'must end in /api/v4' })
      .required(),
    apiKey: Joi.string().allow('').required(),
    username: Joi.string().allow('').required(),
    password: Joi.string().allow('').required(),
    timeoutMs: Joi.number().integer().min(1).max(600_000).required(),
    maxConcurrency: Joi.number().integer().min(1).max(1000).default(8),
    extensionDefaults: Joi.object(Object.fromEntries(EXTENSION_SETTING_NAMES.map((name) => [name, Joi.string().allow('').max(255)]))),
  }).required(),
});

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) {
    node[key] = { ...((node[key] as Record<string, unknown>) ?? {}) };
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

function parseTokens(text: string): unknown[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const [name, token, scope, ...rest] = entry.split(':');
      if (rest.length > 0 || scope === undefined) {
        throw new ConfigError('API_TOKENS: each entry must be name:token:scope (scope read, write or admin)');
      }
      return { name, token, scope };
    });
}

function fromEnvironment(variable: string, text: string): unknown {
  if (variable === 'LOCAL_DOMAINS') {
    return text
      .split(',')
      .map((domain) => domain.trim())
      .filter((domain) => domain !== '');
  }
  if (variable === 'API_TOKENS') return parseTokens(text);
  return text;
}

function readJson(file: string): Record<string, unknown> {
  if (!fs.existsSync(file)) return {};
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON (${(error as Error).message})`);
  }
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = merged[key];
    merged[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object'
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return merged;
}

function settingName(pathKey: string): string {
  const variable = Object.entries(ENVIRONMENT).find(([, dotted]) => pathKey === dotted || pathKey.startsWith(`${dotted}.`));
  return variable ? variable[0] : pathKey;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates a raw configuration object (already merged) and returns it typed and frozen.
 * Tests call this with their own objects instead of touching process.env.
 */
export function validateConfig(raw: Record<string, unknown>): Config {
  const { error, value } = schema.validate(raw, { abortEarly: true, convert: true, allowUnknown: false });
  if (error) {
    const detail = error.details[0];
    const where = settingName(detail.path.join('.'));
    const message = detail.message.replace(/^"[^"]*" /, '');
    throw new ConfigError(`${where} ${message}`);
  }
  const pbx = value.pbx as PbxConfig & { extensionDefaults?: Partial<ExtensionSettings> };
  return deepFreeze({ ...value, pbx: { ...pbx, extensionDefaults: { ...DEFAULT_EXTENSION_SETTINGS, ...pbx.extensionDefaults } } });
}

/** Reads config/default.json, config/local.json, then environment variables (which win). */
export function loadConfig(
  environment: NodeJS.ProcessEnv = process.env,
  directory = path.resolve(__dirname, '..', '..', 'config'),
): Config {
  const configDirectory = fs.existsSync(directory) ? directory : path.resolve(__dirname, '..', 'config');
  let raw = deepMerge(readJson(path.join(configDirectory, 'default.json')), readJson(path.join(configDirectory, 'local.json')));
  for (const [variable, dotted] of Object.entries(ENVIRONMENT)) {
    const text = environment[variable];
    if (text === undefined) continue;
    const overlay: Record<string, unknown> = {};
    setPath(overlay, dotted, fromEnvironment(variable, text));
    raw = deepMerge(raw, overlay);
  }
  return validateConfig(raw);
}
