import fs from 'node:fs';
import path from 'node:path';
import Joi from 'joi';
import { MIN_TOKEN_BITS, tokenStrengthBits } from './http/auth';
import { DEFAULT_EXTENSION_SETTINGS, EXTENSION_SETTING_NAMES, type ExtensionSettings } from './pbx/extension';
import { readMysqlUrl } from './db/mysql-url';

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
  /** PBX_CA_FILE: a PEM bundle trusted for an https PBX_URL beside the system's roots; empty or absent: the system's only. */
  readonly caFile?: string;
  /** PBX_ALLOW_HTTP: lets PBX_URL be http:// to a host that is not loopback (the credentials then cross the network in clear). */
  readonly allowHttp?: boolean;
}

/** POST /pbx/events (CONTRACT section 12): served while both credentials are set. */
export interface PbxEventsConfig {
  /** PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD: the HTTP Basic credentials Simotel sends; both empty: the endpoint is off. */
  readonly username: string;
  readonly password: string;
  /** PBX_EVENTS_DOMAIN: the local domain events import into; the first of LOCAL_DOMAINS unless set. */
  readonly domain: string;
}

/** TLS_CERT_FILE and TLS_KEY_FILE: both set, the gateway serves HTTPS only; both empty, plain HTTP. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
}

/** What the listening socket tolerates from clients (src/listener.ts). */
export interface ListenerConfig {
  /** The longest a client may take to send a request's headers. */
  readonly headersTimeoutMs: number;
  /** The longest a client may take to send a whole request, headers and body. */
  readonly receiveTimeoutMs: number;
  /** How long an idle keep-alive connection is kept open. */
  readonly keepAliveTimeoutMs: number;
  /** Connections open at once; more are closed as they arrive. */
  readonly maxConnections: number;
}

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly mysqlUrl: string;
  readonly mysqlPoolSize: number;
  readonly localDomains: readonly string[];
  readonly logLevel: string;
  readonly numbersMaxRange: number;
  /** PERMISSIONS: the names a user may be granted (user/change_permissions), kamctl's list by default. */
  readonly permissions: readonly string[];
  readonly authDisabled: boolean;
  readonly apiTokens: readonly ApiToken[];
  /** Requests per minute per client token unless the token has its own; 0 (the default): no such limit. */
  readonly rateLimitPerMinute: number;
  /** A client's requests in flight past which it gets 429 (CONTRACT section 3: 32). */
  readonly maxInFlight: number;
  /** Origins whose browser pages may call the nodes (CORS); none by default. */
  readonly corsOrigins: readonly string[];
  /** Requests a minute without a known token, per source address, before 429 (CONTRACT section 3: 60). */
  readonly unauthenticatedPerMinute: number;
  /** How many MySQL connections long work (full lists, add_range, pbx/sync) may hold at once. */
  readonly longWorkConnections: number;
  /** The longest a request waits for a MySQL connection before error/db. */
  readonly mysqlAcquireTimeoutMs: number;
  /** The longest a request may take before the client is answered error/internal. */
  readonly requestTimeoutMs: number;
  /** Whether /metrics is served and request counters are kept (off only to measure their cost). */
  readonly metricsEnabled: boolean;
  /** How often extensions in doubt are repaired (CONTRACT section 7: within 30 s). */
  readonly repairIntervalMs: number;
  /** The key the held passwords are sealed with (CONTRACT section 9): an absolute path, made on the first start. */
  readonly secretsKeyFile: string;
  readonly pbx: PbxConfig;
  readonly pbxEvents: PbxEventsConfig;
  /** NODE_ENV; `production` refuses the built-in PBX simulator. */
  readonly nodeEnv: string;
  readonly tls: TlsConfig;
  readonly listener: ListenerConfig;
  /** Where the admin token made at start (no API_TOKENS) is written, mode 0600; relative to the working directory. */
  readonly startTokenFile: string;
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
  PERMISSIONS: 'permissions',
  AUTH_DISABLED: 'authDisabled',
  API_TOKENS: 'apiTokens',
  RATE_LIMIT_PER_MINUTE: 'rateLimitPerMinute',
  MAX_IN_FLIGHT: 'maxInFlight',
  CORS_ORIGINS: 'corsOrigins',
  UNAUTHENTICATED_PER_MINUTE: 'unauthenticatedPerMinute',
  MYSQL_LONG_WORK_CONNECTIONS: 'longWorkConnections',
  MYSQL_ACQUIRE_TIMEOUT_MS: 'mysqlAcquireTimeoutMs',
  REQUEST_TIMEOUT_MS: 'requestTimeoutMs',
  METRICS_ENABLED: 'metricsEnabled',
  REPAIR_INTERVAL_MS: 'repairIntervalMs',
  SECRETS_KEY_FILE: 'secretsKeyFile',
  PBX_MAX_CONCURRENCY: 'pbx.maxConcurrency',
  PBX_URL: 'pbx.url',
  PBX_API_KEY: 'pbx.apiKey',
  PBX_USERNAME: 'pbx.username',
  PBX_PASSWORD: 'pbx.password',
  PBX_TIMEOUT_MS: 'pbx.timeoutMs',
  PBX_CA_FILE: 'pbx.caFile',
  PBX_ALLOW_HTTP: 'pbx.allowHttp',
  PBX_EVENTS_USERNAME: 'pbxEvents.username',
  PBX_EVENTS_PASSWORD: 'pbxEvents.password',
  PBX_EVENTS_DOMAIN: 'pbxEvents.domain',
  NODE_ENV: 'nodeEnv',
  TLS_CERT_FILE: 'tls.certFile',
  TLS_KEY_FILE: 'tls.keyFile',
  HEADERS_TIMEOUT_MS: 'listener.headersTimeoutMs',
  RECEIVE_TIMEOUT_MS: 'listener.receiveTimeoutMs',
  KEEP_ALIVE_TIMEOUT_MS: 'listener.keepAliveTimeoutMs',
  MAX_CONNECTIONS: 'listener.maxConnections',
  START_TOKEN_FILE: 'startTokenFile',
};

