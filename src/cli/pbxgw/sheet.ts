import fs from 'node:fs';
import type { GatewayClient } from './client';
import type { ImportCommand } from './io';
import { callNode, type CallResult } from './node-call';
import type { ReportLayout, ReportLine } from './report-file';
import { EXIT_USAGE, runBulk, say } from './runner';
import { readSheet, SheetRefused, type Person, type SheetRow } from './sheet-file';

// `pbxgw import FILE.csv` (CONTRACT section 10): each row of the sheet becomes its user, phones,
// aliases and permissions, all or nothing. A row's node calls run in order; when one fails, the
// ones already done for that row are taken back in reverse (alias/remove, phone/remove,
// user/remove, which takes a local user's PBX extension with it).

export const IMPORT_REPORT: ReportLayout = { columns: ['row', 'user', 'outcome', 'cause', 'detail', 'password'], key: ['row', 'user'] };

interface NodeCall {
  readonly node: string;
  readonly params: Record<string, unknown>;
}

interface Step extends NodeCall {
  /** What it is about, for the report: the user, a MAC, an alias. */
  readonly what: string;
  /** What takes it back when a later step of the row fails; null when user/remove takes it back with the user. */
  readonly undo: NodeCall | null;
  /**
   * Dry run: the row's user is not made, so the node's `failed nonexistant` (no such user) means
   * every check before that one passed; what the gateway checks after it is checked by reads.
   */
  readonly afterUser?: boolean;
}

function given(values: Record<string, string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values)
      .filter(([, value]) => value !== '')
      // Ports go as numbers when they are numbers; anything else goes as given for the gateway to name.
      .map(([name, value]) => [name, (name === 'r_port' || name === 'p_port') && /^\d{1,5}$/.test(value) ? Number(value) : value]),
  );
}

