/** What one counted request learns: whether it may go on, and when the window starts anew. */
export interface RateDecision {
  readonly allowed: boolean;
  /** Seconds until the counts start again (at least 1). */
  readonly resetSeconds: number;
  /** Whether this is the first refusal of the key in its window (to log it once). */
  readonly first: boolean;
}

/**
 * Requests per key in fixed windows (every count starts again at each window's end), kept in this
 * process. One Map lookup and no promise per request: express-rate-limit did the same with several
 * awaits and header checks, a measurable share of a read (docs/decisions/005). The map holds the keys
 * seen in the current window only, so it is bounded by the clients of one window.
 */
export class RateLimiter {
  private counts = new Map<string, number>();
  private windowEnds = 0;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request of `key`; `limit` overrides the limiter's own for this key (a token's rate_per_minute). */
  take(key: string, limit = this.limit): RateDecision {
    const now = this.now();
    if (now >= this.windowEnds) {
      this.counts = new Map();
      this.windowEnds = now + this.windowMs;
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    return {
      allowed: count <= limit,
      resetSeconds: Math.max(1, Math.ceil((this.windowEnds - now) / 1000)),
      first: count === limit + 1,
    };
  }
}
