import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { isDuplicateKey, isMissingReference } from '../../db/errors';
import type { Pool } from '../../db/pool';
import type { ChangeScope } from '../../db/change-scope';
import { withTransaction } from '../../db/transaction';
import { Failed } from '../../outcome';
import { cutPage, rowsToRead, WHOLE, type Page, type PageRequest } from '../paging';

export class PhoneStore {
  constructor(private readonly pool: Pool) {}

  async usersOf(mac: string): Promise<string[]> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT CONCAT(u.username, '@', u.domain) AS address FROM phones p JOIN users u ON u.id = p.user_id
       WHERE p.mac = ? ORDER BY address`,
      [mac],
    );
    return rows.map((row) => row.address);
  }

  async macsOf(userId: number): Promise<string[]> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT mac FROM phones WHERE user_id = ? ORDER BY mac', [userId]);
    return rows.map((row) => row.mac);
  }

  /** Ordered by mac, the primary key's first column: a page after a MAC is a range of it. */
  async list(like: string | null, page: PageRequest<string> = WHOLE): Promise<Page<string, string>> {
    const conditions: string[] = [];
    const bound: (string | number)[] = [];
    if (like !== null) {
      // mac is ASCII; the search may not be (see UserStore.list).
      conditions.push('CONVERT(mac USING utf8mb4) COLLATE utf8mb4_bin LIKE ?');
      bound.push(like);
    }
    if (page.after !== null) {
      conditions.push('mac > ?');
      bound.push(page.after);
    }
    if (page.limit !== null) bound.push(rowsToRead(page.limit));
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const [rows] = await this.pool.execute<RowDataPacket[]>(
      `SELECT DISTINCT mac FROM phones ${where} ORDER BY mac${page.limit === null ? '' : ' LIMIT ?'}`,
      bound,
    );
    return cutPage(rows.map((row): string => row.mac), page.limit, (mac) => mac);
  }

  async exists(mac: string, userId: number): Promise<boolean> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT 1 FROM phones WHERE mac = ? AND user_id = ?', [mac, userId]);
    return rows.length > 0;
  }

  // Changes run as transactions, not autocommit statements, so that their audit record commits
  // with them and a lost answer can be settled (CONTRACT section 7).
  async add(mac: string, userId: number, address: string, audit?: ChangeScope): Promise<void> {
    try {
      await withTransaction(this.pool, (connection) => connection.execute('INSERT INTO phones (mac, user_id) VALUES (?, ?)', [mac, userId]), { audit });
    } catch (error) {
      if (isDuplicateKey(error)) throw new Failed('exists', `${mac} is associated with ${address} already`);
      // The user was removed between the lookup and the insert.
      if (isMissingReference(error)) throw new Failed('nonexistant', `no user ${address}`);
      throw error;
    }
  }

  /** A missing association is refused inside the transaction, so no ok record is committed for it. */
  async remove(mac: string, userId: number, address: string, audit?: ChangeScope): Promise<void> {
    await withTransaction(this.pool, async (connection) => {
      const [result] = await connection.execute<ResultSetHeader>('DELETE FROM phones WHERE mac = ? AND user_id = ?', [mac, userId]);
      if (result.affectedRows === 0) throw new Failed('nonexistant', `${mac} is not associated with ${address}`);
    }, { audit });
  }
}
