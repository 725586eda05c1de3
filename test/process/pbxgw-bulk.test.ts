import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';
import { MYSQL_SERVER } from '../helpers/gateway';
import { ROOT, jsonLines, occupiedPort, runCommand, type CommandRun } from '../helpers/command-process';
import { callNode, dropDatabase, killAllGateways, newDatabaseName, pbxEnvironment, spawnGateway, withServer, type GatewayProcess } from '../helpers/gateway-process';

// `pbxgw import`, `export` and `batch` (CONTRACT section 10) as an operator runs them: the built
// command as a child process, against a real gateway process on real MariaDB with the PBX
// simulator, its files in a folder of their own.

const TOKEN = randomBytes(24).toString('base64url');
const AUTHORIZATION = { Authorization: `Bearer ${TOKEN}` };

/** The file `npx pbxgw` runs: package.json's bin once it has one, the compiled command until then. */
function pbxgwFile(): string {
  const { bin } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
  const entry = typeof bin === 'string' ? bin : bin?.pbxgw;
  return path.join(ROOT, entry ?? 'dist/src/cli/pbxgw/main.js');
}

interface Gateway {
  readonly process: GatewayProcess;
  readonly simulator: PbxSimulator;
  readonly database: string;
}

async function startGateway(): Promise<Gateway> {
  const simulator = await startPbxSimulator();
  const database = newDatabaseName();
  const process = await spawnGateway({
    MYSQL_URL: `${MYSQL_SERVER}/${database}`,
    ...pbxEnvironment(simulator),
    AUTH_DISABLED: 'false',
    API_TOKENS: `bulk:${TOKEN}:write`,
    LOCAL_DOMAINS: 'pbx.local,rt.local',
    LOG_LEVEL: 'info',
  });
  return { process, simulator, database };
}

async function stopGateway(gateway: Gateway): Promise<void> {
  await gateway.process.kill();
  await gateway.simulator.close();
  await dropDatabase(gateway.database);
}

let main: Gateway;
let folder: string;

beforeAll(async () => {
  main = await startGateway();
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-bulk-'));
  // Taken before any test: a user, and an E.164 alias pointing at it.
  await node(main, 'user/add_local', { user: '5000@pbx.local', displayname: 'Taken' });
  await node(main, 'alias/add', { alias: '+4762500000@pbx.local', destination: '5000@pbx.local' });
});

afterAll(async () => {
  await killAllGateways();
  await main?.simulator.close();
  if (main) await dropDatabase(main.database);
  fs.rmSync(folder, { recursive: true, force: true });
});

/** A node call straight to the gateway (GET), for setting up and for checking. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function node(gateway: Gateway, name: string, params: Record<string, string>): Promise<any> {
  const answer = await callNode(gateway.process.url, name, params, { headers: AUTHORIZATION });
  return answer.body;
}

function file(name: string, text: string): string {
  const full = path.join(folder, name);
  fs.writeFileSync(full, text);
  return full;
}

function pbxgw(args: string[], gateway: Gateway = main, environment: Record<string, string> = {}): Promise<CommandRun> {
  return runCommand(process.execPath, [pbxgwFile(), ...args], { PBXGW_URL: gateway.process.url, PBXGW_TOKEN: TOKEN, ...environment }, { cwd: folder, timeoutMs: 60_000 });
}

/** The CSV report's lines as objects (its fields never hold commas in these tests but where quoted). */
function reportLines(file: string): Record<string, string>[] {
  const [header, ...lines] = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
  const columns = header.split(',');
  return lines.map((line) => {
    const fields: string[] = [];
    for (const match of line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)) fields.push(match[1].startsWith('"') ? match[1].slice(1, -1).replace(/""/g, '"') : match[1]);
    return Object.fromEntries(columns.map((column, index) => [column, fields[index] ?? '']));
  });
}

/** The PBX calls that change something (users/add, update, remove). */
function pbxWrites(gateway: Gateway): { path: string; body: unknown }[] {
  return gateway.simulator.calls.filter((call) => /\/users\/(add|update|remove)$/.test(call.path));
}

