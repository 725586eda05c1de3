import { ConfigError, isLoopbackHost, loadConfig, validateConfig } from '../../src/config';

// The settings of the listening socket and of the way to the PBX (README "TLS", "Listener"):
// each malformed or clashing one stops the start with one line naming it.

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

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('\n');
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

function withPbxUrl(url: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...structuredClone(BASE), pbx: { ...BASE.pbx, url, ...extra } };
}

describe('PBX_URL over plain http', () => {
  it.each(['http://pbx.example.com/api/v4', 'http://10.0.0.5:8080/api/v4', 'http://[2001:db8::1]/api/v4', 'http://localhost.example.com/api/v4'])(
    'refuses %s (the credentials would cross the network in clear), naming PBX_URL and the way out',
    (url) => {
      const error = configError(() => validateConfig(withPbxUrl(url)));
      expect(error.message).toMatch(/^PBX_URL: http:\/\/ to \S+ would send PBX_API_KEY and the Basic credentials in clear; use https:\/\//);
      expect(error.message).toContain('PBX_ALLOW_HTTP=true');
    },
  );

  it('is accepted to another host with PBX_ALLOW_HTTP=true', () => {
    const config = loadConfig({ PBX_URL: 'http://pbx.example.com/api/v4', PBX_ALLOW_HTTP: 'true' });
    expect(config.pbx).toMatchObject({ url: 'http://pbx.example.com/api/v4', allowHttp: true });
  });

  it.each(['http://127.0.0.1:8090/api/v4', 'http://127.8.9.10/api/v4', 'http://localhost:8090/api/v4', 'http://[::1]:8090/api/v4', 'https://pbx.example.com/api/v4'])(
    'accepts %s without PBX_ALLOW_HTTP (loopback, or https)',
    (url) => {
      expect(validateConfig(withPbxUrl(url)).pbx).toMatchObject({ url, allowHttp: false });
    },
  );

  it.each([
    ['127.0.0.1', true],
    ['127.255.0.1', true],
    ['[::1]', true],
    ['LOCALHOST', true],
    ['localhost.', true],
    ['128.0.0.1', false],
    ['10.127.0.1', false],
    ['localhost.example.com', false],
    ['[::2]', false],
  ])('isLoopbackHost(%j) is %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  it('names PBX_ALLOW_HTTP when it is not a boolean', () => {
    expect(configError(() => loadConfig({ PBX_ALLOW_HTTP: 'sometimes' })).message).toMatch(/^PBX_ALLOW_HTTP /);
  });
});

describe('TLS_CERT_FILE and TLS_KEY_FILE', () => {
  it('are off by default', () => {
    expect(validateConfig(structuredClone(BASE)).tls).toEqual({ certFile: '', keyFile: '' });
  });

  it('are read from the environment', () => {
    expect(loadConfig({ TLS_CERT_FILE: '/etc/pbxgw/tls.crt', TLS_KEY_FILE: '/etc/pbxgw/tls.key', PBX_CA_FILE: '/etc/pbxgw/pbx-ca.pem' })).toMatchObject({
      tls: { certFile: '/etc/pbxgw/tls.crt', keyFile: '/etc/pbxgw/tls.key' },
      pbx: { caFile: '/etc/pbxgw/pbx-ca.pem' },
    });
  });

  it('refuses a certificate without a key, naming TLS_KEY_FILE', () => {
    expect(configError(() => loadConfig({ TLS_CERT_FILE: '/etc/pbxgw/tls.crt' })).message).toBe(
      'TLS_KEY_FILE: required when TLS_CERT_FILE is set (set both for HTTPS, or neither)',
    );
  });

  it('refuses a key without a certificate, naming TLS_CERT_FILE', () => {
    expect(configError(() => loadConfig({ TLS_KEY_FILE: '/etc/pbxgw/tls.key' })).message).toBe(
      'TLS_CERT_FILE: required when TLS_KEY_FILE is set (set both for HTTPS, or neither)',
    );
  });
});

describe('the listener settings', () => {
  it('default to seconds, not minutes', () => {
    expect(validateConfig(structuredClone(BASE)).listener).toEqual({
      headersTimeoutMs: 10_000,
      receiveTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 1000,
    });
  });

  it('are read from the environment', () => {
    const config = loadConfig({ HEADERS_TIMEOUT_MS: '2000', RECEIVE_TIMEOUT_MS: '4000', KEEP_ALIVE_TIMEOUT_MS: '65000', MAX_CONNECTIONS: '50' });
    expect(config.listener).toEqual({ headersTimeoutMs: 2000, receiveTimeoutMs: 4000, keepAliveTimeoutMs: 65_000, maxConnections: 50 });
  });

  it.each([
    ['HEADERS_TIMEOUT_MS', '0'],
    ['HEADERS_TIMEOUT_MS', 'soon'],
    ['RECEIVE_TIMEOUT_MS', '-1'],
    ['KEEP_ALIVE_TIMEOUT_MS', '0'],
    ['MAX_CONNECTIONS', '0'],
    ['MAX_CONNECTIONS', 'many'],
  ])('names %s when it is %j', (variable, value) => {
    expect(configError(() => loadConfig({ [variable]: value })).message.startsWith(`${variable} `)).toBe(true);
  });

  it('refuses a headers timeout longer than the whole request may take, naming HEADERS_TIMEOUT_MS', () => {
    expect(configError(() => loadConfig({ HEADERS_TIMEOUT_MS: '20000', RECEIVE_TIMEOUT_MS: '10000' })).message).toMatch(/^HEADERS_TIMEOUT_MS: /);
  });

  it('takes NODE_ENV and START_TOKEN_FILE from the environment', () => {
    expect(loadConfig({ NODE_ENV: 'production', START_TOKEN_FILE: '/run/pbxgw/start-token' })).toMatchObject({
      nodeEnv: 'production',
      startTokenFile: '/run/pbxgw/start-token',
    });
    expect(loadConfig({})).toMatchObject({ nodeEnv: 'development', startTokenFile: 'secrets/start-token' });
  });
});
