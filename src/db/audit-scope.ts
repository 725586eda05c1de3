import { AsyncLocalStorage } from 'node:async_hooks';
import type { Connection } from './pool';

/**
 * The audit record of the request being served, carried along its async calls, so that the
 * transaction that makes the change writes the record too (same commit) — see withTransaction.
 */
export interface AuditScope {
  /** Inserts the record (as ok) on the transaction's connection. */
  write(connection: Connection): Promise<void>;
  /** Set once a transaction that wrote the record has committed. */
  recorded: boolean;
}

export const auditScope = new AsyncLocalStorage<AuditScope>();
