import type { Logger } from '../../logger';
import type { ExtensionReconciler } from './extension-reconciler';
import type { ExtensionStore } from './extension-store';

/** Where an extension whose two stores may disagree is reported. */
export interface DoubtRecorder {
  markInDoubt(number: string, reason: string): Promise<void>;
}

export interface ExtensionRepairerDeps {
  readonly extensions: ExtensionStore;
  readonly reconciler: ExtensionReconciler;
  readonly logger: Logger;
  /** How often a round of repairs runs. */
  readonly intervalMs: number;
}

/** Extensions repaired in one round at most; the rest wait for the next. */
const ROUND_SIZE = 50;

/**
 * Extensions in doubt (CONTRACT section 7): recorded in MySQL (in memory until MySQL answers) and
 * repaired from MySQL's record by whichever gateway's round gets there first, once the PBX and
 * MySQL answer again.
 */
export class ExtensionRepairer implements DoubtRecorder {
  private readonly extensions: ExtensionStore;
  private readonly reconciler: ExtensionReconciler;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  /** In doubt but not yet recorded in MySQL: number → reason. */
  private readonly unrecorded = new Map<string, string>();
  /** How many MySQL held in doubt at the end of the last round. */
  private recorded = 0;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(deps: ExtensionRepairerDeps) {
    this.extensions = deps.extensions;
    this.reconciler = deps.reconciler;
    this.logger = deps.logger;
    this.intervalMs = deps.intervalMs;
  }

  /** Extensions in doubt as far as this gateway knows: MySQL's count at the last round, and those only in memory. */
  get inDoubt(): number {
    return this.recorded + this.unrecorded.size;
  }

  async markInDoubt(number: string, reason: string): Promise<void> {
    this.logger.error('PBX and MySQL may disagree', { extension: number, reason });
    try {
      await this.extensions.markInDoubt(number, reason);
      this.recorded += 1;
    } catch {
      this.unrecorded.set(number, reason);
    }
  }

  start(): void {
    this.timer ??= setInterval(() => void this.repairNow(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** One round: record what is only in memory, then repair what MySQL holds in doubt. One round at a time. */
  repairNow(): Promise<void> {
    this.round ??= this.repairRound().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  private async repairRound(): Promise<void> {
    try {
      for (const [number, reason] of this.unrecorded) {
        await this.extensions.markInDoubt(number, reason);
        this.unrecorded.delete(number);
      }
      for (const number of await this.extensions.listInDoubt(ROUND_SIZE)) {
        try {
          const done = await this.reconciler.reconcile(number, { onlyInDoubt: true });
          if (done !== 'not in doubt') this.logger.warn('repaired an extension in doubt: the PBX holds what MySQL holds', { extension: number, action: done });
        } catch (error) {
          this.logger.warn('an extension in doubt could not be repaired yet', { extension: number, error: (error as Error).message });
        }
      }
      this.recorded = await this.extensions.countInDoubt();
    } catch (error) {
      // MySQL does not answer: the next round tries again.
      this.logger.debug('repair round stopped early', { error: (error as Error).message });
    }
  }
}
