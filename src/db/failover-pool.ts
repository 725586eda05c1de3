import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../logger';
import type { Pool } from './pool';
import { withTimeout } from '../with-timeout';

/** How often the node in use is looked at (and how soon a dead one is left). */
const CHECK_MS = 1000;
/** The longest a look at one node may take before it counts as down. */
const LOOK_TIMEOUT_MS = 1500;

/** What a look at one node found: usable or not, and its Galera state (null: no Galera). */
export interface NodeLook {
  readonly server: string;
  readonly usable: boolean;
  readonly galera: string | null;
  readonly reason?: string;
  /** Why it was unreachable, for the log. */
  readonly error?: string;
}

/** Whether a node may take work: it answers and, on Galera, is Synced and ready (not Donor, Desynced, Joining). */
export async function lookAt(pool: Pool, server: string): Promise<NodeLook> {
  try {
    const [rows] = await withTimeout(
      pool.query<RowDataPacket[]>("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_status')"),
      LOOK_TIMEOUT_MS,
    );
    const status = new Map(rows.map((row) => [String(row.Variable_name), String(row.Value)]));
    const state = status.get('wsrep_local_state_comment');
    // A server without Galera (or with wsrep off) reports no state, or an empty/"Initialized" one with wsrep_ready OFF.
    const galera = state !== undefined && state !== '' && status.get('wsrep_cluster_status') !== 'Disconnected' ? state : null;
    if (galera === null) return { server, usable: true, galera: null };
    const usable = galera === 'Synced' && status.get('wsrep_ready') === 'ON' && status.get('wsrep_cluster_status') === 'Primary';
    return { server, usable, galera, ...(usable ? {} : { reason: `Galera state ${galera}, ${status.get('wsrep_cluster_status') ?? 'unknown'} component` }) };
  } catch (error) {
    // The error's own message stays out of /readyz (it may name hosts); callers log it.
    return { server, usable: false, galera: null, reason: 'unreachable', error: (error as Error).message };
  }
}

/**
 * The pool of a gateway given several MySQL servers (a Galera cluster, CONTRACT section 11): work
 * goes to one node at a time, the first usable one in MYSQL_URL's order; every second that node is
 * looked at, and when it dies or leaves the Synced state (a donor, a desynced or joining node) the
 * gateway moves to the next usable node. It does not move back while the node in use stays usable.
 * `pool` is what the rest of the gateway uses: every call goes to the node in use at that moment.
 * Connections already taken stay on their node (a transaction never spans two nodes).
 */
