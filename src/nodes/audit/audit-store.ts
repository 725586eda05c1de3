import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Connection, Pool } from '../../db/pool';
import { cutPage, rowsToRead, type Page } from '../paging';

export interface AuditRecord {
  readonly token: string | null;
  readonly node: string;
  /** The request's parameters with every secret removed. */
  readonly params: Record<string, unknown>;
  readonly response: string;
  readonly cause: string | null;
  readonly durationMs: number;
  readonly subject: string | null;
  /** The gateway's id of the request; unique, so a request has one record (the commit marker of its change). */
  readonly requestId?: string | null;
}

export interface AuditEntry {
  /** The record's place in the trail: newer records have greater ids (audit/list's `after`). */
  id: number;
  time: string;
  token: string | null;
  node: string;
  params: Record<string, unknown>;
  response: string;
  cause: string | null;
  duration_ms: number;
}

function rowToEntry(row: RowDataPacket): AuditEntry {
  return {
    id: Number(row.id),
    time: new Date(row.time).toISOString(),
    token: row.token,
    node: row.node,
    params: JSON.parse(row.params) as Record<string, unknown>,
    response: row.response,
    cause: row.cause,
    duration_ms: row.duration_ms,
  };
}

export class AuditStore {
  constructor(private readonly pool: Pool) {}

  /** Inserts the record; answers its id. */
  async write(record: AuditRecord, connection: Pool | Connection = this.pool): Promise<number> {
    const [inserted] = await connection.execute<ResultSetHeader>(
      'INSERT INTO audit_log (token, node, params, response, cause, duration_ms, subject, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [record.token, record.node, JSON.stringify(record.params), record.response, record.cause, record.durationMs, record.subject, record.requestId ?? null],
    );
    return inserted.insertId;
  }

  /** Sets the outcome of a record written earlier (a request whose committed change was followed by a failure). */
  async amend(id: number, record: AuditRecord): Promise<void> {
    await this.pool.execute('UPDATE audit_log SET response = ?, cause = ?, duration_ms = ? WHERE id = ?', [
      record.response,
      record.cause,
      record.durationMs,
      id,
    ]);
  }

  /**
   * Newest first: at most `limit` entries older than the entry `after` (its id; null: from the
   * newest), a range of the primary key, or of audit_subject (subject, id) for one subject.
   */
  async list(subject: string | null, after: number | null, limit: number): Promise<Page<AuditEntry, number>> {
    const conditions: string[] = [];
    const bound: (string | number)[] = [];
    if (subject !== null) {
      conditions.push('subject = ?');
      bound.push(subject);
    }
    if (after !== null) {
      conditions.push('id < ?');
      bound.push(after);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT id, time, token, node, params, response, cause, duration_ms FROM audit_log ${where} ORDER BY id DESC LIMIT ?`,
      [...bound, rowsToRead(limit)],
    );
    return cutPage(rows.map(rowToEntry), limit, (entry) => entry.id);
  }
}
