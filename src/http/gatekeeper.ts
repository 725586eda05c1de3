import type { IncomingMessage } from 'node:http';
import { ipKeyGenerator } from 'express-rate-limit';
import type { Logger } from '../logger';
import { presentedToken, type Authenticator, type Client } from './auth';
import type { Outcome } from './envelope';
import { RateLimiter } from './rate-limit';

/** A refusal before any work: the status, the envelope's words and extra headers (flat name, value list). */
export interface Refusal {
  readonly status: number;
  readonly outcome: Outcome;
  readonly cause: string;
  readonly detail: string;
  readonly headers: readonly string[];
}

/** How a 401 asks for credentials: its WWW-Authenticate header and the envelope's detail. */
export interface Challenge {
  readonly header: string;
  readonly detail: string;
}

const BEARER: Challenge = { header: 'Bearer', detail: 'send a known token as Authorization: Bearer <token> or X-API-Key' };

/** Whom a request comes from, whether it may go on, and how to say it is done. */
export interface Admission {
  /** The client its token names; null without auth (AUTH_DISABLED) or when refused. */
  readonly client: Client | null;
  readonly refusal: Refusal | null;
  /** Ends the request's count of requests in flight; call it exactly once. */
  release(): void;
}

export interface GatekeeperOptions {
  /** Null when auth is off (AUTH_DISABLED=true). */
  readonly authenticator: Authenticator | null;
  readonly logger: Logger;
  /** A client's requests in flight past which it gets 429 (CONTRACT section 3: 32). */
  readonly maxInFlight: number;
  /** Requests a minute without a known token, per source address, before 429 (CONTRACT: 60). */
  readonly unauthenticatedPerMinute: number;
  /** Requests a minute per token unless the token carries its own rate_per_minute; 0: none. */
  readonly ratePerMinute: number;
}

const WINDOW_MS = 60_000;
const NOTHING = (): void => undefined;

/** The address a request comes from, as the limits key it (an IPv6 address by its /56). */
export function sourceAddress(request: IncomingMessage): string {
  return request.socket.remoteAddress ?? '';
}

/**
 * The limits of CONTRACT section 3, in front of everything that needs a token (the nodes, /metrics,
 * unknown paths): a known token is never refused for rate while it keeps at most `maxInFlight`
 * requests in flight (and, when it has one, within its requests a minute); requests without a known
 * token are counted per source address and refused 429 past `unauthenticatedPerMinute`, so token
 * guessing is slow and logged while a valid token from the same address keeps working. The counts
 * are per process: N gateways behind a balancer allow N times as much (README, Limits).
 */
export class Gatekeeper {
  private readonly inFlight = new Map<string, number>();
  private readonly unauthenticated: RateLimiter;
  private readonly perToken: RateLimiter;

  constructor(private readonly options: GatekeeperOptions) {
    this.unauthenticated = new RateLimiter(options.unauthenticatedPerMinute, WINDOW_MS);
    this.perToken = new RateLimiter(options.ratePerMinute, WINDOW_MS);
  }

  admit(request: IncomingMessage): Admission {
    const { authenticator } = this.options;
    if (authenticator === null) return this.enter(`address:${ipKeyGenerator(sourceAddress(request))}`, null, 0);
    const client = authenticator.identify(presentedToken(request.headers));
    if (client === null) return { client: null, refusal: this.refuseUnknown(request), release: NOTHING };
    return this.enter(`client:${client.name}`, client, client.ratePerMinute ?? this.options.ratePerMinute);
  }

  /**
   * A request without a known token (or, with `challenge`, without other credentials it needs, e.g.
   * POST /pbx/events): 401, or 429 once its address is past the limit. Counted either way.
   */
  refuseUnknown(request: IncomingMessage, challenge: Challenge = BEARER): Refusal {
    const address = sourceAddress(request);
    const limit = this.options.unauthenticatedPerMinute;
    if (limit > 0) {
      const decision = this.unauthenticated.take(`address:${ipKeyGenerator(address)}`);
      if (!decision.allowed) {
        if (decision.first) this.options.logger.warn('too many requests without a known token; refusing them for the rest of the minute', { address, limit });
        return {
          status: 429,
          outcome: 'failed',
          cause: 'rate',
          detail: `more than ${limit} requests a minute without a known token from this address; try again later`,
          headers: ['Retry-After', String(decision.resetSeconds)],
        };
      }
    }
    return {
      status: 401,
      outcome: 'invalid',
      cause: 'auth',
      detail: challenge.detail,
      headers: ['WWW-Authenticate', challenge.header],
    };
  }

  private enter(key: string, client: Client | null, perMinute: number): Admission {
    const count = this.inFlight.get(key) ?? 0;
    if (count >= this.options.maxInFlight) {
      return {
        client,
        refusal: { status: 429, outcome: 'failed', cause: 'rate', detail: `more than ${this.options.maxInFlight} requests in flight; wait for answers before sending more`, headers: ['Retry-After', '1'] },
        release: NOTHING,
      };
    }
    if (perMinute > 0) {
      const decision = this.perToken.take(key, perMinute);
      if (!decision.allowed) {
        return {
          client,
          refusal: { status: 429, outcome: 'failed', cause: 'rate', detail: `more than ${perMinute} requests a minute; try again later`, headers: ['Retry-After', String(decision.resetSeconds)] },
          release: NOTHING,
        };
      }
    }
    this.inFlight.set(key, count + 1);
    let released = false;
    return {
      client,
      refusal: null,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.inFlight.get(key) ?? 1) - 1;
        if (left === 0) this.inFlight.delete(key);
        else this.inFlight.set(key, left);
      },
    };
  }
}