/** The node calls that make the person, in order. */
function stepsOf(person: Person, dryRun: boolean): Step[] {
  const { address: user, values } = person;
  const dry = dryRun ? { dry_run: true } : {};
  const removeUser = { node: 'user/remove', params: { user } };
  const steps: Step[] = [];
  if (person.kind === 'local') {
    steps.push({ node: 'user/add_local', params: { user, ...given({ displayname: values.displayname, email: values.email }), ...dry }, what: user, undo: removeUser });
    // user/change_pw and user/update have no dry_run: the sheet's checks (sheet-file.ts) stand in for them.
    if (!dryRun && values.password !== '') steps.push({ node: 'user/change_pw', params: { user, password: values.password }, what: user, undo: null });
    const settings = given({ dialplan: values.dialplan, linetext: values.linetext });
    if (!dryRun && Object.keys(settings).length > 0) steps.push({ node: 'user/update', params: { user, ...settings }, what: user, undo: null });
  } else {
    const { user: _user, kind: _kind, email: _email, ...remote } = values;
    steps.push({ node: 'user/add_remote', params: { user, ...given(remote), ...dry }, what: user, undo: removeUser });
  }
  for (const mac of person.macs) {
    steps.push({ node: 'phone/add', params: { mac, user, ...dry }, what: mac, undo: { node: 'phone/remove', params: { mac, user } }, afterUser: dryRun });
  }
  for (const alias of person.aliases) {
    steps.push({ node: 'alias/add', params: { alias, destination: user, ...dry }, what: alias, undo: { node: 'alias/remove', params: { alias } }, afterUser: dryRun });
  }
  if (person.permissions.length > 0) {
    const grant = person.permissions.join(',');
    steps.push({ node: 'user/change_permissions', params: { user, grant, ...dry }, what: grant, undo: null, afterUser: dryRun });
  }
  return steps;
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function describe(person: Person): string {
  const parts = [`${person.kind} user ${person.address}`];
  if (person.macs.length > 0) parts.push(plural(person.macs.length, 'phone'));
  if (person.aliases.length > 0) parts.push(plural(person.aliases.length, 'alias', 'aliases'));
  if (person.permissions.length > 0) parts.push(plural(person.permissions.length, 'permission'));
  return parts.join(', ');
}

function words(result: CallResult): string {
  return `${result.outcome}${result.cause ? `/${result.cause}` : ''}${result.detail ? `: ${result.detail}` : ''}`;
}

/**
 * A dry run's alias/add answered nonexistant (the destination is not made): the gateway checks the
 * alias address only after that, so it is looked up here, as alias/add would (a user or an alias
 * holding it).
 */
async function aliasTaken(client: GatewayClient, alias: string): Promise<CallResult | null> {
  const asUser = await callNode(client, 'user/get', { user: alias });
  if (asUser.outcome === 'ok') return { ...asUser, outcome: 'failed', cause: 'exists', detail: `${alias} is taken by a user` };
  if (asUser.cause !== 'nonexistant') return asUser;
  const asAlias = await callNode(client, 'alias/list', { alias });
  if (asAlias.outcome !== 'ok') return asAlias;
  const aliases = asAlias.body?.aliases;
  if (Array.isArray(aliases) && aliases.length > 0) return { ...asAlias, outcome: 'failed', cause: 'exists', detail: `${alias} is taken by an alias` };
  return null;
}

/** Takes back the steps done (the latest first); what could not be taken back is named. */
async function undo(client: GatewayClient, steps: readonly Step[]): Promise<{ undone: string[]; left: string[] }> {
  const undone: string[] = [];
  const left: string[] = [];
  for (const step of [...steps].reverse()) {
    if (step.undo === null) continue;
    const result = await callNode(client, step.undo.node, step.undo.params);
    // nonexistant: it is not there (a step whose answer was lost and that never happened).
    if (result.outcome === 'ok' || result.cause === 'nonexistant') undone.push(`${step.undo.node} ${step.what}`);
    else left.push(`${step.undo.node} ${step.what} ${words(result)}`);
  }
  return { undone, left };
}

async function importPerson(client: GatewayClient, row: SheetRow, person: Person, dryRun: boolean): Promise<ReportLine> {
  const line = (outcome: string, cause: string, detail: string, password = ''): ReportLine => ({ row: String(row.row), user: row.user, outcome, cause, detail, password });
  const done: Step[] = [];
  let password = '';
  for (const step of stepsOf(person, dryRun)) {
    let result = await callNode(client, step.node, step.params);
    if (step.afterUser && result.outcome === 'failed' && result.cause === 'nonexistant') {
      result = (step.node === 'alias/add' ? await aliasTaken(client, step.what) : null) ?? { ...result, outcome: 'ok' };
    }
    if (result.outcome === 'ok') {
      done.push(step);
      if (step.node === 'user/add_local' && typeof result.body?.password === 'string') password = result.body.password;
      if (step.node === 'user/change_pw') password = '';
      continue;
    }
    const failure = `${step.node} ${step.what}: ${words(result)}`;
    // An answer that never came may have done its change: it is taken back with the others.
    const toUndo = result.unreachable ? [...done, step] : done;
    // A dry run made nothing, so it takes nothing back.
    if (dryRun || toUndo.length === 0) return line(result.outcome, result.cause, failure);
    const { undone, left } = await undo(client, toUndo);
    const undoneWords = undone.length > 0 ? `; undone: ${undone.join(', ')}` : '';
    if (left.length === 0) return line('undone', result.cause, `${failure}${undoneWords}`);
    // The user stayed (user/remove failed): its password is known nowhere else.
    const userLeft = left.some((entry) => entry.startsWith('user/remove '));
    return line('partial', result.cause, `${failure}${undoneWords}; NOT undone: ${left.join(', ')}`, userLeft ? password : '');
  }
  if (dryRun) return line('ok', '', `${describe(person)}: every check passed`);
  const fromSheet = person.kind === 'local' && person.values.password !== '' ? ' (password from the sheet)' : '';
  return line('ok', '', `added ${describe(person)}${fromSheet}`, password);
}

/**
 * Addresses the sheet claims twice (a user, or an alias, in two rows): the later row is refused as
 * `exists`, whatever the gateway holds, so that which row wins does not depend on timing.
 */
function claimedTwice(rows: readonly SheetRow[]): Map<number, string> {
  const claims = new Map<string, number>();
  const refused = new Map<number, string>();
  for (const { row, person } of rows) {
    if (person === null) continue;
    const addresses = [person.address, ...person.aliases];
    const taken = addresses.find((address) => claims.has(address));
    if (taken !== undefined) refused.set(row, `row ${claims.get(taken)} of the sheet has ${taken} already`);
    else for (const address of addresses) claims.set(address, row);
  }
  return refused;
}

export const runImport: ImportCommand = async (file, options, client, io) => {
  let rows: SheetRow[];
  try {
    rows = readSheet(fs.readFileSync(file));
  } catch (error) {
    const message = error instanceof SheetRefused ? error.message : `cannot read ${file}: ${(error as Error).message}`;
    say(io, 'import', `${file}: ${message}; nothing was sent`);
    return EXIT_USAGE;
  }
  const twice = claimedTwice(rows);
  const tasks = rows.map((row) => {
    const key = { row: String(row.row), user: row.user };
    const refuse = (outcome: string, cause: string, detail: string): ReportLine => ({ ...key, outcome, cause, detail, password: '' });
    return {
      key,
      run: async (): Promise<ReportLine> => {
        if (row.invalid !== null) return refuse('invalid', row.invalid.cause, row.invalid.detail);
        if (row.person === null) throw new Error('a row is either invalid or a person');
        const conflict = twice.get(row.row);
        if (conflict !== undefined) return refuse('failed', 'exists', conflict);
        return importPerson(client, row, row.person, options.dryRun);
      },
    };
  });
  return runBulk({ command: 'import', unit: 'row', layout: IMPORT_REPORT, tasks, options, client, io });
};
