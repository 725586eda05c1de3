import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 5, "Permissions are the seed's …": a real Kamailio proxy (Debian's kamailio and
// kamailio-mysql-modules, which .ci/run installs) whose group module reads the gateway's database,
// and sipp sending it one OPTIONS at a time. The proxy answers 200 when is_user_in("From", "int")
// holds and 403 otherwise, so each sipp run proves what the proxy sees: a change made through the
// gateway is seen by its next check, without a restart.

const GROUP = 'int';
const SEARCH_PATH = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];

function findBinary(name: string): string | null {
  for (const directory of SEARCH_PATH) {
    const candidate = path.join(directory, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

const KAMAILIO = findBinary('kamailio');
const SIPP = findBinary('sipp');
const MISSING = [KAMAILIO ? null : 'kamailio (apt-get install kamailio kamailio-mysql-modules)', SIPP ? null : 'sipp (apt-get install sip-tester)'].filter(
  (entry): entry is string => entry !== null,
);

/** A UDP port free on 127.0.0.1 just now. */
async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

function kamailioConfig(port: number, dbUrl: string): string {
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=1
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:${port}

loadmodule "db_mysql.so"
loadmodule "sl.so"
loadmodule "group.so"

modparam("group", "db_url", "${dbUrl}")
modparam("group", "use_domain", 1)

request_route {
    if (is_user_in("From", "${GROUP}")) {
        sl_send_reply("200", "In group ${GROUP}");
        exit;
    }
    sl_send_reply("403", "Not in group ${GROUP}");
    exit;
}
`;
}

/** One OPTIONS from [from_user]@[from_domain]; the call succeeds only on the expected answer. */
function sippScenario(expected: 200 | 403): string {
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="is_user_in expecting ${expected}">
  <send>
    <![CDATA[
      OPTIONS sip:check@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[from_user]@[from_domain]>;tag=[pid]SIPpTag[call_number]
      To: <sip:check@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="${expected}"/>
</scenario>
`;
}

interface Proxy {
  readonly port: number;
  readonly process: ChildProcess;
  /** What Kamailio logged (stderr), for the failure messages. */
  readonly log: () => string;
}

/** Waits until the proxy answers a SIP request at all (its group module has checked the version table by then). */
async function untilAnswering(proxy: Proxy, timeoutMs: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  const probe = [
    `OPTIONS sip:probe@127.0.0.1:${proxy.port} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    `From: <sip:probe@probe.invalid>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:probe@127.0.0.1:${proxy.port}>`,
    `Call-ID: ${randomBytes(8).toString('hex')}@127.0.0.1`,
    'CSeq: 1 OPTIONS',
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  try {
    await new Promise<void>((resolve, reject) => {
      const until = Date.now() + timeoutMs;
      const send = () => {
        if (proxy.process.exitCode !== null) return reject(new Error(`kamailio exited (${proxy.process.exitCode}):\n${proxy.log()}`));
        if (Date.now() > until) return reject(new Error(`kamailio did not answer within ${timeoutMs} ms:\n${proxy.log()}`));
        socket.send(probe, proxy.port, '127.0.0.1');
        timer = setTimeout(send, 250);
      };
      let timer = setTimeout(send, 0);
      socket.on('message', (message) => {
        if (message.toString('latin1').startsWith('SIP/2.0 ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    socket.close();
  }
}

async function startKamailio(directory: string, dbUrl: string): Promise<Proxy> {
  const port = await freeUdpPort();
  const configFile = path.join(directory, 'kamailio.cfg');
  fs.writeFileSync(configFile, kamailioConfig(port, dbUrl));
  const runtimeDirectory = path.join(directory, 'run');
  fs.mkdirSync(runtimeDirectory);
  // -DD: stays in the foreground; -E: logs to stderr. Its own process group, so that its worker
  // children go with it.
  const child = spawn(KAMAILIO as string, ['-DD', '-E', '-f', configFile, '-Y', runtimeDirectory, '-w', directory, '-m', '32', '-M', '4'], {
    cwd: directory,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const proxy: Proxy = { port, process: child, log: () => log.slice(-4000) };
  await untilAnswering(proxy, 20_000);
  return proxy;
}

async function stopKamailio(proxy: Proxy | undefined): Promise<void> {
  if (!proxy || proxy.process.exitCode !== null || proxy.process.pid === undefined) return;
  const exited = new Promise((resolve) => proxy.process.once('exit', resolve));
  process.kill(-proxy.process.pid, 'SIGTERM');
  const timer = setTimeout(() => proxy.process.pid !== undefined && process.kill(-proxy.process.pid, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Runs sipp for one call (-m 1) from `address`; resolves to its exit status and what it reported. */
function sipp(directory: string, proxy: Proxy, address: { username: string; domain: string }, expected: 200 | 403): Promise<{ status: number | null; output: string }> {
  const scenario = path.join(directory, `expect-${expected}.xml`);
  if (!fs.existsSync(scenario)) fs.writeFileSync(scenario, sippScenario(expected));
  const errors = path.join(directory, `sipp-errors-${randomBytes(3).toString('hex')}.log`);
  const args = [
    `127.0.0.1:${proxy.port}`,
    '-sf', scenario,
    '-m', '1',
    '-i', '127.0.0.1',
    '-t', 'u1',
    '-key', 'from_user', address.username,
    '-key', 'from_domain', address.domain,
    '-recv_timeout', '5000',
    '-timeout', '10s',
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    '-error_file', errors,
  ];
  return new Promise((resolve) => {
    const child = spawn(SIPP as string, args, { cwd: directory, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', () => undefined);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (status) => {
      const unexpected = fs.existsSync(errors) ? fs.readFileSync(errors, 'utf8') : '';
      resolve({ status, output: `${output}${unexpected}`.slice(-2000) });
    });
  });
}

if (MISSING.length > 0 && process.env.CI) {
  // CI installs both (.ci/run): there the proof must run, never be skipped.
  test('Kamailio and sipp are installed', () => {
    throw new Error(`missing: ${MISSING.join('; ')}`);
  });
} else if (MISSING.length > 0) {
  console.warn(`kamailio-permissions: skipped, missing ${MISSING.join('; ')}`);
}

(MISSING.length === 0 ? describe : describe.skip)("Kamailio's group module reading the grp view", () => {
  let gateway: TestGateway;
  let proxy: Proxy | undefined;
  let directory: string;

  beforeAll(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-kamailio-'));
    gateway = await startTestGateway();
    proxy = await startKamailio(directory, gateway.config.mysqlUrl);
  }, 60_000);

  afterAll(async () => {
    await stopKamailio(proxy);
    await gateway?.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });

  /** Asserts that sipp's one call got `expected` (sipp exits 0 only when every call succeeded). */
  async function expectAnswer(address: { username: string; domain: string }, expected: 200 | 403): Promise<void> {
    const { status, output } = await sipp(directory, proxy as Proxy, address, expected);
    if (status !== 0) throw new Error(`sipp expected ${expected} for ${address.username}@${address.domain}, exit ${status}:\n${output}\nkamailio:\n${proxy?.log()}`);
  }

  it('answers 403 for a new remote user, 200 once the gateway grants the group, 403 once it revokes it', async () => {
    const address = { username: `k${randomBytes(4).toString('hex')}`, domain: `${randomBytes(4).toString('hex')}.example` };
    const user = `${address.username}@${address.domain}`;
    const added = await gateway.get('user/add_remote', { user, password: 'Kamailio-Test1', displayname: 'SIP Tester', registrar: 'sip.provider.example' });
    expect(added.body).toMatchObject({ response: 'ok' });

    await expectAnswer(address, 403);
    // The harness itself: sipp fails a call whose answer is not the one expected.
    expect((await sipp(directory, proxy as Proxy, address, 200)).status).not.toBe(0);

    const granted = await gateway.get('user/change_permissions', { user, grant: `${GROUP},ld` });
    expect(granted.body).toEqual({ response: 'ok', user, permissions: [GROUP, 'ld'] });
    await expectAnswer(address, 200);

    // Another group does not count, and a dry run changes nothing the proxy sees.
    const dry = await gateway.get('user/change_permissions', { user, revoke: GROUP, dry_run: true });
    expect(dry.body).toMatchObject({ response: 'ok', permissions: ['ld'], dry_run: true });
    await expectAnswer(address, 200);

    const revoked = await gateway.get('user/change_permissions', { user, revoke: GROUP });
    expect(revoked.body).toEqual({ response: 'ok', user, permissions: ['ld'] });
    await expectAnswer(address, 403);
  }, 60_000);

  it('matches the domain too (use_domain 1): the same username in another domain is not in the group', async () => {
    const username = `k${randomBytes(4).toString('hex')}`;
    const member = { username, domain: `${randomBytes(4).toString('hex')}.example` };
    const other = { username, domain: `${randomBytes(4).toString('hex')}.example` };
    for (const address of [member, other]) {
      const added = await gateway.get('user/add_remote', {
        user: `${address.username}@${address.domain}`,
        password: 'Kamailio-Test1',
        displayname: 'SIP Tester',
        registrar: 'sip.provider.example',
      });
      expect(added.body).toMatchObject({ response: 'ok' });
    }
    expect((await gateway.get('user/change_permissions', { username, domain: member.domain, set: GROUP })).body).toMatchObject({ response: 'ok' });
    await expectAnswer(member, 200);
    await expectAnswer(other, 403);
  }, 60_000);

  it('will not start when the version table does not hold (grp, 2): the check the migration makes pass', async () => {
    await gateway.query("UPDATE version SET table_version = 3 WHERE table_name = 'grp'");
    const refused = fs.mkdtempSync(path.join(directory, 'refused-'));
    try {
      await expect(startKamailio(refused, gateway.config.mysqlUrl)).rejects.toThrow(/invalid version 3 for table grp found, expected 2/);
    } finally {
      await gateway.query("UPDATE version SET table_version = 2 WHERE table_name = 'grp'");
    }
  }, 60_000);

  it('answers 403 once the gateway removes the user', async () => {
    const address = { username: `k${randomBytes(4).toString('hex')}`, domain: `${randomBytes(4).toString('hex')}.example` };
    const user = `${address.username}@${address.domain}`;
    expect((await gateway.get('user/add_remote', { user, password: 'Kamailio-Test1', displayname: 'SIP Tester', registrar: 'sip.provider.example' })).body).toMatchObject({ response: 'ok' });
    expect((await gateway.get('user/change_permissions', { user, grant: GROUP })).body).toMatchObject({ response: 'ok' });
    await expectAnswer(address, 200);
    expect((await gateway.get('user/remove', { user })).body).toMatchObject({ response: 'ok' });
    await expectAnswer(address, 403);
  }, 60_000);
});
