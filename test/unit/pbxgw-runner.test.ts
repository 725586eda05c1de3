import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Unreachable, type Answer, type GatewayClient } from '../../src/cli/pbxgw/client';
import type { BulkOptions, CommandIo } from '../../src/cli/pbxgw/io';
import { readReport, type ReportLayout, type ReportLine } from '../../src/cli/pbxgw/report-file';
import { runBulk, type BulkTask } from '../../src/cli/pbxgw/runner';

// The runner that import and batch share: rows in flight, the report (0600, input order, written
// as rows finish), --resume, output without a report, exit statuses.

const LAYOUT: ReportLayout = { columns: ['row', 'user', 'outcome', 'cause', 'detail', 'password'], key: ['row', 'user'] };

let directory: string;
beforeEach(() => {
  directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-runner-'));
});
afterEach(() => fs.rmSync(directory, { recursive: true, force: true }));

/** A gateway that answers the runner's first look (user/genpw) with `answer`, or not at all. */
function gateway(answer: Answer | 'unreachable' = { status: 200, body: 'Abcdefgh2345', retryAfterSeconds: null }): GatewayClient {
  return {
    call: async () => {
      if (answer === 'unreachable') throw new Unreachable('cannot reach the gateway at http://127.0.0.1:9 (ECONNREFUSED)');
      return answer;
    },
  } as unknown as GatewayClient;
}

