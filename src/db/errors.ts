import { randomInt } from 'node:crypto';

// Which thrown errors mean "the database did not do its job" (error/db rather than error/internal).

const CONNECTION_CODES = /^(ECONN|PROTOCOL_|POOL_|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EPIPE|EAI_AGAIN|ER_)/;

export function isDatabaseError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const { code, sqlState, fatal } = error as { code?: unknown; sqlState?: unknown; fatal?: unknown };
  return typeof sqlState === 'string' || fatal === true || (typeof code === 'string' && CONNECTION_CODES.test(code));
}

export function isDuplicateKey(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ER_DUP_ENTRY';
}

export function isForeignKeyInUse(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ER_ROW_IS_REFERENCED_2' || code === 'ER_ROW_IS_REFERENCED';
}

export function isMissingReference(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ER_NO_REFERENCED_ROW_2' || code === 'ER_NO_REFERENCED_ROW';
}

/** InnoDB chose this transaction as a deadlock victim and rolled it back: running it again is safe. */
export function isDeadlock(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ER_LOCK_DEADLOCK';
}

/** A lock wait that ran out (1205): like a deadlock victim, the statement or transaction did nothing and may run again. */
export function isLockWaitTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ER_LOCK_WAIT_TIMEOUT';
}

/** A conflict that undid the work and leaves it safe to run again: a deadlock victim or certification conflict (1213), or a lock wait that ran out (1205). */
export function isConflict(error: unknown): boolean {
  return isDeadlock(error) || isLockWaitTimeout(error);
}

const CONFLICT_ATTEMPTS = 5;

/**
 * Runs one statement of its own (autocommit) again when it was a deadlock victim or a Galera
 * certification conflict (1213) or its lock wait ran out (1205), a bounded number of times with a
 * jittered pause.
 */
export async function retryOnConflict<T>(statement: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await statement();
    } catch (error) {
      if (!isConflict(error) || attempt === CONFLICT_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, randomInt(2, 10 * attempt + 3)));
    }
  }
}
