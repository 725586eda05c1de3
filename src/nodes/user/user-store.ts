import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { isDuplicateKey, isForeignKeyInUse } from '../../db/errors';
import type { Connection, Pool } from '../../db/pool';
import { withTransaction, type TransactionOptions } from '../../db/transaction';
import type { ChangeScope } from '../../db/change-scope';
import { Failed } from '../../outcome';
import { parseForwardPolicy, type ForwardPolicy } from '../../pbx/extension';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { SecretBox } from '../../secrets/secret-box';
import { openStoredSecret, userSecretContext } from '../../secrets/secrets-at-rest';
import { assertKeyInUse } from '../../secrets/secrets-store';
import { cutPage, rowsToRead, WHOLE, type Page, type PageRequest } from '../paging';

export type UserKind = 'local' | 'remote';

/** Server settings of a remote user's SIP account. */
export interface RemoteSettings {
  readonly registrar: string;
  readonly r_port: number;
  readonly proxy: string;
  readonly p_port: number;
  readonly authid: string;
}

export interface UserFields {
  readonly displayname: string;
  readonly email: string;
  readonly dialplan: string;
  readonly linetext: string;
}

export interface UserRecord extends UserFields {
  readonly id: number;
  readonly username: string;
  readonly domain: string;
  readonly kind: UserKind;
  /** The SIP password the gateway holds; null for an extension imported from the PBX. */
  readonly password: string | null;
  readonly remote: RemoteSettings | null;
  /** A local user's call forwards as the gateway last set them on the PBX; null while unknown. */
  readonly forward: ForwardPolicy | null;
}

export type NewUser = Omit<UserRecord, 'id'>;

/** An item of user/list. */
export interface UserListEntry {
  readonly user: string;
  readonly displayname: string;
}

/** user/list's filters as LIKE patterns (globToLike), null for none: on the address, on the display name. */
export interface UserListFilter {
  readonly address: string | null;
  readonly displayname: string | null;
}

export type UserChanges = Partial<UserFields & RemoteSettings & { password: string; forward: ForwardPolicy }>;

// The password is held sealed (users.secret, CONTRACT section 9): opened when first asked for (most
// reads, user/get and user/list among them, never need it), sealed on every write; users.password
// is read only for a row an older gateway wrote in clear.
function rowToUser(row: RowDataPacket, secrets: SecretBox): UserRecord {
  let opened: string | null | undefined;
  return {
    id: Number(row.id),
    username: row.username,
    domain: row.domain,
    kind: row.kind,
    displayname: row.displayname,
    email: row.email,
    dialplan: row.dialplan,
    linetext: row.linetext,
    get password() {
      opened ??= openStoredSecret(secrets, { id: Number(row.id), username: row.username, domain: row.domain, sealed: row.secret, clear: row.password });
      return opened;
    },
    remote:
      row.kind === 'remote'
        ? { registrar: row.registrar, r_port: row.r_port, proxy: row.proxy, p_port: row.p_port, authid: row.authid }
        : null,
    forward: parseForwardPolicy(row.forward_policy),
  };
}

const COLUMNS = 'id, username, domain, kind, displayname, email, dialplan, linetext, password, secret, registrar, r_port, proxy, p_port, authid, forward_policy';

// Only these columns may be changed by update(); the names are interpolated, the values bound.
const CHANGEABLE = new Set(['displayname', 'email', 'dialplan', 'linetext', 'password', 'registrar', 'r_port', 'proxy', 'p_port', 'authid']);

/** The record as `changes` leave it (the answer of a change, made without a read after its commit). */
export function withChanges(user: UserRecord, changes: UserChanges): UserRecord {
  const { registrar, r_port, proxy, p_port, authid, forward, ...fields } = changes;
  const remote = { registrar, r_port, proxy, p_port, authid };
  const changedRemote = Object.fromEntries(Object.entries(remote).filter(([, value]) => value !== undefined));
  return {
    ...user,
    ...fields,
    remote: user.remote && { ...user.remote, ...changedRemote },
    forward: forward ?? user.forward,
  };
}

