import { PassThrough } from 'node:stream';
import type { Answer, GatewayClient } from '../../src/cli/pbxgw/client';
import { exportSheet } from '../../src/cli/pbxgw/export';
import type { CommandIo } from '../../src/cli/pbxgw/io';

// pbxgw export over a gateway held in memory: pages of user/list followed by next, each user's
// row from user/get, phone/get, alias/list and user/permissions, --domain exact.

interface Held {
  readonly user: Record<string, unknown>;
  readonly macs: string[];
  readonly aliases: string[];
  readonly permissions: string[];
}

const local = (user: string, displayname: string): Record<string, unknown> => ({ user, kind: 'local', displayname, email: '', dialplan: '', linetext: '' });

function gateway(held: Map<string, Held>, listed: string[], broken: string | null = null): { client: GatewayClient; lists: Record<string, unknown>[] } {
  const lists: Record<string, unknown>[] = [];
  const ok = (members: Record<string, unknown>): Answer => ({ status: 200, body: { response: 'ok', ...members }, retryAfterSeconds: null });
  const call = async (node: string, params: Record<string, unknown>): Promise<Answer> => {
    if (node === broken) return { status: 200, body: { response: 'error', cause: 'db', detail: 'the database did not answer' }, retryAfterSeconds: null };
    const user = String(params.user ?? params.destination ?? '');
    switch (node) {
      case 'user/list': {
        lists.push(params);
        const search = typeof params.search === 'string' ? params.search : '';
        const after = typeof params.after === 'string' ? params.after : '';
        const matching = [...listed].sort().filter((address) => address.includes(search) && address > after);
        const page = matching.slice(0, Number(params.limit));
        return ok({ users: page.map((address) => ({ user: address, displayname: '' })), ...(matching.length > page.length ? { next: page[page.length - 1] } : {}) });
      }
      case 'user/get':
        return held.has(user) ? ok({ user: held.get(user)?.user }) : { status: 200, body: { response: 'failed', cause: 'nonexistant' }, retryAfterSeconds: null };
      case 'phone/get':
        return ok({ macs: held.get(user)?.macs ?? [] });
      case 'alias/list':
        return ok({ aliases: (held.get(user)?.aliases ?? []).map((alias) => ({ alias, destination: user })) });
      case 'user/permissions':
        return ok({ user, permissions: held.get(user)?.permissions ?? [] });
      default:
        throw new Error(`unexpected ${node}`);
    }
  };
  return { client: { call } as unknown as GatewayClient, lists };
}

function memoryIo(): CommandIo & { stdoutText(): string; stderrText(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { stdin: new PassThrough(), stdout, stderr, stdoutIsTty: false, stderrIsTty: false, env: {}, stdoutText: () => out, stderrText: () => err };
}

const HEADER = 'user,kind,displayname,email,password,registrar,r_port,proxy,p_port,authid,dialplan,linetext,macs,aliases,permissions';

const held = new Map<string, Held>([
  ['1001@pbx.local', { user: { ...local('1001@pbx.local', 'Doe, Ann'), email: 'ann@example.com' }, macs: ['001122334455'], aliases: ['+4761000001@pbx.local', 'ann@pbx.local'], permissions: ['ld', 'local'] }],
  ['1002@pbx.local', { user: local('1002@pbx.local', 'Bo'), macs: [], aliases: [], permissions: [] }],
  ['1003@pbx.local.example', { user: local('1003@pbx.local.example', 'Elsewhere'), macs: [], aliases: [], permissions: [] }],
  [
    'bob@remote.example',
    {
      user: { user: 'bob@remote.example', kind: 'remote', displayname: 'Bob', email: '', dialplan: '', linetext: '', registrar: 'sip.remote.example', r_port: 5060, proxy: '', p_port: 5060, authid: 'bob' },
      macs: ['aabbccddeeff'],
      aliases: [],
      permissions: ['int'],
    },
  ],
]);
// 1000@pbx.local is listed but gone by the time its row is read.
const listed = ['1000@pbx.local', ...held.keys()];

describe('pbxgw export', () => {
  it('pages through user/list with limit and next, and writes each user’s row in address order', async () => {
    const { client, lists } = gateway(held, listed);
    const io = memoryIo();
    expect(await exportSheet({ domain: null, pageSize: 2 }, client, io)).toBe(0);
    expect(io.stdoutText()).toBe(
      [
        HEADER,
        '1001@pbx.local,local,"Doe, Ann",ann@example.com,,,,,,,,,001122334455,+4761000001@pbx.local ann@pbx.local,ld local',
        '1002@pbx.local,local,Bo,,,,,,,,,,,,',
        '1003@pbx.local.example,local,Elsewhere,,,,,,,,,,,,',
        'bob@remote.example,remote,Bob,,,sip.remote.example,5060,,5060,bob,,,aabbccddeeff,,int',
        '',
      ].join('\n'),
    );
    expect(lists).toEqual([{ limit: 2 }, { limit: 2, after: '1001@pbx.local' }, { limit: 2, after: '1003@pbx.local.example' }]);
  });

  it('with a domain keeps to that domain exactly (search matches anywhere)', async () => {
    const { client, lists } = gateway(held, listed);
    const io = memoryIo();
    expect(await exportSheet({ domain: 'PBX.local', pageSize: 100 }, client, io)).toBe(0);
    expect(io.stdoutText().split('\n').map((line) => line.split(',')[0])).toEqual(['user', '1001@pbx.local', '1002@pbx.local', '']);
    expect(lists).toEqual([{ limit: 100, search: '@pbx.local' }]);
  });

  it('stops with one line and the exit status of the answer when a call fails', async () => {
    const { client } = gateway(held, listed, 'user/permissions');
    const io = memoryIo();
    expect(await exportSheet({ domain: null, pageSize: 100 }, client, io)).toBe(3);
    expect(io.stderrText()).toBe('pbxgw export: user/permissions: error/db: the database did not answer; the export is incomplete\n');
  });
});
