import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { Connection, Pool } from '../../db/pool';

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

  /** Newest first. */
  async list(subject: string | null, limit: number): Promise<AuditEntry[]> {
    const where = subject === null ? '' : 'WHERE subject = ?';
    const [rows] = await this.pool.query<RowDataPacket[]>(
      `SELECT time, token, node, params, response, cause, duration_ms FROM audit_log ${where} ORDER BY id DESC LIMIT ?`,
      subject === null ? [limit] : [subject, limit],
    );
    return rows.map(rowToEntry);
  }
}
