import type { RowDataPacket } from 'mysql2/promise';
import type { ChangeScope } from '../../db/change-scope';
import type { Connection, Pool } from '../../db/pool';
import { withTransaction } from '../../db/transaction';
import { parseForwardPolicy, type ForwardPolicy } from '../../pbx/extension';
import type { NewUser } from '../user/user-store';

/** The fields of a local user's record that pbx/sync takes from the PBX. */
export interface PbxFields {
  readonly displayname: string;
  readonly email: string;
  /** Null while unknown (a record made before the gateway kept forwards). */
  readonly forward: ForwardPolicy | null;
}

export interface RefreshedRow extends PbxFields {
  readonly id: number;
}

/** A local user as pbx/sync compares it with its extension. */
export interface LocalUser extends RefreshedRow {
  readonly username: string;
}

/**
 * Thrown by a transaction's work that finds nothing to change: the transaction is rolled back, so
 * it writes no audit record (the trail holds what was changed), and change() answers `result`.
 */
export class NothingToChange<T> {
  constructor(readonly result: T) {}
}

/**
 * The writes of pbx/sync in bulk: a batch of imported users (their address claims and their rows)
 * and a batch of records refreshed from the PBX, each batch a few statements in one transaction
 * instead of one transaction per extension. The rows are those UserStore.claim and insertRow write
 * one at a time; an imported user holds no password, so nothing is sealed (users.secret stays NULL).
 */
export class SyncStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Runs `work` in one transaction, which writes the audit record when it is the first to change
   * something. It touches MySQL only, so a deadlock or a Galera certification conflict runs it
   * again, whole. A work that throws NothingToChange is rolled back and answers its result.
   */
  async change<T>(work: (connection: Connection) => Promise<T>, audit?: ChangeScope): Promise<T> {
    try {
      return await withTransaction(this.pool, work, { audit, repeatable: true });
    } catch (error) {
      if (error instanceof NothingToChange) return error.result as T;
      throw error;
    }
  }

  /**
   * The domain's local users, ordered by username, with only what pbx/sync compares: for 10,000
   * users a whole record each costs more than the rest of a sync that changes nothing.
   */
  async localUsers(domain: string): Promise<LocalUser[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>(
      "SELECT id, username, displayname, email, forward_policy FROM users WHERE domain = ? AND kind = 'local' ORDER BY username",
      [domain],
    );
    return rows.map((row) => ({
      id: Number(row.id),
      username: String(row.username),
      displayname: String(row.displayname),
      email: String(row.email),
      forward: parseForwardPolicy(row.forward_policy),
    }));
  }

  /**
   * Of these extension numbers, those whose claim another change holds, or that are in doubt
   * (pbx_extensions): they are that change's, or the repair's.
   */
  async busyNumbers(numbers: readonly string[], db: Pool | Connection = this.pool): Promise<Set<string>> {
    if (numbers.length === 0) return new Set();
    const [rows] = await db.query<RowDataPacket[]>(
      `SELECT number FROM pbx_extensions
        WHERE number IN (?) AND (in_doubt_since IS NOT NULL OR (claim IS NOT NULL AND claim_until >= CURRENT_TIMESTAMP(3)))`,
      [numbers],
    );
    return new Set(rows.map((row) => String(row.number)));
  }

  /**
   * Who holds each of these usernames' addresses in the domain (a user or an alias). Given a
   * transaction's connection, the addresses (and the gaps of free ones) are held until it ends.
   */
  async addressOwners(domain: string, usernames: readonly string[], db: Pool | Connection = this.pool): Promise<Map<string, 'user' | 'alias'>> {
    if (usernames.length === 0) return new Map();
    const [rows] = await db.query<RowDataPacket[]>(
      `SELECT username, owner FROM addresses WHERE domain = ? AND username IN (?)${db === this.pool ? '' : ' FOR UPDATE'}`,
      [domain, usernames],
    );
    return new Map(rows.map((row) => [String(row.username), row.owner as 'user' | 'alias']));
  }

  /** Claims the addresses and inserts the users, all of one domain; aliases already pointing at an address now point at its user. */
  async insertImported(connection: Connection, domain: string, users: readonly NewUser[]): Promise<void> {
    if (users.length === 0) return;
    await connection.query('INSERT INTO addresses (username, domain, owner) VALUES ?', [users.map((user) => [user.username, domain, 'user'])]);
    await connection.query(
      'INSERT INTO users (username, domain, kind, displayname, email, dialplan, linetext, password, secret, forward_policy) VALUES ?',
      [
        users.map((user) => [
          user.username,
          domain,
          user.kind,
          user.displayname,
          user.email,
          user.dialplan,
          user.linetext,
          null,
          null,
          user.forward === null ? null : JSON.stringify(user.forward),
        ]),
      ],
    );
    await connection.query(
      `UPDATE aliases JOIN users ON users.username = aliases.destination_username AND users.domain = aliases.destination_domain
          SET aliases.destination_user_id = users.id
        WHERE aliases.destination_domain = ? AND aliases.destination_username IN (?)`,
      [domain, users.map((user) => user.username)],
    );
  }

  /** The PBX fields of these users as committed, their rows held until the transaction ends. */
  async lockFields(connection: Connection, ids: readonly number[]): Promise<Map<number, PbxFields>> {
    if (ids.length === 0) return new Map();
    const [rows] = await connection.query<RowDataPacket[]>('SELECT id, displayname, email, forward_policy FROM users WHERE id IN (?) FOR UPDATE', [ids]);
    return new Map(
      rows.map((row) => [Number(row.id), { displayname: String(row.displayname), email: String(row.email), forward: parseForwardPolicy(row.forward_policy) }]),
    );
  }

  /** Sets the name, e-mail and call forwards of each row, in one statement. */
  async updateFields(connection: Connection, rows: readonly RefreshedRow[]): Promise<void> {
    if (rows.length === 0) return;
    const selects = rows.map((_row, index) => (index === 0 ? 'SELECT ? AS id, ? AS displayname, ? AS email, ? AS forward_policy' : 'SELECT ?, ?, ?, ?'));
    await connection.query(
      `UPDATE users JOIN (${selects.join(' UNION ALL ')}) AS refreshed ON users.id = refreshed.id
          SET users.displayname = refreshed.displayname, users.email = refreshed.email, users.forward_policy = refreshed.forward_policy`,
      rows.flatMap((row) => [row.id, row.displayname, row.email, row.forward === null ? null : JSON.stringify(row.forward)]),
    );
  }
}
