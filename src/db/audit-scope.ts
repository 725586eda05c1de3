import type { Connection } from './pool';

/**
 * The audit record of the request being served, handed down with the change (NodeContext.audit),
 * so that the transaction that makes the change writes the record too (same commit): see
 * withTransaction. Passed explicitly: an AsyncLocalStorage turns on promise hooks for the whole
 * process on Node 20, a cost every read paid (docs/decisions/005).
 */
export interface AuditScope {
  /** Inserts the record (as ok) on the transaction's connection. */
  write(connection: Connection): Promise<void>;
  /** Set once a transaction that wrote the record has committed. */
  recorded: boolean;
}
