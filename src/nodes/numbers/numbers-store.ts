import type { PoolConnection as CallbackConnection, RowDataPacket, ResultSetHeader } from 'mysql2';
import { isDuplicateKey } from '../../db/errors';
import type { Connection, Pool } from '../../db/pool';
import { withTransaction } from '../../db/transaction';
import type { ChangeScope } from '../../db/change-scope';
import { Failed, GatewayError } from '../../outcome';
import { integerToE164 } from '../../values/e164';
import { cutPage, rowsToRead, type Page } from '../paging';

export interface RangeResult {
  readonly added: number;
  readonly existing: number;
}

// A random sample of up to this many numbers is drawn by key lookups; larger ones sort the pool by RAND().
const SEEK_SAMPLE_MAX = 1000;
// Lookups of random seq values: at most this many rounds, each of at most this many values.
const SEEK_ROUNDS = 6;
const SEEK_DRAWS_MAX = 5000;

/** The WHERE of the ordered list: the search, and the keyset of a page. */
function orderedConditions(like: string | null, after: number | null): { where: string; bound: unknown[] } {
  const conditions: string[] = [];
  const bound: unknown[] = [];
  if (like !== null) {
    conditions.push("CONCAT('+', number) LIKE ?");
    bound.push(like);
  }
  if (after !== null) {
    conditions.push('number > ?');
    bound.push(after);
  }
  return { where: conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '', bound };
}

export class NumbersStore {
  private sequenceEngine: Promise<boolean> | undefined;

  /**
   * `streamSeconds`: the statement time limit of a streamed list, which runs as long as its client
   * reads (a client that stops reading is dropped by the registry); 0 keeps the session's limit.
   */
  constructor(
    private readonly pool: Pool,
    private readonly streamSeconds = 0,
  ) {}

  // Changes run as transactions, not autocommit statements, so that their audit record commits
  // with them and a lost answer can be settled (CONTRACT section 7).
  async add(number: number, audit?: ChangeScope): Promise<void> {
    try {
      await withTransaction(this.pool, (connection) => connection.execute('INSERT INTO numbers (number) VALUES (?)', [number]), { audit });
    } catch (error) {
      if (isDuplicateKey(error)) throw new Failed('exists', `${integerToE164(number)} is in the pool already`);
      throw error;
    }
  }

  /** A number not in the pool is refused inside the transaction, so no ok record is committed for it. */
  async remove(number: number, audit?: ChangeScope): Promise<void> {
    await withTransaction(this.pool, async (connection) => {
      const [result] = await connection.execute<ResultSetHeader>('DELETE FROM numbers WHERE number = ?', [number]);
      if (result.affectedRows === 0) throw new Failed('nonexistant', `${integerToE164(number)} is not in the pool`);
    }, { audit });
  }

  async contains(number: number): Promise<boolean> {
    const [rows] = await this.pool.execute<RowDataPacket[]>('SELECT 1 FROM numbers WHERE number = ?', [number]);
    return rows.length > 0;
  }