/** A PERMISSIONS name: a group name as Kamailio's group module keeps it (grp.grp is VARCHAR(64)). */
export const PERMISSION_NAME = /^[A-Za-z0-9._-]{1,64}$/;

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const MYSQL_URL_FORM = 'must be a URL like mysql://user:password@host:3306/database (several hosts for a Galera cluster: host1:3306,host2:3306)';

const tokenSchema = Joi.object({
  name: Joi.string().pattern(/^[A-Za-z0-9._-]{1,64}$/).required(),
  token: Joi.string().min(16).max(256).pattern(/^[\x21-\x7e]+$/).required(),
  scope: Joi.string().valid('read', 'write', 'admin').required(),
});

const schema = Joi.object<Config>({
  host: Joi.string().min(1).required(),
  port: Joi.number().integer().min(0).max(65535).required(),
  mysqlUrl: Joi.string()
    .custom((value: string, helpers) => (readMysqlUrl(value) ? value : helpers.error('string.uriCustomScheme')))
    .required()
    .messages({ 'string.uriCustomScheme': MYSQL_URL_FORM }),
  mysqlPoolSize: Joi.number().integer().min(1).max(200).required(),
  localDomains: Joi.array()
    .items(Joi.string().lowercase().pattern(HOSTNAME).messages({ 'string.pattern.base': 'must be DNS host names' }))
    .required(),
  logLevel: Joi.string().valid('error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly').required(),
  numbersMaxRange: Joi.number().integer().min(1).max(100_000_000).required(),
  permissions: Joi.array()
    .items(Joi.string().pattern(PERMISSION_NAME).messages({ 'string.pattern.base': 'must be names of 1–64 of A-Z a-z 0-9 . _ - (not {{#value}})' }))
    .unique()
    .messages({ 'array.unique': 'names {{#value}} twice' })
    .default(['local', 'ld', 'int', 'voicemail', 'free-pstn']),
  authDisabled: Joi.boolean().required(),
  apiTokens: Joi.array().items(tokenSchema).unique('name').unique('token').required(),
  rateLimitPerMinute: Joi.number().integer().min(0).max(10_000_000).default(0),
  maxInFlight: Joi.number().integer().min(1).max(100_000).default(32),
  corsOrigins: Joi.array()
    .items(Joi.string().pattern(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/).messages({ 'string.pattern.base': 'must be origins like https://helpdesk.example.com (scheme, host, optional port; no path)' }))
    .default([]),
  unauthenticatedPerMinute: Joi.number().integer().min(0).max(10_000_000).default(60),
  // Default: a quarter of the pool (at least one), so the rest always serves short requests.
  longWorkConnections: Joi.number().integer().min(1).max(200),
  mysqlAcquireTimeoutMs: Joi.number().integer().min(100).max(600_000).default(10_000),
  requestTimeoutMs: Joi.number().integer().min(100).max(600_000).default(30_000),
  metricsEnabled: Joi.boolean().default(true),
  repairIntervalMs: Joi.number().integer().min(100).max(25_000).default(5000),
  // Relative to the working directory, as an operator typing the setting means it.
  secretsKeyFile: Joi.string().min(1).default('secrets/secrets.key').custom((value: string) => path.resolve(value)),
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
    caFile: Joi.string().allow('').default(''),
    allowHttp: Joi.boolean().default(false),
  }).required(),
  pbxEvents: Joi.object({
    // Printable ASCII; a Basic user name cannot hold a colon.
    username: Joi.string().allow('').max(64).pattern(/^[\x21-\x39\x3b-\x7e]+$/).messages({ 'string.pattern.base': 'must be printable ASCII without spaces or colons' }).default(''),
    password: Joi.string().allow('').max(256).pattern(/^[\x21-\x7e]+$/).messages({ 'string.pattern.base': 'must be printable ASCII without spaces' }).default(''),
    domain: Joi.string().allow('').lowercase().pattern(HOSTNAME).messages({ 'string.pattern.base': 'must be a DNS host name' }).default(''),
  }).default(),
  nodeEnv: Joi.string().allow('').default('development'),
  tls: Joi.object({
    certFile: Joi.string().allow('').default(''),
    keyFile: Joi.string().allow('').default(''),
  }).default(),
  listener: Joi.object({
    headersTimeoutMs: Joi.number().integer().min(100).max(600_000).default(10_000),
    receiveTimeoutMs: Joi.number().integer().min(100).max(3_600_000).default(30_000),
    keepAliveTimeoutMs: Joi.number().integer().min(1).max(600_000).default(5_000),
    maxConnections: Joi.number().integer().min(1).max(1_000_000).default(1000),
  }).default(),
  startTokenFile: Joi.string().min(1).default('secrets/start-token'),
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

