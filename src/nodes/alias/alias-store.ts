import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { isDuplicateKey, isMissingReference } from '../../db/errors';
import type { Pool } from '../../db/pool';
import { withTransaction } from '../../db/transaction';
import type { ChangeScope } from '../../db/change-scope';
import { Failed } from '../../outcome';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import { cutPage, rowsToRead, WHOLE, type Page, type PageRequest } from '../paging';

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

export class AliasStore {
  constructor(private readonly pool: Pool) {}

  /**
   * Ordered by (alias_username, alias_domain), the unique key aliases_alias; a page after an alias
   * is a range of that key, written as an OR because MariaDB does not range-scan a row comparison.
   */
  async list(filter: AliasFilter, page: PageRequest<SipAddress> = WHOLE): Promise<Page<AliasEntry, string>> {
    const conditions: string[] = [];
    const bound: (string | number)[] = [];
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
    if (page.after !== null) {
      conditions.push('(alias_username > ? OR (alias_username = ? AND alias_domain > ?))');
      bound.push(page.after.username, page.after.username, page.after.domain);
    }
    if (page.limit !== null) bound.push(rowsToRead(page.limit));
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT alias_username, alias_domain, destination_username, destination_domain FROM aliases ${where}
       ORDER BY alias_username, alias_domain${page.limit === null ? '' : ' LIMIT ?'}`,
      bound,
    );
    return cutPage(rows.map(rowToAlias), page.limit, (entry) => entry.alias);
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
  async add(alias: SipAddress, destination: SipAddress, destinationUserId: number | null, e164: boolean, audit?: ChangeScope): Promise<void> {
    try {
      // Racing adds can deadlock in InnoDB (one claims the address, then finds the destination's
      // E.164 alias taken and rolls back, and the adds queued on that address both go for it):
      // withTransaction runs the victim again, whole, and it then meets the winner's row.
      await withTransaction(this.pool, async (connection) => {
        await connection.execute("INSERT INTO addresses (username, domain, owner) VALUES (?, ?, 'alias')", [alias.username, alias.domain]);
        await connection.execute(
          `INSERT INTO aliases (alias_username, alias_domain, destination_username, destination_domain, destination_user_id, e164)
           VALUES (?, ?, ?, ?, ?, ?)`,
          [alias.username, alias.domain, destination.username, destination.domain, destinationUserId, e164 ? 1 : null],
        );
      }, { audit });
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

  /** A missing alias is refused inside the transaction, so no ok record is committed for it. */
  async remove(alias: SipAddress, audit?: ChangeScope): Promise<void> {
    await withTransaction(this.pool, async (connection) => {
      const [deleted] = await connection.execute<ResultSetHeader>('DELETE FROM aliases WHERE alias_username = ? AND alias_domain = ?', [
        alias.username,
        alias.domain,
      ]);
      if (deleted.affectedRows === 0) throw new Failed('nonexistant', `no alias ${formatSipAddress(alias)}`);
      await connection.execute("DELETE FROM addresses WHERE username = ? AND domain = ? AND owner = 'alias'", [alias.username, alias.domain]);
    }, { audit });
  }
}