/**
 * Every row of every provisioning table (pbx_extensions too: a dry run makes no lock row), as
 * text: not audit_log and token_use, which record requests (dry runs too). Rows, not CHECKSUM
 * TABLE: MariaDB 10.11 gave `users` another checksum for the very same rows after a dry run.
 */
async function provisioning(database: string): Promise<string> {
  return withServer(async (connection) => {
    const [tables] = await connection.query(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' AND table_name NOT IN ('audit_log', 'token_use') ORDER BY 1",
      [database],
    );
    const dump: Record<string, string[]> = {};
    for (const { name } of tables as { name: string }[]) {
      const [rows] = await connection.query(`SELECT * FROM \`${database}\`.\`${name}\``);
      dump[name] = (rows as Record<string, unknown>[]).map((row) => JSON.stringify(row)).sort();
    }
    return JSON.stringify(dump);
  });
}

describe('pbxgw import', () => {
  it('imports each row all or nothing: ok rows, a failed row, an invalid row, and a row undone on the PBX', async () => {
    const sheet = file(
      'outcomes.csv',
      [
        'user,kind,displayname,email,password,registrar,macs,aliases,permissions,dialplan,linetext',
        '5101@pbx.local,local,Alice Local,alice@example.com,,,00:11:22:51:01:01,+4762510101,local ld,(.*),Alice',
        '5102@pbx.local,local,Bob Sheet,,Sheet-pass-5102,,,,,,',
        'bob5103@remote.example,remote,Remote Bob,,Remote-pass-1,sip.remote.example,00:11:22:51:03:01,bob5103@pbx.local,int,,',
        '5000@pbx.local,local,Already There,,,,,,,,',
        '5105@pbx.local,pbx,Wrong Kind,,,,,,,,',
        '5106@pbx.local,local,Undo Me,,,,00:11:22:51:06:01,+4762500000,,,',
        '',
      ].join('\n'),
    );
    const report = path.join(folder, 'outcomes-report.csv');
    const run = await pbxgw(['import', sheet, '--report', report]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`pbxgw import: 6 rows: 3 ok, 1 failed, 1 invalid, 1 undone; report in ${report}\n`);
    expect(fs.statSync(report).mode & 0o777).toBe(0o600);

    const lines = reportLines(report);
    expect(lines.map(({ row, user, outcome, cause }) => [row, user, outcome, cause])).toEqual([
      ['2', '5101@pbx.local', 'ok', ''],
      ['3', '5102@pbx.local', 'ok', ''],
      ['4', 'bob5103@remote.example', 'ok', ''],
      ['5', '5000@pbx.local', 'failed', 'exists'],
      ['6', '5105@pbx.local', 'invalid', 'kind'],
      ['7', '5106@pbx.local', 'undone', 'exists'],
    ]);

    // The generated password is in the report, and it is the one the PBX has; a sheet's password replaces it.
    expect(lines[0].password).toMatch(/^[A-Za-z0-9]{12}$/);
    expect(main.simulator.extension('5101')?.secret).toBe(lines[0].password);
    expect(lines[1].password).toBe('');
    expect(main.simulator.extension('5102')?.secret).toBe('Sheet-pass-5102');
    expect(lines[2].password).toBe('');

    expect((await node(main, 'user/get', { user: '5101@pbx.local' })).user).toMatchObject({ email: 'alice@example.com', dialplan: '(.*)', linetext: 'Alice' });
    expect((await node(main, 'phone/get', { user: '5101@pbx.local' })).macs).toEqual(['001122510101']);
    expect((await node(main, 'alias/list', { destination: '5101@pbx.local' })).aliases).toEqual([{ alias: '+4762510101@pbx.local', destination: '5101@pbx.local' }]);
    expect((await node(main, 'user/permissions', { user: '5101@pbx.local' })).permissions).toEqual(['ld', 'local']);
    expect((await node(main, 'user/get', { user: 'bob5103@remote.example' })).user).toMatchObject({ kind: 'remote', registrar: 'sip.remote.example' });
    expect((await node(main, 'alias/list', { alias: 'bob5103@pbx.local' })).aliases).toEqual([{ alias: 'bob5103@pbx.local', destination: 'bob5103@remote.example' }]);

    // Row 7: its extension was made on the PBX and its phone added, then the alias was taken: both undone.
    expect(lines[5].detail).toBe(
      'alias/add +4762500000@pbx.local: failed/exists: +4762500000@pbx.local is taken by an alias; undone: phone/remove 00:11:22:51:06:01, user/remove 5106@pbx.local',
    );
    expect(pbxWrites(main).filter((call) => call.path === '/pbx/users/add').map((call) => (call.body as { number: string }).number)).toContain('5106');
    expect(main.simulator.extension('5106')).toBeUndefined();
    expect(await node(main, 'user/get', { user: '5106@pbx.local' })).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect((await node(main, 'phone/get', { mac: '001122510601' })).users).toEqual([]);
    expect(lines[5].password).toBe('');
  });

  it('says partial, and keeps the new user’s password, when a take-back fails too', async () => {
    const sheet = file('partial.csv', 'user,kind,displayname,aliases\n5151@pbx.local,local,Stays,+4762500000\n');
    main.simulator.fail('/pbx/users/remove', 'refuse');
    const run = await pbxgw(['import', sheet]);
    expect(run.code).toBe(1);
    const [line] = jsonLines(run.stdout) as Record<string, string>[];
    expect(line).toMatchObject({ row: 2, outcome: 'partial', cause: 'exists' });
    expect(line.detail).toMatch(/; NOT undone: user\/remove 5151@pbx\.local failed\/pbx/);
    expect(main.simulator.extension('5151')).toBeDefined();
    expect(line.password).toBe(main.simulator.extension('5151')?.secret);
  });

  it('with --resume skips the rows the report shows as ok and keeps their lines', async () => {
    const rows = (alias: string) => ['user,kind,displayname,aliases', '5201@pbx.local,local,Resume One,', `5202@pbx.local,local,Resume Two,${alias}`, ''].join('\n');
    const sheet = file('resume.csv', rows('+4762500000'));
    const report = path.join(folder, 'resume-report.csv');
    expect((await pbxgw(['import', sheet, '--report', report])).code).toBe(1);
    const first = reportLines(report);
    expect(first.map((line) => line.outcome)).toEqual(['ok', 'undone']);

    file('resume.csv', rows('+4762520201'));
    const writesBefore = pbxWrites(main).length;
    const run = await pbxgw(['import', sheet, '--report', report, '--resume']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`pbxgw import: 2 rows: 2 ok (1 from the earlier report); report in ${report}\n`);
    // Only row 3's user went to the PBX; row 2 was not tried again (it would have failed exists).
    expect(pbxWrites(main).slice(writesBefore).map((call) => (call.body as { number?: string }).number)).toEqual(['5202']);
    const second = reportLines(report);
    expect(second[0]).toEqual(first[0]);
    expect(second[1]).toMatchObject({ row: '3', outcome: 'ok' });
    expect(second[1].password).toBe(main.simulator.extension('5202')?.secret);
  });

  it('with --dry-run checks every row with dry_run=true: no write reaches the PBX and MySQL is unchanged', async () => {
    const sheet = file(
      'dry.csv',
      [
        'user,kind,displayname,email,password,registrar,macs,aliases,permissions,dialplan',
        '5301@pbx.local,local,Dry Local,dry@example.com,Dry-pass-5301,,00:11:22:53:01:01,+4762530101 dry5301,local voicemail,(.*)',
        'dry5302@remote.example,remote,Dry Remote,,Remote-pass-1,sip.remote.example,00:11:22:53:02:01,dry5302@pbx.local,int,',
        '5303@pbx.local,local,Alias Taken,,,,,+4762500000,,',
        '5304@pbx.local,local,Bad Permission,,,,,,superuser,',
        '5000@pbx.local,local,User Taken,,,,,,,',
        '',
      ].join('\n'),
    );
    const writesBefore = pbxWrites(main).length;
    const tablesBefore = await provisioning(main.database);
    const run = await pbxgw(['import', sheet, '--dry-run']);
    expect(run.code).toBe(1);
    const lines = (jsonLines(run.stdout) as Record<string, unknown>[]).sort((a, b) => Number(a.row) - Number(b.row));
    expect(lines.map(({ row, outcome, cause }) => [row, outcome, cause])).toEqual([
      [2, 'ok', ''],
      [3, 'ok', ''],
      [4, 'failed', 'exists'],
      [5, 'invalid', 'grant'],
      [6, 'failed', 'exists'],
    ]);
    expect(lines[0].detail).toBe('dry run: local user 5301@pbx.local, 1 phone, 2 aliases, 2 permissions: every check passed');
    // The alias check that alias/add's dry run cannot make for a user not yet made is made by reads.
    expect(lines[2].detail).toBe('dry run: alias/add +4762500000@pbx.local: failed/exists: +4762500000@pbx.local is taken by an alias');
    expect(lines.every((line) => line.password === '')).toBe(true);
    expect(run.stderr).toBe('pbxgw import: 5 rows: 2 ok, 2 failed, 1 invalid; dry run: nothing was changed\n');

    expect(pbxWrites(main).length).toBe(writesBefore);
    expect(await provisioning(main.database)).toBe(tablesBefore);
    expect(await node(main, 'user/get', { user: '5301@pbx.local' })).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('refuses a sheet without a required column before sending anything: one line naming it, exit 2', async () => {
    const sheet = file('missing.csv', 'user,kind,email\n5401@pbx.local,local,a@example.com\n');
    const report = path.join(folder, 'missing-report.csv');
    const callsBefore = main.simulator.calls.length;
    const run = await pbxgw(['import', sheet, '--report', report]);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toBe(`pbxgw import: ${sheet}: missing the required column displayname (required: user, kind, displayname); nothing was sent\n`);
    expect(fs.existsSync(report)).toBe(false);
    expect(main.simulator.calls.length).toBe(callsBefore);
  });

  it('refuses a sheet with an unknown column: one line naming it, exit 2', async () => {
    const sheet = file('unknown.csv', 'user,kind,displayname,mobile\n5402@pbx.local,local,A,+4790000000\n');
    const run = await pbxgw(['import', sheet]);
    expect(run).toMatchObject({ code: 2, stdout: '' });
    expect(run.stderr).toMatch(/^pbxgw import: \S+unknown\.csv: unknown column "mobile" \(the columns are [^\n]+; nothing was sent\n$/);
    expect(await node(main, 'user/get', { user: '5402@pbx.local' })).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });

  it('reads quotes, commas inside quotes, a byte-order mark and CRLF; without a report, JSON lines on stdout with the password', async () => {
    const sheet = file('excel.csv', '\uFEFF"user","kind","displayname"\r\n5501@pbx.local,local,"Doe, ""Jo"" Jr."\r\n"5502@pbx.local",local,"Smith, Ann"\r\n');
    const run = await pbxgw(['import', sheet]);
    expect(run.code).toBe(0);
    const lines = (jsonLines(run.stdout) as Record<string, unknown>[]).sort((a, b) => Number(a.row) - Number(b.row));
    expect(lines.map(({ row, user, outcome }) => [row, user, outcome])).toEqual([
      [2, '5501@pbx.local', 'ok'],
      [3, '5502@pbx.local', 'ok'],
    ]);
    expect(lines[0].password).toBe(main.simulator.extension('5501')?.secret);
    expect((await node(main, 'user/get', { user: '5501@pbx.local' })).user.displayname).toBe('Doe, "Jo" Jr.');
    expect((await node(main, 'user/get', { user: '5502@pbx.local' })).user.displayname).toBe('Smith, Ann');
  });

  it('on a terminal shows a progress bar on stderr and the rows as a table, passwords included', async () => {
    const sheet = file('terminal.csv', 'user,kind,displayname\n5503@pbx.local,local,On A Terminal\n');
    // script(1) runs the command on a pseudo-terminal: stdout and stderr are both that terminal.
    const quoted = [process.execPath, pbxgwFile(), 'import', sheet].map((word) => `'${word}'`).join(' ');
    const run = await runCommand('script', ['-q', '-e', '-c', quoted, '/dev/null'], { PBXGW_URL: main.process.url, PBXGW_TOKEN: TOKEN }, { cwd: folder });
    expect(run.code).toBe(0);
    const screen = run.stdout.replace(/\r/g, '');
    expect(screen).toMatch(/import \[[^\]]+\] 1\/1 rows \| 0 not ok/);
    const password = main.simulator.extension('5503')?.secret ?? 'none';
    expect(screen).toMatch(new RegExp(`\\nROW +USER +OUTCOME +DETAIL +PASSWORD\\n2 +5503@pbx\\.local +ok +added local user 5503@pbx\\.local +${password}\\n`));
    expect(screen).toContain('pbxgw import: 1 row: 1 ok\n');
  });

  it('exits 3 with one line when the gateway cannot be reached, before any row and without a report', async () => {
    const closed = await occupiedPort();
    await closed.close();
    const sheet = file('unreachable.csv', 'user,kind,displayname\n5601@pbx.local,local,A\n');
    const report = path.join(folder, 'unreachable-report.csv');
    const run = await pbxgw(['import', sheet, '--report', report], main, { PBXGW_URL: `http://127.0.0.1:${closed.port}` });
    expect(run).toMatchObject({ code: 3, stdout: '' });
    expect(run.stderr).toMatch(/^pbxgw import: cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+ \([A-Z]+\); nothing was sent\n$/);
    expect(fs.existsSync(report)).toBe(false);
  });

  it('exits 4 when the gateway refuses the token, before any row', async () => {
    const sheet = file('token.csv', 'user,kind,displayname\n5602@pbx.local,local,A\n');
    const run = await pbxgw(['import', sheet], main, { PBXGW_TOKEN: 'not-a-token-of-this-gateway' });
    expect(run.code).toBe(4);
    expect(await node(main, 'user/get', { user: '5602@pbx.local' })).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });
});

describe('pbxgw export', () => {
  it('writes every user of a domain as the sheet’s columns, which import reads back into another gateway as they were', async () => {
    const header = 'user,kind,displayname,email,password,registrar,r_port,proxy,p_port,authid,dialplan,linetext,macs,aliases,permissions';
    const sheet = file(
      'round-trip.csv',
      [
        header,
        '5701@rt.local,local,"Doe, ""Ann""",ann@example.com,,,,,,,(.*),Ann,00:11:22:57:01:02 00:11:22:57:01:01,+4762570101 ann,local ld',
        '5702@rt.local,local,Minimal,,,,,,,,,,,,',
        'carol@rt.example,remote,Carol,,Carol-pass-1,sip.rt.example,5070,proxy.rt.example,5080,carol-auth,9XXX,Carol,00:11:22:57:03:01,carol@rt.local,int',
        '',
      ].join('\n'),
    );
    expect((await pbxgw(['import', sheet])).code).toBe(0);
    // The gateway holds other tests' users too: --domain keeps to one domain's.
    const local = await pbxgw(['export', '--domain', 'rt.local']);
    expect(local).toMatchObject({ code: 0, stderr: '' });
    expect(local.stdout).toBe(
      [
        header,
        '5701@rt.local,local,"Doe, ""Ann""",ann@example.com,,,,,,,(.*),Ann,001122570101 001122570102,+4762570101@rt.local ann@rt.local,ld local',
        '5702@rt.local,local,Minimal,,,,,,,,,,,,',
        '',
      ].join('\n'),
    );
    const remote = await pbxgw(['export', '--domain', 'RT.example']);
    expect(remote.stdout).toBe(`${header}\ncarol@rt.example,remote,Carol,,,sip.rt.example,5070,proxy.rt.example,5080,carol-auth,9XXX,Carol,001122570301,carol@rt.local,int\n`);

    // Into a gateway of its own: everything it holds is what was imported. No password was
    // exported: a remote user's is filled in again for the import.
    const copy = await startGateway();
    try {
      const exported = `${local.stdout}${remote.stdout.split('\n')[1]}\n`;
      const again = file('round-trip-export.csv', exported.replace('carol@rt.example,remote,Carol,,,', 'carol@rt.example,remote,Carol,,Carol-pass-1,'));
      expect((await pbxgw(['import', again], copy)).code).toBe(0);
      const copied = await pbxgw(['export'], copy);
      expect(copied).toMatchObject({ code: 0, stdout: exported });
    } finally {
      await stopGateway(copy);
    }
  });
});

describe('pbxgw batch', () => {
  it('makes one call per line: ok and failed lines, a malformed line reported invalid; --resume skips the ok ones', async () => {
    const lines = (third: string) =>
      [
        '{"node": "numbers/add", "params": {"number": "+4799058001"}}',
        '{"node": "numbers/remove", "params": {"number": "+4799058999"}}',
        third,
        '',
        '{"node": "user/get", "params": {"user": "5000@pbx.local"}}',
        '',
      ].join('\n');
    const batch = file('batch.jsonl', lines('{"node": "numbers/add", "params": {"number": '));
    const report = path.join(folder, 'batch-report.csv');
    const run = await pbxgw(['batch', batch, '--report', report]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`pbxgw batch: 4 lines: 2 ok, 1 failed, 1 invalid; report in ${report}\n`);
    expect(fs.statSync(report).mode & 0o777).toBe(0o600);
    const first = reportLines(report);
    expect(first.map(({ line, node, outcome, cause }) => [line, node, outcome, cause])).toEqual([
      ['1', 'numbers/add', 'ok', ''],
      ['2', 'numbers/remove', 'failed', 'nonexistant'],
      ['3', '', 'invalid', 'line'],
      ['5', 'user/get', 'ok', ''],
    ]);
    expect(first[0].detail).toBe('Added +4799058001');
    expect(first[2].detail).toMatch(/^not JSON: /);

    // Fixed lines 2 and 3; line 1 again would fail exists: it is skipped.
    file('batch.jsonl', lines('{"node": "numbers/add", "params": {"number": "+4799058003"}}').replace('+4799058999', '+4799058001'));
    const resumed = await pbxgw(['batch', batch, '--report', report, '--resume']);
    expect(resumed.stderr).toBe(`pbxgw batch: 4 lines: 4 ok (2 from the earlier report); report in ${report}\n`);
    expect(resumed.code).toBe(0);
    expect(reportLines(report).map(({ line, node, outcome }) => [line, node, outcome])).toEqual([
      ['1', 'numbers/add', 'ok'],
      ['2', 'numbers/remove', 'ok'],
      ['3', 'numbers/add', 'ok'],
      ['5', 'user/get', 'ok'],
    ]);
  });

  it('with --dry-run sends dry_run=true where a node takes it, reads as they are, and nothing else', async () => {
    const batch = file(
      'batch-dry.jsonl',
      [
        '{"node": "user/add_local", "params": {"user": "5801@pbx.local", "displayname": "Dry"}}',
        '{"node": "numbers/add", "params": {"number": "+4799058101"}}',
        '{"node": "user/get", "params": {"user": "5000@pbx.local"}}',
        '',
      ].join('\n'),
    );
    const writesBefore = pbxWrites(main).length;
    const run = await pbxgw(['batch', batch, '--dry-run']);
    expect(run.code).toBe(0);
    const lines = (jsonLines(run.stdout) as Record<string, unknown>[]).sort((a, b) => Number(a.line) - Number(b.line));
    expect(lines.map(({ line, outcome, cause }) => [line, outcome, cause])).toEqual([
      [1, 'ok', ''],
      [2, 'skipped', 'dry_run'],
      [3, 'ok', ''],
    ]);
    expect(pbxWrites(main).length).toBe(writesBefore);
    expect(await node(main, 'numbers/inpool', { number: '+4799058101' })).toMatchObject({ response: 'failed', cause: 'nonexistant' });
    expect(await node(main, 'user/get', { user: '5801@pbx.local' })).toMatchObject({ response: 'failed', cause: 'nonexistant' });
  });
});
