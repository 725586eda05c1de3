import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Pool } from '../db/pool';
import type { RequestObserver } from './registry';
import { RequestSeries } from './request-series';

export interface Metrics {
  readonly registry: Registry;
  readonly requests: RequestObserver;
  /** For the PBX client: one call's path, result and duration. */
  pbxCall(path: string, result: 'ok' | 'refused' | 'error', durationMs: number): void;
}

interface PoolInternals {
  _allConnections?: { length: number };
  _freeConnections?: { length: number };
  _connectionQueue?: { length: number };
}

// Labels as strings made once: a number would be turned into one on every request.
const STATUS_LABELS: Record<number, string> = Object.fromEntries([200, 400, 401, 403, 404, 405, 408, 413, 429, 431, 500, 503].map((status) => [status, String(status)]));

/** Prometheus metrics of one gateway (a registry of its own, so tests can build several). */
export function createMetrics(pool?: Pool, inDoubt?: () => number): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pbxgw_' });
  const requests = new RequestSeries(registry, [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  const pbxCalls = new Counter({
    name: 'pbxgw_pbx_calls_total',
    help: 'Calls to the PBX by path and result (ok, refused, error)',
    labelNames: ['path', 'result'],
    registers: [registry],
  });
  const pbxDuration = new Histogram({
    name: 'pbxgw_pbx_call_duration_seconds',
    help: 'PBX call latency by path',
    labelNames: ['path'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  if (pool) {
    // mysql2 keeps no public counters; its pool's arrays are read when Prometheus scrapes.
    // Read at each scrape: on a cluster the node in use (and so its pool) may change.
    const core = () => (pool as unknown as { pool: PoolInternals }).pool;
    new Gauge({
      name: 'pbxgw_db_pool_connections',
      help: 'MySQL pool connections by state (open, idle, waiting requests)',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const internals = core();
        this.set({ state: 'open' }, internals._allConnections?.length ?? 0);
        this.set({ state: 'idle' }, internals._freeConnections?.length ?? 0);
        this.set({ state: 'waiting' }, internals._connectionQueue?.length ?? 0);
      },
    });
  }
  if (inDoubt) {
    new Gauge({
      name: 'pbxgw_extensions_in_doubt',
      help: 'Extensions whose PBX and MySQL may disagree until a repair (as of the last repair round)',
      registers: [registry],
      collect() {
        this.set(inDoubt());
      },
    });
  }
  // Unknown paths are counted under one label so a scanner cannot grow the series without bound.
  return {
    registry,
    requests: {
      finished({ node, known, outcome, status, durationMs }) {
        requests.record(known ? node : 'unknown', outcome, STATUS_LABELS[status] ?? String(status), durationMs / 1000);
      },
    },
    pbxCall(path, result, durationMs) {
      pbxCalls.inc({ path, result });
      pbxDuration.observe({ path }, durationMs / 1000);
    },
  };
}