  /**
   * Adds every number from start to end (inclusive) in one statement inside one transaction:
   * all or nothing, and numbers already in the pool are left as they are.
   */
  async addRange(start: number, end: number, dryRun: boolean, audit?: ChangeScope): Promise<RangeResult> {
    const total = end - start + 1;
    if (dryRun) {
      const [rows] = await this.pool.execute<RowDataPacket[]>(
        'SELECT COUNT(*) AS existing FROM numbers WHERE number BETWEEN ? AND ?',
        [start, end],
      );
      const existing = Number(rows[0].existing);
      return { added: total - existing, existing };
    }
    const useSequenceEngine = await this.hasSequenceEngine();
    return withTransaction(this.pool, async (connection) => {
      const galera = await onGalera(connection);
      let inserted: ResultSetHeader;
      if (galera) {
        // A Galera node replicates the transaction as it goes, in fragments of FRAGMENT_ROWS rows
        // (streaming replication): every write set stays within the cluster's limits and the range
        // stays one transaction, all or nothing. No unique_checks=0 there: it would replicate as a
        // lock of the whole table and fail other nodes' writes to the pool.
        await connection.query(`SET SESSION wsrep_trx_fragment_unit = 'rows', wsrep_trx_fragment_size = ${FRAGMENT_ROWS}`);
      }
      try {
        if (useSequenceEngine) {
          // MariaDB's Sequence engine names its table after the count, so it cannot be a bound parameter;
          // total is an integer checked against NUMBERS_MAX_RANGE before it gets here.
          // On one server, unique_checks=0 for this one statement lets InnoDB bulk-load into an empty
          // table (MariaDB 10.6+: sorted index builds, about half the time of filling both B-trees row
          // by row; it locks the table until the commit). It relaxes checks of secondary unique
          // indexes only, and numbers has none: the primary key is checked whatever it says.
          const select = `INSERT IGNORE INTO numbers (number) SELECT ? + seq FROM seq_0_to_${Math.trunc(total) - 1}`;
          [inserted] = await connection.query<ResultSetHeader>(galera ? select : `SET STATEMENT unique_checks = 0, foreign_key_checks = 0 FOR ${select}`, [start]);
        } else {
          await connection.query('SET SESSION cte_max_recursion_depth = ?', [total + 1]);
          [inserted] = await connection.query<ResultSetHeader>(
            'INSERT IGNORE INTO numbers (number) WITH RECURSIVE s (n) AS (SELECT ? UNION ALL SELECT n + 1 FROM s WHERE n < ?) SELECT n FROM s',
            [start, end],
          );
        }
      } catch (error) {
        throw writeSetRefusal(error) ?? error;
      } finally {
        // The connection goes back to the pool: later transactions replicate whole again.
        if (galera) await connection.query('SET SESSION wsrep_trx_fragment_size = 0').catch(() => undefined);
      }
      return { added: inserted.affectedRows, existing: total - inserted.affectedRows };
    }, { audit });
  }

  private hasSequenceEngine(): Promise<boolean> {
    this.sequenceEngine ??= this.pool
      .query('SELECT seq FROM seq_0_to_0')
      .then(() => true)
      .catch(() => false);
    return this.sequenceEngine;
  }

  /** Ascending numeric order (after the number `after`, when given), streamed straight from the server. */
  listOrdered(like: string | null, after: number | null): AsyncIterable<string> {
    const { where, bound } = orderedConditions(like, after);
    return this.stream(`SELECT number FROM numbers ${where} ORDER BY number`, bound);
  }

  /**
   * One page in ascending numeric order: the numbers after `after` (a range of the primary key, so
   * as quick deep in a pool of millions as at its start), read whole rather than streamed.
   */
  async page(like: string | null, after: number | null, limit: number): Promise<Page<string, string>> {
    const { where, bound } = orderedConditions(like, after);
    const [rows] = await this.pool.query<RowDataPacket[]>(`SELECT number FROM numbers ${where} ORDER BY number LIMIT ?`, [...bound, rowsToRead(limit)]);
    return cutPage(rows.map((row) => integerToE164(row.number)), limit, (number) => number);
  }

  /** A random sample in random order (CONTRACT: numbers/list?random=true). */
  async *listRandom(like: string | null, limit: number | null): AsyncIterable<string> {
    if (like === null && limit !== null && limit <= SEEK_SAMPLE_MAX) {
      const sample = await this.seekSample(limit);
      if (sample !== null) {
        yield* sample;
        return;
      }
    }
    const where = like === null ? '' : "WHERE CONCAT('+', number) LIKE ?";
    const bound: unknown[] = like === null ? [] : [like];
    if (limit !== null) bound.push(limit);
    yield* this.stream(`SELECT number FROM numbers ${where} ORDER BY RAND()${limit === null ? '' : ' LIMIT ?'}`, bound);
  }