export class FailoverPool {
  readonly pool: Pool;
  private readonly pools: (Pool | undefined)[];
  private current = 0;
  private last: NodeLook;
  private looking: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly servers: readonly mysql.ConnectionOptions[],
    private readonly make: (server: mysql.ConnectionOptions) => Pool,
    private readonly logger?: Logger,
  ) {
    this.pools = servers.map(() => undefined);
    this.last = { server: this.name(0), usable: true, galera: null };
    this.pool = new Proxy({} as Pool, {
      get: (_target, property) => {
        if (property === 'end') return () => this.end();
        if (property === FAILOVER) return this;
        if (property === 'query' || property === 'execute') return (...args: unknown[]) => this.statement(property, args);
        const active = this.poolAt(this.current);
        const value: unknown = Reflect.get(active, property, active);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(active) : value;
      },
    });
    this.timer = setInterval(() => void this.lookNow(), CHECK_MS);
    this.timer.unref();
  }

  /**
   * A statement of its own on the node in use. When no connection to that node could be made (the
   * statement was never sent: a dead node not yet noticed), the node is looked at at once and the
   * statement sent once more to the node moved to, if any.
   */
  private async statement(method: 'query' | 'execute', args: unknown[]): Promise<unknown> {
    const run = (pool: Pool) => (pool[method] as (...given: unknown[]) => Promise<unknown>).apply(pool, args);
    const node = this.active();
    try {
      return await run(node);
    } catch (error) {
      if (!neverSent(error) || !(await this.movedFrom(node))) throw error;
      return run(this.active());
    }
  }

  /** After work on `node` lost it: looks at once (not at the next tick) and says whether another node is in use now. */
  async movedFrom(node: Pool): Promise<boolean> {
    await this.lookNow();
    return this.active() !== node;
  }

  /** The pool of the node in use now. */
  active(): Pool {
    return this.poolAt(this.current);
  }

  /** The server (host:port) whose pool this is, or null when it is none of this cluster's. */
  serverOf(pool: Pool): string | null {
    const index = this.pools.indexOf(pool);
    return index < 0 ? null : this.name(index);
  }

  /**
   * Whether the cluster, as the node in use sees it, has left `server` out of its membership
   * (wsrep_incoming_addresses): then every write set that node sent before it went has been
   * delivered, and, read with wsrep_sync_wait, applied. False when it is still a member or when the
   * node in use cannot say.
   */
  async hasLeft(server: string): Promise<boolean> {
    const active = this.active();
    if (this.serverOf(active) === server) return false;
    try {
      const [rows] = await withTimeout(active.query<RowDataPacket[]>("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_incoming_addresses', 'wsrep_cluster_size', 'wsrep_cluster_status')"), LOOK_TIMEOUT_MS);
      const status = new Map(rows.map((row) => [String(row.Variable_name), String(row.Value)]));
      const members = (status.get('wsrep_incoming_addresses') ?? '').split(',').filter((member) => member !== '');
      // Only a full, primary membership list is evidence (a node that is not Primary knows nothing final).
      if (status.get('wsrep_cluster_status') !== 'Primary' || members.length === 0 || members.length !== Number(status.get('wsrep_cluster_size'))) return false;
      return !members.includes(server);
    } catch {
      return false;
    }
  }

  /** The node in use and what the last look found (for /readyz). */
  describe(): NodeLook {
    return this.last;
  }

  /** Looks at the node in use now, and moves on when it is not usable; one look at a time. */
  lookNow(): Promise<void> {
    this.looking ??= this.look().finally(() => {
      this.looking = null;
    });
    return this.looking;
  }

  private async look(): Promise<void> {
    const now = await lookAt(this.poolAt(this.current), this.name(this.current));
    this.last = now;
    if (now.usable) return;
    for (let index = 0; index < this.servers.length; index += 1) {
      if (index === this.current) continue;
      const other = await lookAt(this.poolAt(index), this.name(index));
      if (other.usable) {
        this.logger?.warn('moved to another MySQL node', { from: now.server, to: other.server, reason: now.reason, error: now.error });
        this.current = index;
        this.last = other;
        return;
      }
    }
  }

  private poolAt(index: number): Pool {
    let pool = this.pools[index];
    if (pool === undefined) {
      pool = this.make(this.servers[index]);
      this.pools[index] = pool;
    }
    return pool;
  }

  private name(index: number): string {
    const { host, port } = this.servers[index];
    return `${String(host)}:${String(port ?? 3306)}`;
  }

  private async end(): Promise<void> {
    clearInterval(this.timer);
    await this.looking?.catch(() => undefined);
    await Promise.all(this.pools.map((pool) => pool?.end()));
  }
}

const FAILOVER = Symbol('failover');

/** No connection could be made, so the statement never reached a server (refused, unreachable, or no answer to connect). */
function neverSent(error: unknown): boolean {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return syscall === 'connect' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH';
}

/** The FailoverPool behind a gateway's pool, or null on one server. */
export function failoverOf(pool: Pool): FailoverPool | null {
  return ((pool as unknown as Record<symbol, FailoverPool | undefined>)[FAILOVER] ?? null);
}

/** The pool of the node in use now: itself on one server. A transaction and its KILLs stay on it. */
export function nodePool(pool: Pool): Pool {
  return failoverOf(pool)?.active() ?? pool;
}
