import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Pool } from '../../db/pool';
import { withTransaction } from '../../db/transaction';
import type { ChangeScope } from '../../db/change-scope';
import { isDuplicateKey } from '../../db/errors';
import { Failed } from '../../outcome';
import type { Scope } from '../../config';
import type { IssuedToken } from '../../http/auth';

/** An issued token as tokens/list shows it (never its digest). */
export interface TokenRecord {
  readonly name: string;
  readonly scope: Scope;
  readonly created: Date;
  readonly expires: Date | null;
  readonly ratePerMinute: number | null;
}

function rowToIssued(row: RowDataPacket): IssuedToken {
  return { name: row.name, digest: row.digest, scope: row.scope, expires: row.expires_at, ratePerMinute: row.rate_per_minute };
}

function rowToRecord(row: RowDataPacket): TokenRecord {
  return { name: row.name, scope: row.scope, created: row.created_at, expires: row.expires_at, ratePerMinute: row.rate_per_minute };
}

export class TokenStore {
  constructor(private readonly pool: Pool) {}

  /** Every issued token with its digest, for the authenticator. */
  async issued(): Promise<IssuedToken[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SELECT name, digest, scope, expires_at, rate_per_minute FROM api_tokens');
    return rows.map(rowToIssued);
  }

  async list(): Promise<TokenRecord[]> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SELECT name, scope, created_at, expires_at, rate_per_minute FROM api_tokens ORDER BY name');
    return rows.map(rowToRecord);
  }

  /** When each token was last used, as the gateways have recorded it. */
  async lastUses(): Promise<Map<string, Date>> {
    const [rows] = await this.pool.query<RowDataPacket[]>('SELECT name, last_used FROM token_use');
    return new Map(rows.map((row) => [row.name as string, row.last_used as Date]));
  }

  async add(token: IssuedToken, created: Date, audit?: ChangeScope): Promise<void> {
    try {
      await withTransaction(
        this.pool,
        (connection) =>
          connection.execute('INSERT INTO api_tokens (name, digest, scope, created_at, expires_at, rate_per_minute) VALUES (?, ?, ?, ?, ?, ?)', [
            token.name,
            token.digest,
            token.scope,
            created,
            token.expires,
            token.ratePerMinute,
          ]),
        { audit },
      );
    } catch (error) {
      if (isDuplicateKey(error)) throw new Failed('exists', `a token named ${token.name} exists`);
      throw error;
    }
  }

  async remove(name: string, audit?: ChangeScope): Promise<void> {
    await withTransaction(
      this.pool,
      async (connection) => {
        const [result] = await connection.execute<ResultSetHeader>('DELETE FROM api_tokens WHERE name = ?', [name]);
        if (result.affectedRows === 0) throw new Failed('nonexistant', `no token named ${name} was made with tokens/add`);
        await connection.execute('DELETE FROM token_use WHERE name = ?', [name]);
      },
      { audit },
    );
  }

  /** Records uses (token name → ms), keeping the latest of what every gateway reports. */
  async recordUses(uses: ReadonlyMap<string, number>): Promise<void> {
    if (uses.size === 0) return;
    const rows = [...uses].map(([name, time]) => [name, new Date(time)]);
    await this.pool.query('INSERT INTO token_use (name, last_used) VALUES ? ON DUPLICATE KEY UPDATE last_used = GREATEST(last_used, VALUES(last_used))', [rows]);
  }
}
