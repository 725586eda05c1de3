import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ConfigError, type PbxConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { GatewayError } from '../../src/outcome';
import { DEFAULT_EXTENSION_SETTINGS, emptyForwardPolicy } from '../../src/pbx/extension';
import { SimotelClient } from '../../src/pbx/simotel-client';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';
import { makeCertificate, removeCertificate, type TestCertificate } from '../helpers/certificates';

// An https PBX_URL (README "TLS"): the PBX's certificate is always verified, against the system's
// roots and PBX_CA_FILE's. The built-in simulator serves HTTPS with a self-signed certificate here.

const quiet = createLogger('error', new Writable({ write: (_chunk, _encoding, done) => done() }));

let certificate: TestCertificate;
let simulator: PbxSimulator;

beforeAll(async () => {
  certificate = makeCertificate('pbx');
  simulator = await startPbxSimulator({ tls: { cert: certificate.cert, key: certificate.key } });
});

afterAll(async () => {
  await simulator?.close();
  removeCertificate(certificate);
});

function client(overrides: Partial<PbxConfig> = {}): SimotelClient {
  const config: PbxConfig = {
    url: simulator.url,
    ...simulator.credentials,
    timeoutMs: 2000,
    maxConcurrency: 8,
    extensionDefaults: DEFAULT_EXTENSION_SETTINGS,
    ...overrides,
  };
  return new SimotelClient(config, quiet);
}

describe('an https PBX with a private CA', () => {
  it('is reached with PBX_CA_FILE naming its CA', async () => {
    expect(simulator.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/api\/v4$/);
    const pbx = client({ caFile: certificate.certFile });
    await expect(pbx.ping()).resolves.toBeUndefined();
    simulator.seed({ ...DEFAULT_EXTENSION_SETTINGS, name: 'TLS', number: '4411', cid_number: '4411', email: '', forward_policy: emptyForwardPolicy() });
    expect((await pbx.list()).map((extension) => extension.number)).toContain('4411');
  });

  it('is refused without PBX_CA_FILE: error/pbx, the certificate is not trusted', async () => {
    const failure = await client().ping().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(GatewayError);
    expect(failure).toMatchObject({ cause: 'pbx' });
    expect((failure as GatewayError).detail).toMatch(/cannot reach the PBX \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/);
  });

  it('is refused with a CA bundle that does not hold its CA', async () => {
    const other = makeCertificate('other-ca');
    try {
      const failure = await client({ caFile: other.certFile }).ping().catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(GatewayError);
      expect(failure).toMatchObject({ cause: 'pbx' });
    } finally {
      removeCertificate(other);
    }
  });

  it('still trusts the system roots beside PBX_CA_FILE', () => {
    // Node's `ca` option replaces the roots: the client's agent must carry them too.
    const agent = (client({ caFile: certificate.certFile }) as unknown as { http: { defaults: { httpsAgent: { options: { ca: string[] } } } } }).http.defaults
      .httpsAgent;
    expect(agent.options.ca.length).toBeGreaterThan(100);
    expect(agent.options.ca).toContain(certificate.cert);
  });

  it('stops with a ConfigError naming PBX_CA_FILE when the file cannot be read', () => {
    const missing = path.join(certificate.directory, 'missing.pem');
    expect(() => client({ caFile: missing })).toThrow(ConfigError);
    expect(() => client({ caFile: missing })).toThrow(`PBX_CA_FILE: cannot read ${missing} (ENOENT)`);
  });

  it('stops with a ConfigError naming PBX_CA_FILE when the file holds no certificate', () => {
    const empty = path.join(certificate.directory, 'empty.pem');
    fs.writeFileSync(empty, 'not a certificate\n');
    expect(() => client({ caFile: empty })).toThrow(/^PBX_CA_FILE: .* holds no PEM certificate/);
  });
});
