import type { RowDataPacket } from 'mysql2/promise';
import type { Pool } from '../../db/pool';
import { withTransaction } from '../../db/transaction';
import type { ChangeScope } from '../../db/change-scope';
import { isDuplicateKey } from '../../db/errors';
import { Failed } from '../../outcome';

export interface DomainRecord {
  readonly domain: string;
  readonly local: boolean;
  readonly registrar: string;
  readonly proxy: string;
  readonly r_port: number;
  readonly p_port: number;
}

function rowToDomain(row: RowDataPacket): DomainRecord {
  return {
    domain: row.domain,
    local: row.local === 1,
    registrar: row.registrar,
    proxy: row.proxy,
    r_port: row.r_port,
    p_port: row.p_port,
  };
}

const COLUMNS = 'domain, local, registrar, proxy, r_port, p_port';

export class DomainStore {
  constructor(private readonly pool: Pool) {}

  /** LOCAL_DOMAINS are merged in at start: added when missing, marked local when present. */
  async mergeLocalDomains(domains: readonly string[]): Promise<void> {
    for (const domain of domains) {
      await this.pool.execute('INSERT INTO domains (domain, local) VALUES (?, 1) ON DUPLICATE KEY UPDATE local = 1', [domain]);
    }
  }

  async list(): Promise<DomainRecord[]> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM domains ORDER BY domain`);
    return rows.map(rowToDomain);
  }

  async get(domain: string): Promise<DomainRecord | null> {
    const [rows] = await this.pool.execute<RowDataPacket[]>(`SELECT ${COLUMNS} FROM domains WHERE domain = ?`, [domain]);
    return rows.length > 0 ? rowToDomain(rows[0]) : null;
  }

  async isLocal(domain: string): Promise<boolean> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT local FROM domains WHERE domain = ?', [domain]);
    return rows.length > 0 && rows[0].local === 1;
  }

  // Changes run as transactions, so that their audit record commits with them (CONTRACT section 7).
  async add(record: DomainRecord, audit?: ChangeScope): Promise<void> {
    try {
      await withTransaction(this.pool, (connection) =>
        connection.execute(`INSERT INTO domains (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`, [
          record.domain,
          record.local ? 1 : 0,
          record.registrar,
          record.proxy,
          record.r_port,
          record.p_port,
        ]), { audit });
    } catch (error) {
      if (isDuplicateKey(error)) throw new Failed('exists', `domain ${record.domain} exists`);
      throw error;
    }
  }

  async update(record: DomainRecord, audit?: ChangeScope): Promise<void> {
    await withTransaction(this.pool, (connection) =>
      connection.execute('UPDATE domains SET local = ?, registrar = ?, proxy = ?, r_port = ?, p_port = ? WHERE domain = ?', [
        record.local ? 1 : 0,
        record.registrar,
        record.proxy,
        record.r_port,
        record.p_port,
        record.domain,
      ]), { audit });
  }

  /** Removes the domain unless a user or an alias uses it; the check and the delete share one transaction. */
  async remove(domain: string, audit?: ChangeScope): Promise<void> {
    await withTransaction(this.pool, async (connection) => {
      const [found] = await connection.execute<RowDataPacket[]>('SELECT domain FROM domains WHERE domain = ? FOR UPDATE', [domain]);
      if (found.length === 0) throw new Failed('nonexistant', `no domain ${domain}`);
      // addresses holds every user and alias address; a locking read also sees concurrent inserts.
      const [used] = await connection.execute<RowDataPacket[]>('SELECT 1 FROM addresses WHERE domain = ? LIMIT 1 FOR UPDATE', [domain]);
      if (used.length > 0) throw new Failed('inuse', `users or aliases use ${domain}; remove them first`);
      await connection.execute('DELETE FROM domains WHERE domain = ?', [domain]);
    }, { audit });
  }
}
