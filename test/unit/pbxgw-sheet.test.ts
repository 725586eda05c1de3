import { formatCsv, parseCsv } from '../../src/cli/pbxgw/csv-text';
import { readBatch } from '../../src/cli/pbxgw/batch';
import { readSheet, SHEET_COLUMNS, SheetRefused } from '../../src/cli/pbxgw/sheet-file';

// The sheet of `pbxgw import` and the lines of `pbxgw batch` as read before anything is sent
// (CONTRACT section 10): RFC 4180 CSV, the header's columns, and each row's own faults.

function refusal(text: string): string {
  try {
    readSheet(text);
  } catch (error) {
    if (error instanceof SheetRefused) return error.message;
    throw error;
  }
  throw new Error('the sheet was not refused');
}

describe('parseCsv', () => {
  it('reads quotes, commas and doubled quotes inside quotes, a byte-order mark and CRLF', () => {
    const text = '\uFEFFuser,displayname\r\n1001@pbx.local,"Doe, ""Jane"""\r\n';
    expect(parseCsv(Buffer.from(text, 'utf8'))).toEqual([
      { line: 1, fields: ['user', 'displayname'] },
      { line: 2, fields: ['1001@pbx.local', 'Doe, "Jane"'] },
    ]);
  });

  it('numbers a record by the line it starts on, past blank lines and line breaks inside quotes', () => {
    const records = parseCsv('a,b\n\n"x\ny",1\nlast,2\n');
    expect(records.map((record) => record.line)).toEqual([1, 3, 5]);
    expect(records[1].fields).toEqual(['x\ny', '1']);
  });

  it('writes what it reads back, quoting only what needs it', () => {
    const fields = ['+4761123456', 'Doe, "Jane"', '', 'plain'];
    const text = formatCsv([fields]);
    expect(text).toBe('+4761123456,"Doe, ""Jane""",,plain\n');
    expect(parseCsv(text)[0].fields).toEqual(fields);
  });
});

