// The contract's outcomes (CONTRACT section 3). Every layer may throw these;
// one mapper at the HTTP edge turns them into the envelope.

/** The request is malformed: `cause` names the first offending parameter. */
export class Invalid extends Error {
  constructor(
    override readonly cause: string,
    readonly detail: string,
  ) {
    super(`invalid ${cause}: ${detail}`);
    this.name = 'Invalid';
  }
}

/** A well-formed request that cannot be done: `cause` is a contract keyword. */
export class Failed extends Error {
  constructor(
    override readonly cause: string,
    readonly detail: string,
  ) {
    super(`failed ${cause}: ${detail}`);
    this.name = 'Failed';
  }
}

export type ErrorCause = 'db' | 'pbx' | 'internal';

/** The gateway could not do its job. `detail` is safe to show; `origin` is for the log only. */
export class GatewayError extends Error {
  constructor(
    override readonly cause: ErrorCause,
    readonly detail: string,
    readonly origin?: unknown,
  ) {
    super(`error ${cause}: ${detail}`);
    this.name = 'GatewayError';
  }
}
