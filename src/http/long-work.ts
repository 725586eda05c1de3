import { GatewayError } from '../outcome';

/**
 * At most `slots` long requests (whole lists, add_range, pbx/sync) at once, in arrival order; the
 * rest wait up to `waitMs`, then are answered error/db as busy. Long work thus holds at most
 * `slots` MySQL connections and the rest of the pool stays for short requests: twenty full lists
 * or a flood of add_range no longer make user/get wait (issue 9, finding 2).
 */
export class LongWorkGate {
  private active = 0;
  private readonly waiting: { admit: () => void }[] = [];

  constructor(
    readonly slots: number,
    private readonly waitMs: number,
  ) {}

  /** Resolves with the function that gives the slot back (call it once). */
  async enter(): Promise<() => void> {
    if (this.active < this.slots) {
      this.active += 1;
      return this.leaver();
    }
    await new Promise<void>((resolve, reject) => {
      const entry = {
        admit: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(entry), 1);
        reject(new GatewayError('db', `the database is busy with ${this.slots} long requests (lists, ranges, sync); try again shortly`));
      }, this.waitMs);
      this.waiting.push(entry);
    });
    // The slot was handed over by a leaving request: `active` already counts this one.
    return this.leaver();
  }

  private leaver(): () => void {
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const next = this.waiting.shift();
      if (next) next.admit();
      else this.active -= 1;
    };
  }
}
