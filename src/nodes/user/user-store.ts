import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { isDuplicateKey, isForeignKeyInUse } from '../../db/errors';
import { withTransaction, type Connection, type Pool, type TransactionOptions } from '../../db/pool';
import type { AuditScope } from '../../db/audit-scope';
import { Failed } from '../../outcome';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';

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
}

export type NewUser = Omit<UserRecord, 'id'>;

export type UserChanges = Partial<UserFields & RemoteSettings & { password: string }>;

function rowToUser(row: RowDataPacket): UserRecord {
  return {
    id: Number(row.id),
    username: row.username,
    domain: row.domain,
    kind: row.kind,
    displayname: row.displayname,
    email: row.email,
    dialplan: row.dialplan,
    linetext: row.linetext,
    password: row.password,
    remote:
      row.kind === 'remote'
        ? { registrar: row.registrar, r_port: row.r_port, proxy: row.proxy, p_port: row.p_port, authid: row.authid }
        : null,
  };
}

const COLUMNS = 'id, username, domain, kind, displayname, email, dialplan, linetext, password, registrar, r_port, proxy, p_port, authid';

// Only these columns may be changed by update(); the names are interpolated, the values bound.
const CHANGEABLE = new Set(['displayname', 'email', 'dialplan', 'linetext', 'password', 'registrar', 'r_port', 'proxy', 'p_port', 'authid']);

export class UserStore {
  constructor(private readonly pool: Pool) {}

  async find(address: SipAddress, connection: Pool | Connection = this.pool): Promise<UserRecord | null> {
    const [rows] = await connection.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM users WHERE username = ? AND domain = ?`, [
      address.username,
      address.domain,
    ]);
    return rows.length > 0 ? rowToUser(rows[0]) : null;
  }

  /** Who holds the address in provisioning: a user, an alias, or nobody. */
  async addressOwner(address: SipAddress, connection: Pool | Connection = this.pool): Promise<'user' | 'alias' | null> {
    const [rows] = await connection.execute<RowDataPacket[]>('SELECT owner FROM addresses WHERE username = ? AND domain = ?', [
      address.username,
      address.domain,
    ]);
    return rows.length > 0 ? rows[0].owner : null;
  }

  async list(like: string | null): Promise<{ user: string; displayname: string }[]> {
    // The columns are ASCII; the search may not be: compare in utf8mb4 (binary, as the columns are),
    // or MySQL refuses to mix the two collations.
    const where = like === null ? '' : "WHERE CONVERT(CONCAT(username, '@', domain) USING utf8mb4) COLLATE utf8mb4_bin LIKE ?";
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT username, domain, displayname FROM users ${where} ORDER BY CONCAT(username, '@', domain)`,
      like === null ? [] : [like],
    );
    return rows.map((row) => ({ user: `${row.username}@${row.domain}`, displayname: row.displayname }));
  }

  /** Runs `work` in one transaction; a duplicate address becomes exists, a referenced user inuse. */
  async inTransaction<T>(address: SipAddress, work: (connection: Connection) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const formatted = formatSipAddress(address);
    try {
      return await withTransaction(this.pool, work, options);
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
    return rows.length > 0 ? rowToUser(rows[0]) : null;
  }

  /** Claims the address for a user; a parallel claim of the same address waits, then fails exists. */
  async claim(connection: Connection, address: SipAddress): Promise<void> {
    await connection.execute("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'user')", [address.username, address.domain]);
  }

  async insertRow(connection: Connection, user: NewUser): Promise<UserRecord> {
    const remote = user.remote;
    const [inserted] = await connection.execute<ResultSetHeader>(
      `INSERT INTO users (username, domain, kind, displayname, email, dialplan, linetext, password, registrar, r_port, proxy, p_port, authid)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        user.username,
        user.domain,
        user.kind,
        user.displayname,
        user.email,
        user.dialplan,
        user.linetext,
        user.password,
        remote?.registrar ?? null,
        remote?.r_port ?? null,
        remote?.proxy ?? null,
        remote?.p_port ?? null,
        remote?.authid ?? null,
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

  async updateRow(connection: Connection, id: number, changes: UserChanges): Promise<void> {
    const names = Object.keys(changes).filter((name) => CHANGEABLE.has(name));
    if (names.length === 0) return;
    await connection.execute(`UPDATE users SET ${names.map((name) => `${name} = ?`).join(', ')} WHERE id = ?`, [
      ...names.map((name) => changes[name as keyof UserChanges] ?? null),
      id,
    ]);
  }

  /** Deletes the user row; the foreign keys of phones and aliases refuse it while they point at it. */
  async deleteRow(connection: Connection, user: UserRecord): Promise<void> {
    await connection.execute('DELETE FROM users WHERE id = ?', [user.id]);
  }

  async releaseAddress(connection: Connection, address: SipAddress): Promise<void> {
    await connection.execute("DELETE FROM addresses WHERE username = ? AND domain = ? AND owner = 'user'", [address.username, address.domain]);
  }

  async insert(user: NewUser, audit?: AuditScope): Promise<UserRecord> {
    return this.inTransaction(
      user,
      async (connection) => {
        await this.claim(connection, user);
        return this.insertRow(connection, user);
      },
      { audit },
    );
  }

  async update(user: UserRecord, changes: UserChanges, audit?: AuditScope): Promise<void> {
    await this.inTransaction(user, (connection) => this.updateRow(connection, user.id, changes), { audit });
  }

  async remove(user: UserRecord, audit?: AuditScope): Promise<void> {
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

  /** Local users of a domain (pbx/sync). */
  async listLocal(domain: string): Promise<UserRecord[]> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM users WHERE domain = ? AND kind = 'local' ORDER BY username`, [
      domain,
    ]);
    return rows.map(rowToUser);
  }
}
