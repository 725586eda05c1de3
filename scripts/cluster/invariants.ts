import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Connection as CallbackConnection } from 'mysql2';
import type { RowDataPacket } from 'mysql2/promise';
import type { Extension } from '../../src/pbx/extension';
import type { SecretBox } from '../../src/secrets/secret-box';
import { openStoredSecret } from '../../src/secrets/secrets-at-rest';
import type { GaleraCluster, GaleraNode } from './galera';
import type { Report } from './report';
import type { SimulatorProcess } from './simulator-control';

// The invariants checked after every scenario (CONTRACT sections 7 and 11): no duplicates, every
// node of the cluster identical, and the PBX and MySQL in agreement.

export const DATABASE = 'pbxgw_cluster';
export const LOCAL_DOMAIN = 'pbx.local';

/** How long the PBX and MySQL may take to agree again: section 7's 30 s for repairs, and a margin. */
export const AGREEMENT_WAIT_MS = 35_000;

export interface InvariantContext {
  readonly cluster: GaleraCluster;
  readonly simulator: SimulatorProcess;
  readonly secrets: SecretBox;
  readonly report: Report;
}

/** The first node that runs (node 1 unless it was killed): where the run reads MySQL's side. */
export function readingNode(cluster: GaleraCluster): GaleraNode {
  const node = cluster.nodes.find((candidate) => candidate.running);
  if (!node) throw new Error('no node of the cluster runs');
  return node;
}

export async function databaseExists(node: GaleraNode): Promise<boolean> {
  return node.withConnection(async (connection) => {
    const [rows] = await connection.query<RowDataPacket[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [DATABASE]);
    return rows.length > 0;
  });
}

// ---------------------------------------------------------------------------------------------
// No duplicates

const DUPLICATE_QUERIES: readonly (readonly [string, string])[] = [
  ['users(username,domain)', "SELECT CONCAT(username, '@', domain) AS k, COUNT(*) AS n FROM users GROUP BY username, domain HAVING n > 1"],
  ['phones(mac,user_id)', "SELECT CONCAT(mac, ' ', user_id) AS k, COUNT(*) AS n FROM phones GROUP BY mac, user_id HAVING n > 1"],
  ['aliases(alias)', "SELECT CONCAT(alias_username, '@', alias_domain) AS k, COUNT(*) AS n FROM aliases GROUP BY alias_username, alias_domain HAVING n > 1"],
  [
    'E.164 aliases per destination',
    "SELECT CONCAT(destination_username, '@', destination_domain) AS k, COUNT(*) AS n FROM aliases WHERE alias_username REGEXP '^[+][1-9][0-9]{1,14}$' GROUP BY destination_username, destination_domain HAVING n > 1",
  ],
  ['numbers(number)', 'SELECT number AS k, COUNT(*) AS n FROM numbers GROUP BY number HAVING n > 1'],
  ['addresses(username,domain)', "SELECT CONCAT(username, '@', domain) AS k, COUNT(*) AS n FROM addresses GROUP BY username, domain HAVING n > 1"],
];

/** Keys held twice, in MySQL (read on every running node) and on the PBX; empty when none. */
export async function findDuplicates(cluster: GaleraCluster, simulator: SimulatorProcess): Promise<string[]> {
  const found: string[] = [];
  for (const node of cluster.nodes.filter((candidate) => candidate.running)) {
    await node.withConnection(async (connection) => {
      for (const [name, sql] of DUPLICATE_QUERIES) {
        const [rows] = await connection.query<RowDataPacket[]>(sql);
        for (const row of rows) found.push(`${node.name} ${name}: ${String(row.k)} ×${String(row.n)}`);
      }
    }, DATABASE);
  }
  const perNumber = new Map<string, number>();
  for (const extension of await simulator.extensions()) perNumber.set(extension.number, (perNumber.get(extension.number) ?? 0) + 1);
  for (const [number, count] of perNumber) if (count > 1) found.push(`PBX: extension ${number} ×${count}`);
  return found;
}

// ---------------------------------------------------------------------------------------------
// Every node identical

interface TableState {
  readonly rows: string;
  readonly checksum: string;
}

