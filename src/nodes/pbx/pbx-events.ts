import { randomUUID } from 'node:crypto';
import type { ChangeScope } from '../../db/change-scope';
import type { Logger } from '../../logger';
import type { AuditStore } from '../audit/audit-store';
import type { DomainStore } from '../domains/domain-store';
import type { ExtensionOutcome, SyncService } from './sync-service';

/** The Simotel events the gateway acts on (CONTRACT section 12); any other is answered and ignored. */
export const EXTENSION_EVENTS = ['ExtenAdded', 'ExtenRemoved'] as const;
export type ExtensionEvent = (typeof EXTENSION_EVENTS)[number];

/** The name the audit records of event-driven changes carry where a request's carry its token's. */
export const PBX_EVENTS_CLIENT = 'pbx-events';

/** What became of an event: its extension queued, already queued (one reconcile serves both), or dropped. */
export type Noticed = 'queued' | 'queued already' | 'dropped';

export interface PbxEventsDeps {
  readonly sync: Pick<SyncService, 'reconcileExtension'>;
  readonly domains: Pick<DomainStore, 'isLocal'>;
  readonly audit: Pick<AuditStore, 'write'>;
  readonly logger: Logger;
  /** PBX_EVENTS_DOMAIN: the local domain events import into. */
  readonly domain: string;
  /** Extensions reconciled at once. */
  readonly concurrency?: number;
  /** Extensions waiting at most; events past it are dropped (the scheduled sync is the safety net). */
  readonly maxPending?: number;
}

const round = (milliseconds: number) => Math.round(milliseconds * 100) / 100;

/**
 * PBX events (POST /pbx/events): each is only a hint that one extension changed. Its number is
 * queued (once, however many events name it) and reconciled in the background as pbx/sync with
 * prune would (SyncService.reconcileExtension: the PBX asked for that exact number, under the
 * extension's claim), so a forged, repeated or reordered event changes nothing wrong. At most
 * `concurrency` at a time, at most `maxPending` waiting; what each changes is in the audit trail
 * under the name pbx-events.
 */
export class PbxEvents {
  private readonly sync: Pick<SyncService, 'reconcileExtension'>;
  private readonly domains: Pick<DomainStore, 'isLocal'>;
  private readonly audit: Pick<AuditStore, 'write'>;
  private readonly logger: Logger;
  private readonly domain: string;
  private readonly concurrency: number;
  private readonly maxPending: number;
  /** Numbers waiting, in arrival order, each with the last event that named it. */
  private readonly pending = new Map<string, ExtensionEvent>();
  /** Numbers being reconciled, with their work. */
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(deps: PbxEventsDeps) {
    this.sync = deps.sync;
    this.domains = deps.domains;
    this.audit = deps.audit;
    this.logger = deps.logger;
    this.domain = deps.domain;
    this.concurrency = deps.concurrency ?? 4;
    this.maxPending = deps.maxPending ?? 1000;
  }

  /**
   * Takes an event's extension. A number already waiting is not queued twice; one being reconciled
   * is queued again, since the reconcile under way may have asked the PBX before this event's change.
   */
  notice(event: ExtensionEvent, number: string): Noticed {
    if (this.stopped) return 'dropped';
    if (this.pending.has(number)) {
      this.pending.set(number, event);
      return 'queued already';
    }
    if (this.pending.size >= this.maxPending) {
      this.logger.warn('pbx event dropped: too many extensions wait already; the next pbx/sync covers it', { event, extension: number, pending: this.pending.size });
      return 'dropped';
    }
    this.pending.set(number, event);
    this.startWork();
    return 'queued';
  }

  /** Resolves once nothing waits or runs (tests; shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.values());
  }

  /** Takes no more events, drops those waiting, and waits for those under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending.size > 0) this.logger.warn('pbx events dropped at shutdown; the next pbx/sync covers them', { extensions: [...this.pending.keys()] });
    this.pending.clear();
    await this.idle();
  }

  private startWork(): void {
    while (!this.stopped && this.running.size < this.concurrency) {
      // One reconcile per number at a time: a number under way waits for the next turn.
      const number = [...this.pending.keys()].find((waiting) => !this.running.has(waiting));
      if (number === undefined) return;
      const event = this.pending.get(number) as ExtensionEvent;
      this.pending.delete(number);
      const work = this.reconcile(event, number).finally(() => {
        this.running.delete(number);
        this.startWork();
      });
      this.running.set(number, work);
    }
  }

  private async reconcile(event: ExtensionEvent, number: string): Promise<void> {
    const started = performance.now();
    const { domain } = this;
    let changed: ExtensionOutcome | undefined;
    const requestId = randomUUID();
    // The record is written by the transaction that makes the change (the change's commit marker).
    const audit: ChangeScope = {
      requestId,
      recorded: false,
      committing: false,
      write: async (connection) => {
        await this.audit.write(
          {
            requestId,
            token: PBX_EVENTS_CLIENT,
            node: 'pbx/events',
            params: { event_name: event, exten: number, domain, done: changed },
            response: 'ok',
            cause: null,
            durationMs: round(performance.now() - started),
            subject: `${number}@${domain}`,
          },
          connection,
        );
      },
    };
    try {
      if (!(await this.domains.isLocal(domain))) {
        this.logger.warn('pbx event ignored: PBX_EVENTS_DOMAIN is not a local domain', { event, extension: number, domain });
        return;
      }
      const outcome = await this.sync.reconcileExtension(domain, number, { audit, changing: (decided) => (changed = decided) });
      this.logger.info('pbx event: extension reconciled', { event, extension: number, domain, outcome, duration_ms: round(performance.now() - started) });
    } catch (error) {
      this.logger.warn('pbx event: the extension could not be reconciled; the next event of it or pbx/sync will', {
        event,
        extension: number,
        domain,
        error: (error as Error).message,
      });
    }
  }
}
