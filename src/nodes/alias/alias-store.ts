import { randomInt } from 'node:crypto';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { isDeadlock, isDuplicateKey, isMissingReference } from '../../db/errors';
import { withTransaction, type Pool } from '../../db/pool';
import type { AuditScope } from '../../db/audit-scope';
import { Failed } from '../../outcome';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';

export interface AliasEntry {
  readonly alias: string;
  readonly destination: string;
}

export type AliasFilter =
  | { readonly destination: SipAddress; readonly e164Only: boolean }
  | { readonly alias: SipAddress }
  | { readonly e164Only: boolean };

function rowToAlias(row: RowDataPacket): AliasEntry {
  return {
    alias: `${row.alias_username}@${row.alias_domain}`,
    destination: `${row.destination_username}@${row.destination_domain}`,
  };
}

const DEADLOCK_ATTEMPTS = 5;

export class AliasStore {
  constructor(private readonly pool: Pool) {}

  async list(filter: AliasFilter): Promise<AliasEntry[]> {
    const conditions: string[] = [];
    const bound: string[] = [];
    if ('alias' in filter) {
      conditions.push('alias_username = ? AND alias_domain = ?');
      bound.push(filter.alias.username, filter.alias.domain);
    } else {
      if ('destination' in filter) {
        conditions.push('destination_username = ? AND destination_domain = ?');
        bound.push(filter.destination.username, filter.destination.domain);
      }
      if (filter.e164Only) conditions.push('e164 = 1');
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT alias_username, alias_domain, destination_username, destination_domain FROM aliases ${where}
       ORDER BY alias_username, alias_domain`,
      bound,
    );
    return rows.map(rowToAlias);
  }

  async hasE164Alias(destination: SipAddress): Promise<boolean> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      'SELECT 1 FROM aliases WHERE destination_username = ? AND destination_domain = ? AND e164 = 1',
      [destination.username, destination.domain],
    );
    return rows.length > 0;
  }

  /**
   * Claims the alias address and records the alias in one transaction. The schema refuses a taken
   * address (a user's or another alias's) and a second E.164 alias for one destination.
   */
  async add(alias: SipAddress, destination: SipAddress, destinationUserId: number | null, e164: boolean, audit?: AuditScope): Promise<void> {
    const insert = () =>
      withTransaction(this.pool, async (connection) => {
        await connection.execute("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'alias')", [alias.username, alias.domain]);
        await connection.execute(
          `INSERT INTO aliases (alias_username, alias_domain, destination_username, destination_domain, destination_user_id, e164)
           VALUES (?, ?, ?, ?, ?, ?)`,
          [alias.username, alias.domain, destination.username, destination.domain, destinationUserId, e164 ? 1 : null],
        );
      }, { audit });
    try {
      // Racing adds can deadlock in InnoDB: one claims the address, then finds the destination's
      // E.164 alias taken and rolls back, and the adds queued on that address both go for it.
      // The victim was rolled back whole, so it runs again (and now meets the winner's row).
      for (let attempt = 1; ; attempt += 1) {
        try {
          await insert();
          break;
        } catch (error) {
          if (!isDeadlock(error) || attempt === DEADLOCK_ATTEMPTS) throw error;
          // A short random pause, so the victims do not meet again in the same order.
          await new Promise((resolve) => setTimeout(resolve, randomInt(5, 20 * attempt)));
        }
      }
    } catch (error) {
      if (isDuplicateKey(error)) {
        const message = String((error as Error).message);
        if (message.includes('aliases_one_e164')) {
          throw new Failed('exists', `${formatSipAddress(destination)} has an E.164 alias already`);
        }
        throw new Failed('exists', `${formatSipAddress(alias)} is taken`);
      }
      // The destination user was removed between the lookup and the insert.
      if (isMissingReference(error)) throw new Failed('nonexistant', `no user ${formatSipAddress(destination)}`);
      throw error;
    }
  }

  async remove(alias: SipAddress, audit?: AuditScope): Promise<boolean> {
    return withTransaction(this.pool, async (connection) => {
      const [deleted] = await connection.execute<ResultSetHeader>('DELETE FROM aliases WHERE alias_username = ? AND alias_domain = ?', [
        alias.username,
        alias.domain,
      ]);
      if (deleted.affectedRows === 0) return false;
      await connection.execute("DELETE FROM addresses WHERE username = ? AND domain = ? AND owner = 'alias'", [alias.username, alias.domain]);
      return true;
    }, { audit });
  }
}
