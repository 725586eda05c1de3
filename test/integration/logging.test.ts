import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { heldPassword, type PasswordColumns } from '../helpers/secrets';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ logLevel: 'debug' });
});

afterAll(async () => {
  await gateway.close();
});

function parsedLogs(): Record<string, unknown>[] {
  return gateway.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('request logging', () => {
  it('writes one JSON line per request with request id, node, outcome and duration', async () => {
    const response = await gateway.get('numbers/inpool', { number: '+4791111111' });
    const requestId = response.headers['x-request-id'];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const lines = parsedLogs().filter((line) => line.request_id === requestId);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      message: 'request',
      node: 'numbers/inpool',
      outcome: 'failed',
      cause: 'nonexistant',
      status: 200,
      level: 'info',
    });
    expect(typeof lines[0].duration_ms).toBe('number');
  });

  it('never writes a password, even at debug level and on refused requests', async () => {
    const secrets = ['Pl41n-Secret-One', 'Pl41n-Secret-Two', 'Pl41n-Secret-3'];
    await gateway.get('user/add_remote', {
      user: 'logtest@remote.example',
      password: secrets[0],
      displayname: 'Log Test',
      registrar: 'sip.remote.example',
    });
    await gateway.post('user/change_pw', { user: 'logtest@remote.example', password: secrets[1] });
    // Refused twice over: the address exists, and the password is given twice.
    await gateway.get('user/add_remote', { user: 'logtest@remote.example', password: secrets[2], displayname: 'x', registrar: 'h.example' });
    await gateway.post('user/change_pw?password=' + secrets[2], { user: 'logtest@remote.example', password: secrets[2] });
    expect(gateway.logs.length).toBeGreaterThanOrEqual(4);
    const everything = gateway.logs.join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
    const [stored] = await gateway.query<PasswordColumns>("SELECT username, domain, secret, password FROM users WHERE username = 'logtest'");
    expect(heldPassword(gateway.container.secrets, stored)).toBe(secrets[1]);
  });
});
