import { DEFAULT_EXTENSION_SETTINGS } from '../../src/pbx/extension';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig, validateConfig, type Config } from '../../src/config';

const BASE = {
  host: '127.0.0.1',
  port: 8080,
  mysqlUrl: 'mysql://root@127.0.0.1:3306/pbxgw',
  mysqlPoolSize: 10,
  localDomains: ['pbx.local'],
  logLevel: 'info',
  numbersMaxRange: 1000000,
  authDisabled: false,
  apiTokens: [],
  pbx: { url: '', apiKey: '', username: '', password: '', timeoutMs: 5000 },
};

const directories: string[] = [];

/** A config directory of its own with default.json (and local.json when given). */
function configDirectory(defaults: Record<string, unknown> = BASE, local?: Record<string, unknown>): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-config-'));
  directories.push(directory);
  fs.writeFileSync(path.join(directory, 'default.json'), JSON.stringify(defaults));
  if (local) fs.writeFileSync(path.join(directory, 'local.json'), JSON.stringify(local));
  return directory;
}

afterAll(() => {
  for (const directory of directories) fs.rmSync(directory, { recursive: true, force: true });
});

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('validateConfig', () => {
  it('accepts a complete configuration and freezes it', () => {
    const config = validateConfig(structuredClone(BASE));
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, localDomains: ['pbx.local'], numbersMaxRange: 1000000 });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.pbx)).toBe(true);
    expect(Object.isFrozen(config.localDomains)).toBe(true);
  });

  it('converts numeric and boolean strings', () => {
    const config = validateConfig({ ...BASE, port: '9090', authDisabled: 'true', numbersMaxRange: '50' });
    expect(config.port).toBe(9090);
    expect(config.authDisabled).toBe(true);
    expect(config.numbersMaxRange).toBe(50);
  });

  it('lower-cases local domains', () => {
    expect(validateConfig({ ...BASE, localDomains: ['PBX.Local'] }).localDomains).toEqual(['pbx.local']);
  });

  it.each([
    ['PORT', { port: 70000 }],
    ['PORT', { port: 'eighty' }],
    ['MYSQL_URL', { mysqlUrl: 'postgres://x@y/z' }],
    ['MYSQL_POOL_SIZE', { mysqlPoolSize: 0 }],
    ['LOCAL_DOMAINS', { localDomains: ['not a domain'] }],
    ['LOG_LEVEL', { logLevel: 'loud' }],
    ['NUMBERS_MAX_RANGE', { numbersMaxRange: 0 }],
    ['AUTH_DISABLED', { authDisabled: 'maybe' }],
    ['API_TOKENS', { apiTokens: [{ name: 'ops', token: 'short', scope: 'admin' }] }],
    ['PBX_URL', { pbx: { ...BASE.pbx, url: 'http://pbx.example.com/' } }],
    ['PBX_TIMEOUT_MS', { pbx: { ...BASE.pbx, timeoutMs: 0 } }],
  ])('names %s when its value is malformed', (name, change) => {
    const error = configError(() => validateConfig({ ...structuredClone(BASE), ...change }));
    expect(error.message.startsWith(`${name} `)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  it('names a missing setting', () => {
    const { host: _host, ...withoutHost } = structuredClone(BASE);
    expect(configError(() => validateConfig(withoutHost)).message).toMatch(/^HOST /);
  });

  it.each([
    ['16 printable characters', 'Ab3$Ef6&Hi9*Kl2!'],
    ['16 hex digits', '0123456789abcdef'],
    ['a long run of one character', 'x'.repeat(64)],
    ['two characters repeated', 'ab'.repeat(32)],
  ])('refuses a token weaker than 128 bits (%s), naming it and API_TOKENS', (_what, token) => {
    const error = configError(() => validateConfig({ ...BASE, apiTokens: [{ name: 'ops', token, scope: 'admin' }] }));
    expect(error.message).toMatch(/^API_TOKENS: the token named ops is too weak/);
    expect(error.message).not.toContain(token);
  });

  it.each([
    ['32 random bytes in base64url (what tokens/add makes)', 'pQ8v3Zk1xR7mN2bT9wL4yH6cJ0sF5gD-eA_uK3iO8Vo'],
    ['32 hex digits (128 bits)', '9f86d081884c7d659a2feaa0c55ad015'],
    ['24 random bytes in base64', 'Kf3jX9vQ2mLp8Rt5Wz7Yb4Nc6Hd1Sg0E'],
  ])('accepts a strong token: %s', (_what, token) => {
    expect(validateConfig({ ...BASE, apiTokens: [{ name: 'ops', token, scope: 'admin' }] }).apiTokens).toHaveLength(1);
  });

  it('refuses two tokens with the same name or the same token', () => {
    const token = { name: 'a', token: 'Kf3jX9vQ2mLp8Rt5Wz7Yb4Nc6Hd1Sg0E', scope: 'read' };
    expect(configError(() => validateConfig({ ...BASE, apiTokens: [token, { ...token, token: 'u8Hq2Zr5Tn9Lw3Xv6Pc1Mb4Ky7Gd0Fs' }] })).message).toMatch(/^API_TOKENS /);
    expect(configError(() => validateConfig({ ...BASE, apiTokens: [token, { ...token, name: 'b' }] })).message).toMatch(/^API_TOKENS /);
  });
});

describe('loadConfig', () => {
  it('reads default.json when no environment variable is set', () => {
    const config: Config = loadConfig({}, configDirectory({ ...BASE, port: 8123, host: '0.0.0.0' }));
    expect(config.port).toBe(8123);
    expect(config.host).toBe('0.0.0.0');
  });

  it('lets local.json override default.json, merging nested objects', () => {
    const directory = configDirectory(BASE, { port: 8200, pbx: { apiKey: 'from-local' } });
    const config = loadConfig({}, directory);
    expect(config.port).toBe(8200);
    expect(config.pbx.apiKey).toBe('from-local');
    expect(config.pbx.timeoutMs).toBe(5000);
  });

  it('lets environment variables override the files', () => {
    const directory = configDirectory(BASE, { port: 8200, logLevel: 'warn' });
    const config = loadConfig(
      {
        HOST: '0.0.0.0',
        PORT: '9300',
        MYSQL_URL: 'mysql://gw:secret@db.example:3307/other',
        MYSQL_POOL_SIZE: '4',
        LOCAL_DOMAINS: 'a.example, B.Example,,',
        LOG_LEVEL: 'debug',
        NUMBERS_MAX_RANGE: '500',
        AUTH_DISABLED: 'true',
        API_TOKENS: 'ops:Kf3jX9vQ2mLp8Rt5Wz7Yb4Nc6Hd1Sg0E:admin, desk:u8Hq2Zr5Tn9Lw3Xv6Pc1Mb4Ky7Gd0Fs:read',
        PBX_URL: 'https://pbx.example.com/api/v4',
        PBX_API_KEY: 'key',
        PBX_USERNAME: 'user',
        PBX_PASSWORD: 'pass',
        PBX_TIMEOUT_MS: '1500',
      },
      directory,
    );
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 9300,
      mysqlUrl: 'mysql://gw:secret@db.example:3307/other',
      mysqlPoolSize: 4,
      localDomains: ['a.example', 'b.example'],
      logLevel: 'debug',
      numbersMaxRange: 500,
      authDisabled: true,
      apiTokens: [
        { name: 'ops', token: 'Kf3jX9vQ2mLp8Rt5Wz7Yb4Nc6Hd1Sg0E', scope: 'admin' },
        { name: 'desk', token: 'u8Hq2Zr5Tn9Lw3Xv6Pc1Mb4Ky7Gd0Fs', scope: 'read' },
      ],
      pbx: {
        url: 'https://pbx.example.com/api/v4',
        apiKey: 'key',
        username: 'user',
        password: 'pass',
        timeoutMs: 1500,
        maxConcurrency: 8,
        extensionDefaults: DEFAULT_EXTENSION_SETTINGS,
      },
      rateLimitPerMinute: 0,
      maxInFlight: 32,
      unauthenticatedPerMinute: 60,
      longWorkConnections: 1,
      mysqlAcquireTimeoutMs: 10000,
      repairIntervalMs: 5000,
      requestTimeoutMs: 30000,
      metricsEnabled: true,
    });
  });

  it('takes extension defaults from the files over the seed defaults', () => {
    const config = loadConfig({}, configDirectory(BASE, { pbx: { extensionDefaults: { context: 'office', call_record: 'yes' } } }));
    expect(config.pbx.extensionDefaults).toEqual({ ...DEFAULT_EXTENSION_SETTINGS, context: 'office', call_record: 'yes' });
  });

  it('keeps the file values an environment variable does not override', () => {
    const config = loadConfig({ PBX_API_KEY: 'env-key' }, configDirectory(BASE, { pbx: { username: 'file-user' } }));
    expect(config.pbx.apiKey).toBe('env-key');
    expect(config.pbx.username).toBe('file-user');
  });

  it('ignores environment variables it does not know', () => {
    const config = loadConfig({ PATH: '/usr/bin', UNRELATED: 'x' }, configDirectory());
    expect(config.port).toBe(8080);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['PORT', ''],
    ['MYSQL_URL', 'not a url'],
    ['MYSQL_URL', 'http://127.0.0.1:3306/pbxgw'],
    ['MYSQL_URL', 'mysql://root@127.0.0.1:3306'],
    ['MYSQL_URL', 'mysql://root@127.0.0.1:3306/'],
    ['MYSQL_URL', 'mysql://root@127.0.0.1:3306/bad-name'],
    ['MYSQL_URL', 'mysql://root@127.0.0.1:99999/pbxgw'],
    ['MYSQL_URL', 'mysql:pbxgw'],
    ['API_TOKENS', 'ops'],
    ['API_TOKENS', 'ops:0123456789abcdef'],
    ['API_TOKENS', 'ops:0123456789abcdef:admin:extra'],
    ['API_TOKENS', 'ops:0123456789abcdef:admin'],
    ['API_TOKENS', 'ops:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:admin'],
    ['API_TOKENS', 'ops:short:admin'],
    ['API_TOKENS', 'ops:Kf3jX9vQ2mLp8Rt5Wz7Yb4Nc6Hd1Sg0E:root'],
    ['API_TOKENS', 'ops:Kf3jX9vQ2mLp8Rt5Wz7Yb4Nc6Hd1Sg0E:admin,ops:u8Hq2Zr5Tn9Lw3Xv6Pc1Mb4Ky7Gd0Fs:read'],
    ['PBX_URL', 'not a url'],
    ['PBX_URL', 'ftp://pbx.example.com/api/v4'],
    ['PBX_URL', 'http://pbx.example.com/api/v3'],
    ['PBX_TIMEOUT_MS', 'soon'],
    ['NUMBERS_MAX_RANGE', '0'],
    ['LOCAL_DOMAINS', 'pbx.local,not a domain'],
    ['LOG_LEVEL', 'chatty'],
    ['AUTH_DISABLED', 'perhaps'],
  ])('stops with a ConfigError naming %s for %j', (variable, value) => {
    const error = configError(() => loadConfig({ [variable]: value }, configDirectory()));
    expect(error.message.startsWith(variable)).toBe(true);
    expect(error.message).not.toContain('\n');
  });

  it.each(['mysql://root@127.0.0.1:3306/pbxgw', 'mysql://gw:p%40ss@db.example/pbx_gw$1', 'mysql://localhost/x'])('accepts MYSQL_URL %j', (url) => {
    expect(loadConfig({ MYSQL_URL: url }, configDirectory()).mysqlUrl).toBe(url);
  });

  it('does not leak a malformed token in the message', () => {
    const error = configError(() => loadConfig({ API_TOKENS: 'ops:sh0rtSecret:admin' }, configDirectory()));
    expect(error.message).not.toContain('sh0rtSecret');
  });

  it('does not leak the database password of a malformed MYSQL_URL', () => {
    const error = configError(() => loadConfig({ MYSQL_URL: 'mysql://root:hunter2@db.example:99999/pbxgw' }, configDirectory()));
    expect(error.message).toMatch(/^MYSQL_URL /);
    expect(error.message).not.toContain('hunter2');
  });

  it('names the file when a config file is not valid JSON', () => {
    const directory = configDirectory();
    fs.writeFileSync(path.join(directory, 'local.json'), '{ "port": ');
    const error = configError(() => loadConfig({}, directory));
    expect(error.message).toContain(path.join(directory, 'local.json'));
  });

  it('a malformed file value is named by its environment variable', () => {
    const error = configError(() => loadConfig({}, configDirectory({ ...BASE, port: 'x' })));
    expect(error.message).toMatch(/^PORT /);
  });

  it("reads the project's config/default.json by default", () => {
    const config = loadConfig({});
    expect(config.localDomains).toEqual(['pbx.local']);
    expect(config.numbersMaxRange).toBe(1000000);
  });
});

describe('PERMISSIONS', () => {
  it("defaults to kamctl's list", () => {
    expect(validateConfig(structuredClone(BASE)).permissions).toEqual(['local', 'ld', 'int', 'voicemail', 'free-pstn']);
    expect(loadConfig({}).permissions).toEqual(['local', 'ld', 'int', 'voicemail', 'free-pstn']);
  });

  it('takes a comma-separated list from the environment, trimmed; empty means none', () => {
    expect(loadConfig({ PERMISSIONS: ' gold, silver ,,bronze.1' }, configDirectory()).permissions).toEqual(['gold', 'silver', 'bronze.1']);
    expect(loadConfig({ PERMISSIONS: '' }, configDirectory()).permissions).toEqual([]);
  });

  it.each([
    ['a name with a space', 'local,long distance'],
    ['a name over 64 characters', `local,${'x'.repeat(65)}`],
    ['a name twice', 'local,ld,local'],
    ['a name with a quote', "local,o'brien"],
  ])('stops with one line naming PERMISSIONS for %s', (_what, value) => {
    const error = configError(() => loadConfig({ PERMISSIONS: value }, configDirectory()));
    expect(error.message).toMatch(/^PERMISSIONS /);
    expect(error.message).not.toContain('\n');
  });
});