/** Each base table of the database: its row count and CHECKSUM TABLE, read after the node caught up. */
async function tableStates(node: GaleraNode): Promise<Map<string, TableState>> {
  return node.withConnection(async (connection) => {
    // wsrep_sync_wait (set by connect) makes this read wait until the node applied every write-set
    // committed in the cluster before it; CHECKSUM TABLE itself does not wait.
    const [tables] = await connection.query<RowDataPacket[]>(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
      [DATABASE],
    );
    const states = new Map<string, TableState>();
    for (const { name } of tables) {
      const table = String(name).replace(/`/g, '``');
      const [[counted]] = await connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${DATABASE}\`.\`${table}\``);
      const [[summed]] = await connection.query<RowDataPacket[]>(`CHECKSUM TABLE \`${DATABASE}\`.\`${table}\``);
      states.set(String(name), { rows: String(counted.n), checksum: String(summed.Checksum) });
    }
    return states;
  });
}

export interface Comparison {
  readonly identical: boolean;
  readonly tables: number;
  readonly attempts: number;
  readonly differences: string[];
  /** Tables whose CHECKSUM TABLE differed while their ordered rows were the same (a storage artefact). */
  readonly checksumOnly: string[];
}

/** Columns whose values are never printed. */
const SECRET_COLUMN = /password|secret|sealed|token|digest/i;
/** Tables up to this many rows are compared row by row (the differing rows are named); larger ones by a digest of their ordered rows. */
const ROW_BY_ROW_MAX = 200_000;

interface OrderedRows {
  readonly digest: string;
  /** Primary key → the row as JSON (small tables only). */
  readonly rows: Map<string, Record<string, unknown>> | null;
}

function printable(value: unknown): unknown {
  return Buffer.isBuffer(value) ? value.toString('hex') : value instanceof Date ? value.toISOString() : value;
}

