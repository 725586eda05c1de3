import { displayWidth, formatEnvelope, formatNodeHelp, formatNodeList, formatTable, printable } from '../../src/cli/pbxgw/terminal-output';

// pbxgw's readable form on a terminal (CONTRACT section 10: lists as tables).

describe('formatTable', () => {
  it('aligns every column to its widest cell, two spaces apart, without trailing spaces', () => {
    expect(formatTable(['USER', 'DISPLAYNAME'], [['1001@pbx.local', 'Alice'], ['7@x.y', '']])).toEqual([
      'USER            DISPLAYNAME',
      '1001@pbx.local  Alice',
      '7@x.y',
    ]);
  });

  it('counts wide characters as two columns and combining marks as none', () => {
    expect(displayWidth('漢字')).toBe(4);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(displayWidth('علی')).toBe(3);
    expect(formatTable(['NAME', 'N'], [['漢字', '1'], ['abcde', '2']])).toEqual(['NAME   N', '漢字   1', 'abcde  2']);
  });

  it('writes control characters as escapes: a value cannot drive the terminal', () => {
    expect(printable('a\u001b[2Jb\nc')).toBe('a\\u001b[2Jb\\nc');
    expect(formatTable(['X'], [['\u001b]0;owned\u0007']])).toEqual(['X', '\\u001b]0;owned\\u0007']);
  });
});

describe('formatEnvelope', () => {
  it('puts the outcome first, lists of objects as tables, lists of strings one per line', () => {
    expect(
      formatEnvelope({
        response: 'ok',
        users: [
          { user: '1001@pbx.local', displayname: 'Alice' },
          { user: '1002@pbx.local', displayname: 'Bob Example' },
        ],
        macs: ['001a2b3c4d5e'],
        aliases: [],
        next: '1002@pbx.local',
      }),
    ).toBe(
      [
        'ok',
        'users (2):',
        '  USER            DISPLAYNAME',
        '  1001@pbx.local  Alice',
        '  1002@pbx.local  Bob Example',
        'macs (1):',
        '  001a2b3c4d5e',
        'aliases: none',
        'next: 1002@pbx.local',
        '',
      ].join('\n'),
    );
  });

  it('prints an object as aligned key: value lines below its name; null as -', () => {
    expect(formatEnvelope({ response: 'ok', user: { user: 'a@b.c', kind: 'remote', email: '', r_port: 5060 }, dry_run: true, expires: null })).toBe(
      ['ok (dry run: nothing was changed)', 'user:', '  user:   a@b.c', '  kind:   remote', '  email:', '  r_port: 5060', 'expires: -', ''].join('\n'),
    );
  });

  it('says the outcome and cause first for a failure, then the detail', () => {
    expect(formatEnvelope({ response: 'failed', cause: 'exists', detail: 'the address is taken' })).toBe('failed: exists\ndetail: the address is taken\n');
  });

  it('shows nested values in table cells compactly', () => {
    const text = formatEnvelope({ response: 'ok', entries: [{ id: 3, params: { user: 'a@b.c' }, cause: null, permissions: ['ld', 'local'] }] });
    expect(text).toContain('  ID  PARAMS            CAUSE  PERMISSIONS\n  3   {"user":"a@b.c"}  -      ld, local\n');
  });
});

describe('nodes and help', () => {
  it('lists nodes as a table', () => {
    expect(formatNodeList([{ node: 'tokens/add', scope: 'admin', summary: 'Makes a token.' }])).toBe('NODE        SCOPE  SUMMARY\ntokens/add  admin  Makes a token.\n');
  });

  it("shows a node's parameters with their constraints, its answer and its causes", () => {
    const text = formatNodeHelp({
      node: 'tokens/add',
      scope: 'admin',
      summary: 'Makes a token.',
      description: 'Needs a token with scope admin.',
      parameters: [
        { name: 'name', required: true, type: 'string', description: 'Its name.', pattern: '^[a-z]+$' },
        { name: 'rate_per_minute', required: false, type: 'integer', description: 'Its limit.', minimum: 1, maximum: 1000 },
      ],
      answer: { plainText: false, members: [{ name: 'token', type: 'string', required: true, description: 'The token.' }] },
      causes: { failed: { exists: 'a token of that name exists' }, invalid: { expires: 'not in the future' } },
    });
    expect(text).toContain('tokens/add: Makes a token.\nscope: admin\n');
    expect(text).toContain('  NAME             TYPE     REQUIRED  DESCRIPTION\n  name             string   yes       Its name.\n      pattern ^[a-z]+$\n');
    expect(text).toContain('  rate_per_minute  integer            Its limit.\n      1–1000\n');
    expect(text).toContain('  MEMBER  TYPE    ALWAYS  DESCRIPTION\n  token   string  yes     The token.\n');
    expect(text).toContain('  failed   exists   a token of that name exists\n  invalid  expires  not in the future\n');
  });
});