function memoryIo(tty = false): CommandIo & { stdoutText(): string; stderrText(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { stdin: new PassThrough(), stdout, stderr, stdoutIsTty: tty, stderrIsTty: false, env: {}, stdoutText: () => out, stderrText: () => err };
}

function options(overrides: Partial<BulkOptions> = {}): BulkOptions {
  return { dryRun: false, concurrency: 4, report: null, resume: false, json: false, ...overrides };
}

const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** Tasks for rows 2.. that finish in reverse order (the last first), `outcome(row)` each. */
function tasks(count: number, outcome: (row: number) => string = () => 'ok', ran: number[] = []): BulkTask[] {
  return Array.from({ length: count }, (_, index) => {
    const row = index + 2;
    const key = { row: String(row), user: `${1000 + row}@pbx.local` };
    return {
      key,
      run: async (): Promise<ReportLine> => {
        ran.push(row);
        await pause((count - index) * 5);
        return { ...key, outcome: outcome(row), cause: '', detail: `row ${row}`, password: outcome(row) === 'ok' ? `pw-${row}` : '' };
      },
    };
  });
}

const run = (overrides: Partial<Parameters<typeof runBulk>[0]>) =>
  runBulk({ command: 'import', unit: 'row', layout: LAYOUT, tasks: [], options: options(), client: gateway(), io: memoryIo(), ...overrides });

describe('the bulk runner', () => {
  it('writes the report with mode 0600 and in input order, though rows finish out of order', async () => {
    const report = path.join(directory, 'report.csv');
    expect(await run({ tasks: tasks(5), options: options({ report }) })).toBe(0);
    expect(fs.statSync(report).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(report, 'utf8')).toBe(
      ['row,user,outcome,cause,detail,password', ...[2, 3, 4, 5, 6].map((row) => `${row},${1000 + row}@pbx.local,ok,,row ${row},pw-${row}`), ''].join('\n'),
    );
  });

  it('keeps at most --concurrency rows in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const counted = tasks(12).map((task) => ({
      key: task.key,
      run: async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        const line = await task.run();
        inFlight -= 1;
        return line;
      },
    }));
    await run({ tasks: counted, options: options({ concurrency: 3 }) });
    expect(most).toBe(3);
  });

  it('exits 1 when a row is not ok, and says what each outcome counted on stderr', async () => {
    const io = memoryIo();
    expect(await run({ tasks: tasks(3, (row) => (row === 3 ? 'failed' : 'ok')), io })).toBe(1);
    expect(io.stderrText()).toBe('pbxgw import: 3 rows: 2 ok, 1 failed\n');
  });

  it('with --resume skips the rows the report shows as ok and keeps their lines, passwords included', async () => {
    const report = path.join(directory, 'report.csv');
    await run({ tasks: tasks(4, (row) => (row === 4 ? 'failed' : 'ok')), options: options({ report }) });
    const ran: number[] = [];
    expect(await run({ tasks: tasks(4, () => 'ok', ran), options: options({ report, resume: true }) })).toBe(0);
    expect(ran).toEqual([4]);
    const lines = readReport(report, LAYOUT) ?? [];
    expect(lines.map((line) => [line.row, line.outcome, line.password])).toEqual([
      ['2', 'ok', 'pw-2'],
      ['3', 'ok', 'pw-3'],
      ['4', 'ok', 'pw-4'],
      ['5', 'ok', 'pw-5'],
    ]);
  });

  it('does not take a row of another user for done (the sheet changed under the report)', async () => {
    const report = path.join(directory, 'report.csv');
    fs.writeFileSync(report, 'row,user,outcome,cause,detail,password\n2,someone@pbx.local,ok,,,\n');
    const ran: number[] = [];
    await run({ tasks: tasks(1, () => 'ok', ran), options: options({ report, resume: true }) });
    expect(ran).toEqual([2]);
  });

  it('never takes a dry run’s ok for done: the dry run prefixes every detail and --resume runs those rows', async () => {
    const report = path.join(directory, 'report.csv');
    await run({ tasks: tasks(2), options: options({ report, dryRun: true }) });
    expect((readReport(report, LAYOUT) ?? []).map((line) => line.detail)).toEqual(['dry run: row 2', 'dry run: row 3']);
    const ran: number[] = [];
    await run({ tasks: tasks(2, () => 'ok', ran), options: options({ report, resume: true }) });
    expect(ran.sort()).toEqual([2, 3]);
  });

  it('refuses to overwrite a report without --resume (it may hold the only copy of passwords), exit 2', async () => {
    const report = path.join(directory, 'report.csv');
    fs.writeFileSync(report, 'precious');
    const io = memoryIo();
    const ran: number[] = [];
    expect(await run({ tasks: tasks(1, () => 'ok', ran), options: options({ report }), io })).toBe(2);
    expect(io.stderrText()).toBe(`pbxgw import: the report ${report} exists: give --resume to continue that run, or another file\n`);
    expect(fs.readFileSync(report, 'utf8')).toBe('precious');
    expect(ran).toEqual([]);
  });

  it('refuses to resume from a file that is no report of this command, exit 2', async () => {
    const report = path.join(directory, 'report.csv');
    fs.writeFileSync(report, 'line,node,outcome,cause,detail\n');
    const io = memoryIo();
    expect(await run({ tasks: tasks(1), options: options({ report, resume: true }), io })).toBe(2);
    expect(io.stderrText()).toContain('is not a report of this command');
  });

  it('exits 2 with one line when the report cannot be written, before any row', async () => {
    const report = path.join(directory, 'no-such-folder', 'report.csv');
    const io = memoryIo();
    const ran: number[] = [];
    expect(await run({ tasks: tasks(1, () => 'ok', ran), options: options({ report }), io })).toBe(2);
    expect(io.stderrText()).toMatch(/^pbxgw import: cannot write the report \S+: ENOENT[^\n]*; nothing was sent\n$/);
    expect(ran).toEqual([]);
  });

  it('exits 3 with one line when the gateway cannot be reached, before any row and without a report', async () => {
    const report = path.join(directory, 'report.csv');
    const io = memoryIo();
    const ran: number[] = [];
    expect(await run({ tasks: tasks(2, () => 'ok', ran), options: options({ report }), client: gateway('unreachable'), io })).toBe(3);
    expect(io.stderrText()).toBe('pbxgw import: cannot reach the gateway at http://127.0.0.1:9 (ECONNREFUSED); nothing was sent\n');
    expect(ran).toEqual([]);
    expect(fs.existsSync(report)).toBe(false);
  });

  it('exits 4 when the gateway refuses the token, before any row', async () => {
    const refused = gateway({ status: 401, body: { response: 'invalid', cause: 'auth' }, retryAfterSeconds: null });
    expect(await run({ tasks: tasks(1), client: refused })).toBe(4);
  });

  it('without a report writes JSON lines to stdout when it is no terminal, as rows finish', async () => {
    const io = memoryIo(false);
    await run({ tasks: tasks(2), io });
    expect(io.stdoutText()).toBe(
      '{"row":3,"user":"1003@pbx.local","outcome":"ok","cause":"","detail":"row 3","password":"pw-3"}\n' +
        '{"row":2,"user":"1002@pbx.local","outcome":"ok","cause":"","detail":"row 2","password":"pw-2"}\n',
    );
  });

  it('without a report prints a table in row order on a terminal, leaving out empty columns', async () => {
    const io = memoryIo(true);
    await run({ tasks: tasks(2), io });
    expect(io.stdoutText()).toBe(
      ['ROW  USER            OUTCOME  DETAIL  PASSWORD', '2    1002@pbx.local  ok       row 2   pw-2', '3    1003@pbx.local  ok       row 3   pw-3', ''].join('\n'),
    );
  });

  it('reports a row whose work throws as error/internal and goes on', async () => {
    const broken: BulkTask = {
      key: { row: '2', user: 'x@pbx.local' },
      run: () => Promise.reject(new Error('a bug')),
    };
    const io = memoryIo();
    expect(await run({ tasks: [broken, ...tasks(2).slice(1)], io })).toBe(1);
    expect(io.stdoutText()).toContain('{"row":2,"user":"x@pbx.local","outcome":"error","cause":"internal","detail":"pbxgw: a bug","password":""}');
  });
});
