import { once } from 'node:events';
import type { GatewayClient } from './client';
import { formatCsv } from './csv-text';
import type { CommandIo, ExportCommand } from './io';
import { callNode, type CallResult } from './node-call';
import { say } from './runner';
import { SHEET_COLUMNS, type SheetColumn } from './sheet-file';

// `pbxgw export [--domain D]` (CONTRACT section 10): every user as a row of the import sheet, in
// address order, without passwords (the gateway never answers one), so that `pbxgw import` reads
// it back. Users are listed a page at a time (user/list with limit and after), and each user's
// row is read from user/get, phone/get, alias/list and user/permissions.

const PAGE = 200;
/** Users read at once; four node calls each, well within the 32 requests a token may keep in flight. */
const USERS_IN_FLIGHT = 4;

/** A node call of the export that did not answer ok: the export stops with its exit status. */
class ExportStopped extends Error {
  constructor(
    readonly node: string,
    readonly result: CallResult,
  ) {
    super(`${node}: ${result.outcome}${result.cause ? `/${result.cause}` : ''}${result.detail ? `: ${result.detail}` : ''}`);
  }
}

async function ask(client: GatewayClient, node: string, params: Record<string, unknown>): Promise<Readonly<Record<string, unknown>>> {
  const result = await callNode(client, node, params);
  if (result.outcome !== 'ok' || result.body === null) throw new ExportStopped(node, result);
  return result.body;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

function strings(value: unknown, member?: string): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((entry) => text(member === undefined ? entry : (entry as Record<string, unknown> | null)?.[member]));
}

/** One user's row; null when the user went away since the list was read. */
async function rowOf(client: GatewayClient, user: string): Promise<string[] | null> {
  let got;
  try {
    got = await ask(client, 'user/get', { user });
  } catch (error) {
    if (error instanceof ExportStopped && error.result.cause === 'nonexistant') return null;
    throw error;
  }
  const [phones, aliases, permissions] = await Promise.all([
    ask(client, 'phone/get', { user }),
    ask(client, 'alias/list', { destination: user }),
    ask(client, 'user/permissions', { user }),
  ]);
  const record = (got.user ?? {}) as Record<string, unknown>;
  const cells: Record<SheetColumn, string> = {
    user,
    kind: text(record.kind),
    displayname: text(record.displayname),
    email: text(record.email),
    password: '',
    registrar: text(record.registrar),
    r_port: text(record.r_port),
    proxy: text(record.proxy),
    p_port: text(record.p_port),
    authid: text(record.authid),
    dialplan: text(record.dialplan),
    linetext: text(record.linetext),
    macs: strings(phones.macs).join(' '),
    aliases: strings(aliases.aliases, 'alias').join(' '),
    permissions: strings(permissions.permissions).join(' '),
  };
  return SHEET_COLUMNS.map((column) => cells[column]);
}

/** Runs `work` over `items` with at most `limit` at once; the results in the items' order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const runExport: ExportCommand = ({ domain }, client, io) => exportSheet({ domain, pageSize: PAGE }, client, io);

/** runExport with the page size to ask user/list for (tests page through a few users). */
export async function exportSheet({ domain, pageSize }: { domain: string | null; pageSize: number }, client: GatewayClient, io: CommandIo): Promise<number> {
  const wanted = domain === null ? null : domain.toLowerCase();
  const write = async (text: string) => {
    if (!io.stdout.write(text)) await once(io.stdout, 'drain');
  };
  try {
    await write(formatCsv([SHEET_COLUMNS]));
    let after: string | null = null;
    do {
      // search is a glob matched anywhere: it narrows the pages, the exact domain is checked below.
      const page = await ask(client, 'user/list', { limit: pageSize, ...(after === null ? {} : { after }), ...(wanted === null ? {} : { search: `@${wanted}` }) });
      const users = strings(page.users, 'user').filter((user) => wanted === null || user.slice(user.lastIndexOf('@') + 1) === wanted);
      const rows = (await mapLimited(users, USERS_IN_FLIGHT, (user) => rowOf(client, user))).filter((row): row is string[] => row !== null);
      if (rows.length > 0) await write(formatCsv(rows));
      after = typeof page.next === 'string' ? page.next : null;
    } while (after !== null);
    return 0;
  } catch (error) {
    if (!(error instanceof ExportStopped)) throw error;
    say(io, 'export', `${error.message}; the export is incomplete`);
    return error.result.exitStatus === 0 ? 3 : error.result.exitStatus;
  }
}