/** The entries of a comma-separated setting, trimmed, empty ones left out. */
function commaList(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function parseTokens(text: string): unknown[] {
  return commaList(text).map((entry) => {
    const [name, token, scope, ...rest] = entry.split(':');
    if (rest.length > 0 || scope === undefined) {
      throw new ConfigError('API_TOKENS: each entry must be name:token:scope (scope read, write or admin)');
    }
    return { name, token, scope };
  });
}

function fromEnvironment(variable: string, text: string): unknown {
  if (variable === 'LOCAL_DOMAINS' || variable === 'PERMISSIONS' || variable === 'CORS_ORIGINS') return commaList(text);
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

/** Settings that are each well-formed but do not fit together. */
function checkListener(config: Config): void {
  const { certFile, keyFile } = config.tls;
  if (certFile !== '' && keyFile === '') throw new ConfigError('TLS_KEY_FILE: required when TLS_CERT_FILE is set (set both for HTTPS, or neither)');
  if (keyFile !== '' && certFile === '') throw new ConfigError('TLS_CERT_FILE: required when TLS_KEY_FILE is set (set both for HTTPS, or neither)');
  const { headersTimeoutMs, receiveTimeoutMs } = config.listener;
  if (headersTimeoutMs > receiveTimeoutMs) {
    throw new ConfigError(`HEADERS_TIMEOUT_MS: ${headersTimeoutMs} is longer than RECEIVE_TIMEOUT_MS (${receiveTimeoutMs}), which covers the headers too`);
  }
}

/**
 * The events endpoint is on with both credentials, off with neither; its password must be as hard
 * to guess as a token (anyone who knows it can make the gateway ask the PBX). Answers the events
 * settings with their domain resolved.
 */
function checkPbxEvents(events: PbxEventsConfig, localDomains: readonly string[]): PbxEventsConfig {
  const { username, password } = events;
  if (username === '' && password === '') return events;
  if (password === '') throw new ConfigError('PBX_EVENTS_PASSWORD: required when PBX_EVENTS_USERNAME is set (set both to serve POST /pbx/events, or neither)');
  if (username === '') throw new ConfigError('PBX_EVENTS_USERNAME: required when PBX_EVENTS_PASSWORD is set (set both to serve POST /pbx/events, or neither)');
  const bits = tokenStrengthBits(password);
  if (bits < MIN_TOKEN_BITS) {
    throw new ConfigError(`PBX_EVENTS_PASSWORD: too weak (about ${bits} bits, at least ${MIN_TOKEN_BITS} needed); use 32 random bytes, e.g. openssl rand -base64 32`);
  }
  const domain = events.domain || localDomains[0];
  if (domain === undefined) throw new ConfigError('PBX_EVENTS_DOMAIN: required when LOCAL_DOMAINS is empty (the local domain PBX events import into)');
  return { ...events, domain };
}

/** 127.0.0.0/8, ::1 and localhost: a PBX there is reached without crossing a network. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Whether the PBX credentials would cross a network in clear (an http PBX_URL to a host that is not loopback). */
export function isCleartextPbx(pbx: PbxConfig): boolean {
  if (pbx.url === '') return false;
  const url = new URL(pbx.url);
  return url.protocol === 'http:' && !isLoopbackHost(url.hostname);
}

// Checked here rather than in the PBX client, so every entry point (npm start, npm run sync) refuses
// it before the first call, and the client's own tests may still talk to nock over http.
function checkPbxTransport(pbx: PbxConfig): void {
  if (pbx.allowHttp || !isCleartextPbx(pbx)) return;
  throw new ConfigError(
    `PBX_URL: http:// to ${new URL(pbx.url).hostname} would send PBX_API_KEY and the Basic credentials in clear; ` +
      'use https:// (PBX_CA_FILE for a private CA), or set PBX_ALLOW_HTTP=true to accept that',
  );
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
  for (const token of value.apiTokens) {
    const bits = tokenStrengthBits(token.token);
    if (bits < MIN_TOKEN_BITS) {
      throw new ConfigError(
        `API_TOKENS: the token named ${token.name} is too weak (about ${bits} bits, at least ${MIN_TOKEN_BITS} needed); use 32 random bytes, e.g. openssl rand -base64 32`,
      );
    }
  }
  checkListener(value);
  checkPbxTransport(value.pbx);
  const pbxEvents = checkPbxEvents(value.pbxEvents, value.localDomains);
  const longWorkConnections = Math.min(value.mysqlPoolSize, value.longWorkConnections ?? Math.max(1, Math.floor(value.mysqlPoolSize / 4)));
  const pbx = value.pbx as PbxConfig & { extensionDefaults?: Partial<ExtensionSettings> };
  return deepFreeze({ ...value, longWorkConnections, pbxEvents, pbx: { ...pbx, extensionDefaults: { ...DEFAULT_EXTENSION_SETTINGS, ...pbx.extensionDefaults } } });
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
