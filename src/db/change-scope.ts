import type { Connection } from './pool';

/**
 * What a change needs beyond its parameters, handed down from the node to the service to the
 * transaction helper (NodeContext.audit): the request's audit record, which the transaction that
 * makes the change writes too (same commit), so that the record under `requestId` is the change's
 * commit marker (CONTRACT section 7: a lost COMMIT answer is settled by looking for it); and the
 * request's deadline. Passed explicitly: an AsyncLocalStorage turns on promise hooks for the whole
 * process on Node 20, a cost every read paid (docs/decisions/005).
 */
export interface ChangeScope {
  /** The gateway's own id of the request, written with the audit record: the commit marker. */
  readonly requestId: string;
  /** Inserts the record (as ok) on the transaction's connection. */
  write(connection: Connection): Promise<void>;
  /** Set once a transaction that wrote the record has committed. */
  recorded: boolean;
  /** Aborted when the request passes its deadline before its change began to commit. */
  readonly signal?: AbortSignal;
  /** Set by withTransaction when it sends COMMIT: from then on the deadline waits for the outcome. */
  committing: boolean;
}