  /**
   * Draws numbers by looking up random values of the `seq` key (one indexed IN lookup a round
   * instead of sorting the pool). `seq` has gaps: a range rolled back has used up its values, and a
   * Galera cluster interleaves them. A drawn value counts only when a number has exactly that seq, so
   * every number is equally likely however large the gaps (taking "the next number after a random
   * value" instead favoured the number after each gap: 132 of 200 samples once). Each round sizes its
   * draw by the density the last one found. Returns null when the pool is too sparse or small for
   * this to find enough distinct numbers quickly; the caller then sorts the pool by RAND().
   */
  private async seekSample(limit: number): Promise<string[] | null> {
    const [bounds] = await this.pool.query<RowDataPacket[]>('SELECT MIN(seq) AS low, MAX(seq) AS high FROM numbers');
    if (bounds[0].low === null) return [];
    const low = Number(bounds[0].low);
    const span = Number(bounds[0].high) - low + 1;
    if (span < limit * 4) return null;
    const picked = new Set<string>();
    let density = 1;
    for (let round = 0; round < SEEK_ROUNDS && picked.size < limit; round += 1) {
      const wanted = limit - picked.size;
      const draws = Math.min(SEEK_DRAWS_MAX, Math.ceil((wanted / density) * 1.5) + 4);
      const values = new Set<number>();
      while (values.size < Math.min(draws, span)) values.add(low + Math.floor(Math.random() * span));
      const [rows] = await this.pool.query<RowDataPacket[]>(`SELECT number FROM numbers WHERE seq IN (${[...values].map(() => '?').join(',')})`, [...values]);
      density = Math.max(rows.length / values.size, 1 / SEEK_DRAWS_MAX);
      // The rows come in key order: taken in a random order, the sample stays uniform.
      for (const row of shuffled(rows)) {
        if (picked.size < limit) picked.add(integerToE164(row.number));
      }
    }
    return picked.size === limit ? shuffled([...picked]) : null;
  }

  private async *stream(sql: string, bound: unknown[]): AsyncIterable<string> {
    const connection = await new Promise<CallbackConnection>((resolve, reject) =>
      this.pool.pool.getConnection((error, acquired) => (error ? reject(error) : resolve(acquired))),
    );
    // MariaDB's SET STATEMENT: the longer limit holds for this one statement, not the session.
    const limited = this.streamSeconds > 0 ? `SET STATEMENT max_statement_time = ${Number(this.streamSeconds)} FOR ${sql}` : sql;
    const rows = connection.query(limited, bound).stream({ highWaterMark: 1000 });
    let complete = false;
    try {
      for await (const row of rows) yield integerToE164((row as { number: number }).number);
      complete = true;
    } finally {
      // A stream left half-read (the client went away) leaves the connection mid-result: drop it.
      if (complete) connection.release();
      else connection.destroy();
    }
  }
}

/** Fisher–Yates, on a copy. */
function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index -= 1) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other], copy[index]];
  }
  return copy;
}

/** Rows a Galera node replicates at a time of one add_range (streaming replication). */
const FRAGMENT_ROWS = 10_000;

/** Whether the connection's server is a Galera node (wsrep on). */
async function onGalera(connection: Connection): Promise<boolean> {
  const [rows] = await connection.query<RowDataPacket[]>('SELECT @@wsrep_on AS galera');
  return Number(rows[0]?.galera ?? 0) === 1;
}

/** A cluster's write-set limit refusing a range, said as such (error/db with what to do). */
function writeSetRefusal(error: unknown): GatewayError | null {
  const { message } = (error ?? {}) as { message?: unknown };
  if (typeof message !== 'string' || !/max_ws_(size|rows)|writeset size|ws_rows/i.test(message)) return null;
  return new GatewayError('db', 'the cluster refused this range: it is larger than its write-set limit (wsrep_max_ws_rows, wsrep_max_ws_size); add it as several smaller ranges', error);
}