describe('readSheet', () => {
  it('takes the columns in any order and any case, with only user, kind and displayname required', () => {
    const [row] = readSheet('Displayname,KIND,user\nAlice,local,1001@PBX.local\n');
    expect(row).toMatchObject({ row: 2, user: '1001@PBX.local', invalid: null });
    expect(row.person).toMatchObject({ address: '1001@pbx.local', kind: 'local', macs: [], aliases: [], permissions: [] });
    expect(row.person?.values.displayname).toBe('Alice');
  });

  it('splits macs, aliases and permissions on spaces and takes an alias without @ in the user’s domain', () => {
    const [row] = readSheet('user,kind,displayname,macs,aliases,permissions\n1001@pbx.local,local,A,00:11:22:33:44:55  AABBCCDDEEFF,+4761123456 alice@other.local,local ld\n');
    expect(row.person).toMatchObject({
      macs: ['00:11:22:33:44:55', 'AABBCCDDEEFF'],
      aliases: ['+4761123456@pbx.local', 'alice@other.local'],
      permissions: ['local', 'ld'],
    });
  });

  it('refuses a sheet without a required column, naming it', () => {
    expect(refusal('user,kind\n1001@pbx.local,local\n')).toBe('missing the required column displayname (required: user, kind, displayname)');
  });

  it('refuses a sheet with an unknown column, naming it', () => {
    expect(refusal('user,kind,displayname,phone\n')).toMatch(/^unknown column "phone" \(the columns are user, kind, /);
  });

  it('refuses a column given twice, an empty file and text that is no CSV', () => {
    expect(refusal('user,kind,displayname,User\n')).toBe('the column user appears twice');
    expect(refusal('')).toMatch(/^the sheet is empty/);
    expect(refusal('user,kind,displayname\n"1001@pbx.local,local,A\n')).toMatch(/^the sheet does not parse as CSV: Quote Not Closed/);
  });

  it('knows exactly the contract’s fifteen columns', () => {
    expect(SHEET_COLUMNS).toEqual(['user', 'kind', 'displayname', 'email', 'password', 'registrar', 'r_port', 'proxy', 'p_port', 'authid', 'dialplan', 'linetext', 'macs', 'aliases', 'permissions']);
  });

  it.each([
    ['a row with fewer fields than the header', 'user,kind,displayname\n1001@pbx.local,local\n', 'row', 'the row has 2 fields, the header 3'],
    ['an empty user', 'user,kind,displayname\n,local,A\n', 'user', 'the user column is empty'],
    ['a user that is no SIP address', 'user,kind,displayname\nalice,local,A\n', 'user', 'alice is not a SIP address username@domain'],
    ['an unknown kind', 'user,kind,displayname\n1001@pbx.local,pbx,A\n', 'kind', 'kind must be local or remote, not "pbx"'],
    ['an empty displayname', 'user,kind,displayname\n1001@pbx.local,local,\n', 'displayname', 'the displayname column is empty'],
    ['a registrar for a local user', 'user,kind,displayname,registrar\n1001@pbx.local,local,A,sip.example.com\n', 'registrar', expect.stringContaining('remote users')],
    ['an e-mail address for a remote user', 'user,kind,displayname,email\nbob@remote.example,remote,B,b@example.com\n', 'email', expect.stringContaining('remote users')],
    ['a local user’s password that is no password', 'user,kind,displayname,password\n1001@pbx.local,local,A,short\n', 'password', expect.stringContaining('8–64')],
    ['a local user’s linetext that is too long', `user,kind,displayname,linetext\n1001@pbx.local,local,A,${'x'.repeat(65)}\n`, 'linetext', expect.stringContaining('at most 64')],
    ['a MAC that is no MAC', 'user,kind,displayname,macs\n1001@pbx.local,local,A,00:11:22\n', 'macs', expect.stringContaining('00:11:22 is not a MAC')],
    ['one MAC twice, in two spellings', 'user,kind,displayname,macs\n1001@pbx.local,local,A,00:11:22:33:44:55 001122334455\n', 'macs', 'the MAC 001122334455 is given twice'],
    ['two E.164 aliases', 'user,kind,displayname,aliases\n1001@pbx.local,local,A,+4761000001 +4761000002\n', 'aliases', expect.stringContaining('at most one E.164 alias')],
    ['the user’s own address as an alias', 'user,kind,displayname,aliases\n1001@pbx.local,local,A,1001\n', 'aliases', '1001@pbx.local is the user\'s own address'],
  ])('marks %s invalid, naming the column, without refusing the sheet', (_what, text, cause, detail) => {
    const rows = readSheet(text);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ row: 2, person: null, invalid: { cause, detail } });
  });
});

describe('readBatch', () => {
  it('reads one call per line, skipping blank lines but counting them', () => {
    const calls = readBatch('{"node":"numbers/add","params":{"number":"+4790000001"}}\r\n\n{"node":"user/genpw"}\n');
    expect(calls).toEqual([
      { line: 1, node: 'numbers/add', params: { number: '+4790000001' }, malformed: null },
      { line: 3, node: 'user/genpw', params: {}, malformed: null },
    ]);
  });

  it.each([
    ['not json', '', /^not JSON/],
    ['[1,2]', '', /^not a JSON object/],
    ['{"node":"numbers/add","parameters":{}}', 'numbers/add', /^unknown member "parameters"/],
    ['{"node":"../etc","params":{}}', '../etc', /^node must be a node path/],
    ['{"node":"numbers/add","params":[1]}', 'numbers/add', /^params must be a JSON object/],
  ])('takes %s as a malformed line, not a crash', (text, node, detail) => {
    const [call] = readBatch(text);
    expect(call).toMatchObject({ line: 1, node, params: null });
    expect(call.malformed).toMatch(detail);
  });
});
