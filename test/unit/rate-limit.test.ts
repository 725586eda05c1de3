import { RateLimiter } from '../../src/http/rate-limit';

describe('RateLimiter', () => {
  it('lets a key make `limit` requests in a window and refuses the next, with the seconds left', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(3, 60_000, () => now);
    expect([1, 2, 3].map(() => limiter.take('client:a').allowed)).toEqual([true, true, true]);
    now += 15_000;
    expect(limiter.take('client:a')).toEqual({ allowed: false, resetSeconds: 45, first: true });
    // Another key has its own count.
    expect(limiter.take('client:b').allowed).toBe(true);
  });

  it('starts every count again when the window ends', () => {
    let now = 0;
    const limiter = new RateLimiter(1, 1000, () => now);
    expect(limiter.take('k').allowed).toBe(true);
    expect(limiter.take('k').allowed).toBe(false);
    now = 1000;
    expect(limiter.take('k').allowed).toBe(true);
    expect(limiter.take('k')).toEqual({ allowed: false, resetSeconds: 1, first: true });
  });
});