/** The table's rows in primary-key order: a digest, and (for a small table) each row by its key. */
async function orderedRows(node: GaleraNode, table: string): Promise<OrderedRows> {
  return node.withConnection(async (connection) => {
    const [keyColumns] = await connection.query<RowDataPacket[]>(
      "SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
      [DATABASE, table],
    );
    const key = keyColumns.map((row) => String(row.name));
    const quoted = (name: string) => `\`${name.replace(/`/g, '``')}\``;
    const [[counted]] = await connection.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoted(DATABASE)}.${quoted(table)}`);
    const keep = Number(counted.n) <= ROW_BY_ROW_MAX;
    const order = key.length > 0 ? key.map(quoted).join(', ') : '1';
    const hash = createHash('sha256');
    const rows = keep ? new Map<string, Record<string, unknown>>() : null;
    // Streamed through the callback connection under the promise wrapper (mysql2's way to stream):
    // a big table is never held whole.
    const core = (connection as unknown as { connection: CallbackConnection }).connection;
    const stream = core.query(`SELECT * FROM ${quoted(DATABASE)}.${quoted(table)} ORDER BY ${order}`).stream({ highWaterMark: 1000 });
    for await (const raw of stream) {
      const row = Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([name, value]) => [name, printable(value)]));
      const text = JSON.stringify(row);
      hash.update(`${text}\n`);
      rows?.set(key.length > 0 ? key.map((name) => String(row[name])).join('/') : text, row);
    }
    return { digest: hash.digest('hex'), rows };
  });
}

/** What differs in one table between the nodes, row by row where it can (values of secret columns never shown). */
async function explainDifference(nodes: readonly GaleraNode[], table: string): Promise<{ same: boolean; lines: string[] }> {
  const dumps = await Promise.all(nodes.map((node) => orderedRows(node, table)));
  if (dumps.every((dump) => dump.digest === dumps[0].digest)) return { same: true, lines: [] };
  const lines: string[] = [];
  const reference = dumps[0].rows;
  for (const [index, dump] of dumps.entries()) {
    if (index === 0 || dump.digest === dumps[0].digest) continue;
    if (!reference || !dump.rows) {
      lines.push(`${table}: ${nodes[index].name} differs from ${nodes[0].name} (ordered rows, digest only)`);
      continue;
    }
    for (const [rowKey, row] of reference) {
      const other = dump.rows.get(rowKey);
      if (!other) lines.push(`${table} ${rowKey}: on ${nodes[0].name}, missing on ${nodes[index].name}`);
      else {
        const columns = Object.keys(row).filter((name) => JSON.stringify(row[name]) !== JSON.stringify(other[name]));
        if (columns.length > 0) {
          const shown = columns.map((name) => (SECRET_COLUMN.test(name) ? name : `${name} ${JSON.stringify(row[name])} vs ${JSON.stringify(other[name])}`));
          lines.push(`${table} ${rowKey}: ${nodes[0].name} vs ${nodes[index].name}: ${shown.join('; ')}`);
        }
      }
      if (lines.length >= 10) break;
    }
    for (const rowKey of dump.rows.keys()) {
      if (lines.length >= 10) break;
      if (!reference.has(rowKey)) lines.push(`${table} ${rowKey}: on ${nodes[index].name}, missing on ${nodes[0].name}`);
    }
  }
  return { same: false, lines };
}

/**
 * Compares every table on every running node: row count and CHECKSUM TABLE, and for a table whose
 * checksums differ, its rows in primary-key order (which also names the differing rows). Gateways
 * may still write now and then on their own (token use, claims, the migration lease): a difference
 * is read again, up to `attempts` times, before it counts.
 */
export async function compareNodes(cluster: GaleraCluster, attempts = 6): Promise<Comparison> {
  const nodes = cluster.nodes.filter((node) => node.running);
  let differences: string[] = [];
  let checksumOnly: string[] = [];
  let tables = 0;
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    const states = await Promise.all(nodes.map((node) => tableStates(node)));
    const names = [...new Set(states.flatMap((state) => [...state.keys()]))].sort();
    tables = names.length;
    differences = [];
    checksumOnly = [];
    for (const name of names) {
      const first = JSON.stringify(states[0].get(name) ?? null);
      if (states.every((state) => JSON.stringify(state.get(name) ?? null) === first)) continue;
      const seen = states.map((state, index) => `${nodes[index].name} ${state.get(name) ? `${state.get(name)?.rows} rows, checksum ${state.get(name)?.checksum}` : 'missing'}`);
      if (states.some((state) => !state.has(name))) {
        differences.push(`${name}: ${seen.join('; ')}`);
        continue;
      }
      const { same, lines } = await explainDifference(nodes, name);
      if (same) checksumOnly.push(`${name} (${seen.join('; ')})`);
      else differences.push(`${name}: ${seen.join('; ')}`, ...lines);
    }
    if (differences.length === 0) return { identical: true, tables, attempts: attempt, differences, checksumOnly };
    await sleep(1000);
  }
  return { identical: false, tables, attempts, differences, checksumOnly };
}

// ---------------------------------------------------------------------------------------------
// The PBX and MySQL agree

interface LocalUser {
  readonly username: string;
  readonly displayname: string;
  readonly email: string;
  readonly password: string | null;
}

async function localUsers(node: GaleraNode, secrets: SecretBox): Promise<LocalUser[]> {
  return node.withConnection(async (connection) => {
    const [rows] = await connection.query<RowDataPacket[]>(
      "SELECT id, username, domain, displayname, email, password, secret FROM users WHERE kind = 'local' AND domain = ?",
      [LOCAL_DOMAIN],
    );
    return rows.map((row) => {
      let password: string | null;
      try {
        password = openStoredSecret(secrets, { id: Number(row.id), username: row.username, domain: row.domain, sealed: row.secret ?? null, clear: row.password ?? null });
      } catch {
        password = '(a stored password that does not open)';
      }
      return { username: String(row.username), displayname: String(row.displayname), email: String(row.email), password };
    });
  }, DATABASE);
}

/** Where the two stores disagree about the local domain (never naming a password); empty when they agree. */
export function disagreements(users: readonly LocalUser[], extensions: readonly Extension[]): string[] {
  const found: string[] = [];
  const byNumber = new Map(extensions.map((extension) => [extension.number, extension]));
  for (const user of users) {
    const extension = byNumber.get(user.username);
    if (!extension) {
      found.push(`${user.username}@${LOCAL_DOMAIN}: local user in MySQL without an extension on the PBX`);
      continue;
    }
    if ((extension.secret ?? null) !== user.password) found.push(`${user.username}: the secret on the PBX is not the password MySQL holds`);
    if (extension.name !== user.displayname) found.push(`${user.username}: name on the PBX ${JSON.stringify(extension.name)}, displayname in MySQL ${JSON.stringify(user.displayname)}`);
    if (extension.email !== user.email) found.push(`${user.username}: email on the PBX ${JSON.stringify(extension.email)}, in MySQL ${JSON.stringify(user.email)}`);
  }
  const numbers = new Set(users.map((user) => user.username));
  for (const extension of extensions) if (!numbers.has(extension.number)) found.push(`extension ${extension.number} on the PBX without a local user in MySQL`);
  return found;
}

export async function currentDisagreements(context: InvariantContext): Promise<string[]> {
  const users = await localUsers(readingNode(context.cluster), context.secrets);
  return disagreements(users, await context.simulator.extensions());
}

export interface Agreement {
  readonly agreed: boolean;
  readonly waitedMs: number;
  readonly disagreements: string[];
}

/** Polls until the PBX and MySQL agree (two reads in a row), at most `timeoutMs`. */
export async function waitForAgreement(context: InvariantContext, timeoutMs = AGREEMENT_WAIT_MS): Promise<Agreement> {
  const started = performance.now();
  let agreeingReads = 0;
  for (;;) {
    const found = await currentDisagreements(context);
    agreeingReads = found.length === 0 ? agreeingReads + 1 : 0;
    const waitedMs = performance.now() - started;
    if (agreeingReads >= 2) return { agreed: true, waitedMs, disagreements: [] };
    if (waitedMs > timeoutMs) return { agreed: false, waitedMs, disagreements: found };
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------

/** The three invariants, as checks named after the scenario. */
export async function checkInvariants(context: InvariantContext, label: string): Promise<void> {
  const { report } = context;
  if (!(await databaseExists(readingNode(context.cluster)))) {
    report.check(`${label} invariants: database present`, false, `${DATABASE} does not exist on ${readingNode(context.cluster).name}`);
    return;
  }
  const agreement = await waitForAgreement(context);
  report.check(
    `${label} invariant: PBX and MySQL agree`,
    agreement.agreed,
    agreement.agreed ? `agree (after ${(agreement.waitedMs / 1000).toFixed(1)} s)` : `${agreement.disagreements.length} disagreements after ${(agreement.waitedMs / 1000).toFixed(0)} s`,
    agreement.disagreements,
  );
  const duplicates = await findDuplicates(context.cluster, context.simulator);
  report.check(`${label} invariant: no duplicates`, duplicates.length === 0, duplicates.length === 0 ? 'none, in MySQL on every node and on the PBX' : `${duplicates.length} found`, duplicates);
  const comparison = await compareNodes(context.cluster);
  const running = context.cluster.nodes.filter((node) => node.running).length;
  report.check(
    `${label} invariant: every node identical`,
    comparison.identical && running === context.cluster.nodes.length,
    comparison.identical
      ? `${comparison.tables} tables, same rows on ${running} of ${context.cluster.nodes.length} nodes${comparison.attempts > 1 ? ` (read ${comparison.attempts} times)` : ''}` +
          (comparison.checksumOnly.length > 0 ? `; CHECKSUM TABLE differs for ${comparison.checksumOnly.join(', ')} with the same ordered rows` : '')
      : `tables differ after ${comparison.attempts} reads`,
    comparison.differences,
  );
}

// ---------------------------------------------------------------------------------------------
// Single records, for the scenarios

/** Whether each running node holds the user (node name → held). */
export async function userOnNodes(cluster: GaleraCluster, username: string, domain: string): Promise<Map<string, boolean>> {
  const held = new Map<string, boolean>();
  for (const node of cluster.nodes.filter((candidate) => candidate.running)) {
    const [rows] = await node.withConnection((connection) => connection.query<RowDataPacket[]>('SELECT 1 FROM users WHERE username = ? AND domain = ?', [username, domain]), DATABASE);
    held.set(node.name, rows.length > 0);
  }
  return held;
}

/** The password MySQL holds for a local user (opened with the gateways' key), undefined when there is no such user. */
export async function heldPassword(context: InvariantContext, username: string): Promise<string | null | undefined> {
  const users = await localUsers(readingNode(context.cluster), context.secrets);
  return users.find((user) => user.username === username)?.password;
}
