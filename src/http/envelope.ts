import { Failed, GatewayError, Invalid } from '../outcome';
import { isDatabaseError } from '../db/errors';

export type Outcome = 'ok' | 'invalid' | 'failed' | 'error';

export interface Envelope {
  response: Outcome;
  cause?: string;
  detail?: string;
  [member: string]: unknown;
}

export interface MappedError {
  envelope: Envelope;
  /** Set for answers the log must explain (error outcomes). */
  logged?: unknown;
}

/** The one place where thrown outcomes become the contract's envelope (CONTRACT section 3). */
export function errorToEnvelope(error: unknown): MappedError {
  if (error instanceof Invalid) return { envelope: { response: 'invalid', cause: error.cause, detail: error.detail } };
  if (error instanceof Failed) return { envelope: { response: 'failed', cause: error.cause, detail: error.detail } };
  if (error instanceof GatewayError) {
    return { envelope: { response: 'error', cause: error.cause, detail: error.detail }, logged: error.origin ?? error };
  }
  if ((error as { code?: unknown } | null)?.code === 'POOL_ACQUIRE_TIMEOUT') {
    return { envelope: { response: 'error', cause: 'db', detail: 'the database is busy: no connection came free in time; try again shortly' }, logged: error };
  }
  if (isDatabaseError(error)) {
    return { envelope: { response: 'error', cause: 'db', detail: 'the database did not answer as expected' }, logged: error };
  }
  return { envelope: { response: 'error', cause: 'internal', detail: 'internal error; the log has the details' }, logged: error };
}