/** The bound value of a change: the forward policy is kept as JSON text. */
function columnValue(changes: UserChanges, name: string): string | number | null {
  if (name === 'forward_policy') return changes.forward === undefined ? null : JSON.stringify(changes.forward);
  return (changes[name as keyof Omit<UserChanges, 'forward'>] as string | number | undefined) ?? null;
}

export class UserStore {
  constructor(
    private readonly pool: Pool,
    private readonly secrets: SecretBox,
  ) {}

  private readonly toUser = (row: RowDataPacket): UserRecord => rowToUser(row, this.secrets);

  /** A password as stored: sealed for this user's row (null stays null). */
  private seal(user: { readonly username: string; readonly domain: string }, password: string | null): string | null {
    return password === null ? null : this.secrets.seal(password, userSecretContext(user));
  }

  async find(address: SipAddress, connection: Pool | Connection = this.pool): Promise<UserRecord | null> {
    const [rows] = await connection.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM users WHERE username = ? AND domain = ?`, [
      address.username,
      address.domain,
    ]);
    return rows.length > 0 ? this.toUser(rows[0]) : null;
  }

  /** Who holds the address in provisioning: a user, an alias, or nobody. */
  async addressOwner(address: SipAddress, connection: Pool | Connection = this.pool): Promise<'user' | 'alias' | null> {
    const [rows] = await connection.execute<RowDataPacket[]>('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [
      address.username,
      address.domain,
    ]);
    return rows.length > 0 ? rows[0].owner : null;
  }

  /**
   * Ordered by the address as written (binary): the stored `address` column, CONCAT(username, '@',
   * domain), and its index, so a page after an address is a range of that index (migration 006).
   */
  async list(like: UserListFilter = { address: null, displayname: null }, page: PageRequest<string> = WHOLE): Promise<Page<UserListEntry, string>> {
    const conditions: string[] = [];
    const bound: (string | number)[] = [];
    if (like.address !== null) {
      // The columns are ASCII; the search may not be: compare in utf8mb4 (binary, as the columns are),
      // or MySQL refuses to mix the two collations.
      conditions.push('CONVERT(address USING utf8mb4) COLLATE utf8mb4_bin LIKE ?');
      bound.push(like.address);
    }
    if (like.displayname !== null) {
      // Names are matched as people type them: any case, accents ignored (é matches e).
      conditions.push('displayname COLLATE utf8mb4_unicode_ci LIKE ?');
      bound.push(like.displayname);
    }
    if (page.after !== null) {
      conditions.push('address > ?');
      bound.push(page.after);
    }
    if (page.limit !== null) bound.push(rowsToRead(page.limit));
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT address, displayname FROM users ${where} ORDER BY address${page.limit === null ? '' : ' LIMIT ?'}`,
      bound,
    );
    const entries = rows.map((row): UserListEntry => ({ user: row.address, displayname: row.displayname }));
    return cutPage(entries, page.limit, (entry) => entry.user);
  }

  /**
   * Runs `work` in one transaction; a duplicate address becomes exists, a referenced user inuse.
   * It begins by checking that this gateway's key is still the database's (not rotated since the
   * start), before anything is changed here or on the PBX.
   */
  async inTransaction<T>(address: SipAddress, work: (connection: Connection) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const formatted = formatSipAddress(address);
    try {
      return await withTransaction(
        this.pool,
        async (connection) => {
          await assertKeyInUse(connection, this.secrets.keyId);
          return work(connection);
        },
        options,
      );
    } catch (error) {
      if (isDuplicateKey(error)) throw new Failed('exists', `${formatted} is taken`);
      if (isForeignKeyInUse(error)) throw new Failed('inuse', `hardphones or aliases point at ${formatted}; remove them first`);
      throw error;
    }
  }

  /** Reads the user and holds its row until the transaction ends, so changes to one user queue up. */
  async lock(connection: Connection, address: SipAddress): Promise<UserRecord | null> {
    const [rows] = await connection.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM users WHERE username = ? AND domain = ? FOR UPDATE`, [
      address.username,
      address.domain,
    ]);
    return rows.length > 0 ? this.toUser(rows[0]) : null;
  }

  /** The local user whose extension has this number (MySQL's side of an extension, for a repair). */
  async findLocalByNumber(connection: Connection, number: string): Promise<UserRecord | null> {
    const [rows] = await connection.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM users WHERE username = ? AND kind = 'local' ORDER BY id LIMIT 1`, [number]);
    return rows.length > 0 ? this.toUser(rows[0]) : null;
  }

  /** Claims the address for a user; a parallel claim of the same address waits, then fails exists. */
  async claim(connection: Connection, address: SipAddress): Promise<void> {
    await connection.execute("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'user')", [address.username, address.domain]);
  }

  async insertRow(connection: Connection, user: NewUser): Promise<UserRecord> {
    const remote = user.remote;
    const [inserted] = await connection.execute<ResultSetHeader>(
      `INSERT INTO users (username, domain, kind, displayname, email, dialplan, linetext, password, secret, registrar, r_port, proxy, p_port, authid, forward_policy)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        user.username,
        user.domain,
        user.kind,
        user.displayname,
        user.email,
        user.dialplan,
        user.linetext,
        null,
        this.seal(user, user.password),
        remote?.registrar ?? null,
        remote?.r_port ?? null,
        remote?.proxy ?? null,
        remote?.p_port ?? null,
        remote?.authid ?? null,
        user.forward === null ? null : JSON.stringify(user.forward),
      ],
    );
    const record: UserRecord = { ...user, id: inserted.insertId };
    // Aliases that already pointed at this address now point at the user (user/remove checks them).
    await connection.execute('UPDATE aliases SET destination_user_id = ? WHERE destination_username = ? AND destination_domain = ?', [
      record.id,
      user.username,
      user.domain,
    ]);
    return record;
  }

  async updateRow(connection: Connection, user: Pick<UserRecord, 'id' | 'username' | 'domain'>, changes: UserChanges): Promise<void> {
    const names = Object.keys(changes).filter((name) => CHANGEABLE.has(name));
    if (changes.forward !== undefined) names.push('forward_policy');
    if (names.length === 0) return;
    // A new password is stored sealed, and the clear column emptied.
    const assignments = names.map((name) => (name === 'password' ? 'secret = ?, password = NULL' : `${name} = ?`));
    const values = names.map((name) => (name === 'password' ? this.seal(user, changes.password ?? null) : columnValue(changes, name)));
    await connection.execute(`UPDATE users SET ${assignments.join(', ')} WHERE id = ?`, [...values, user.id]);
  }

  /** Deletes the user row; the foreign keys of phones and aliases refuse it while they point at it. */
  async deleteRow(connection: Connection, user: UserRecord): Promise<void> {
    await connection.execute('DELETE FROM users WHERE id = ?', [user.id]);
  }

  async releaseAddress(connection: Connection, address: SipAddress): Promise<void> {
    await connection.execute("DELETE FROM addresses WHERE username = ? AND domain = ? AND owner = 'user'", [address.username, address.domain]);
  }

  async insert(user: NewUser, audit?: ChangeScope): Promise<UserRecord> {
    return this.inTransaction(
      user,
      async (connection) => {
        await this.claim(connection, user);
        return this.insertRow(connection, user);
      },
      { audit },
    );
  }

  /** Answers the record as committed, read in the transaction (no read after it that could fail). */
  async update(user: SipAddress, changes: UserChanges, audit?: ChangeScope): Promise<UserRecord> {
    return this.inTransaction(
      user,
      async (connection) => {
        const locked = await this.lock(connection, user);
        if (!locked) throw new Failed('nonexistant', `no user ${formatSipAddress(user)}`);
        await this.updateRow(connection, locked, changes);
        return withChanges(locked, changes);
      },
      { audit },
    );
  }

  async remove(user: UserRecord, audit?: ChangeScope): Promise<void> {
    await this.inTransaction(
      user,
      async (connection) => {
        const locked = await this.lock(connection, user);
        if (!locked) throw new Failed('nonexistant', `no user ${formatSipAddress(user)}`);
        await this.deleteRow(connection, locked);
        await this.releaseAddress(connection, locked);
      },
      { audit },
    );
  }
}
