import type { RowDataPacket } from 'mysql2/promise';
import type { ChangeScope } from '../../db/change-scope';
import type { Connection, Pool } from '../../db/pool';
import { withTransaction } from '../../db/transaction';
import { Failed } from '../../outcome';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';

/** The names a user holds, sorted (code-unit order, the columns' ascii_bin order). */
export type PermissionNames = readonly string[];

function sorted(names: Iterable<string>): string[] {
  return [...new Set(names)].sort();
}

/** Group memberships in the sense of Kamailio's group module (migration 007: user_permissions and the grp view). */
export class PermissionStore {
  constructor(private readonly pool: Pool) {}

  /** The names the user holds; null when there is no such user. */
  async list(address: SipAddress): Promise<PermissionNames | null> {
    return (await this.read(this.pool, address, ''))?.names ?? null;
  }

  /**
   * Replaces the user's names by what `change` makes of them, in one transaction with the audit
   * record; failed nonexistant (rolled back, audit record and all) when there is no such user. The
   * read locks the user's row, so that changes of one user queue up and a user/remove waits for
   * them (or they for it).
   */
  async change(address: SipAddress, change: (held: PermissionNames) => PermissionNames, audit?: ChangeScope): Promise<PermissionNames> {
    return withTransaction(
      this.pool,
      async (connection) => {
        const holder = await this.read(connection, address, 'FOR UPDATE');
        if (!holder) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
        const wanted = sorted(change(holder.names));
        const revoked = holder.names.filter((name) => !wanted.includes(name));
        const granted = wanted.filter((name) => !holder.names.includes(name));
        if (revoked.length > 0) {
          await connection.query('DELETE FROM user_permissions WHERE user_id = ? AND name IN (?)', [holder.userId, revoked]);
        }
        if (granted.length > 0) {
          await connection.query('INSERT INTO user_permissions (user_id, name) VALUES ?', [granted.map((name) => [holder.userId, name])]);
        }
        return wanted;
      },
      { audit },
    );
  }

  /** The user's id and names, in one statement: no row is "no such user", one row with name NULL "holds nothing". */
  private async read(
    connection: Pool | Connection,
    address: SipAddress,
    lock: '' | 'FOR UPDATE',
  ): Promise<{ userId: number; names: PermissionNames } | null> {
    const [rows] = await connection.execute<RowDataPacket[]>(
      `SELECT users.id, user_permissions.name
         FROM users LEFT JOIN user_permissions ON user_permissions.user_id = users.id
        WHERE users.username = ? AND users.domain = ? ${lock}`,
      [address.username, address.domain],
    );
    if (rows.length === 0) return null;
    return { userId: Number(rows[0].id), names: sorted(rows.filter((row) => row.name !== null).map((row) => String(row.name))) };
  }
}
