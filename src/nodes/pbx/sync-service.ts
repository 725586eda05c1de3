import type { ChangeScope } from '../../db/change-scope';
import type { Connection } from '../../db/pool';
import { isForeignKeyInUse } from '../../db/errors';
import type { Logger } from '../../logger';
import { Failed, GatewayError } from '../../outcome';
import { emptyForwardPolicy, sameForwardPolicy, type Extension } from '../../pbx/extension';
import type { PbxClient } from '../../pbx/pbx-client';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { DomainStore } from '../domains/domain-store';
import type { ExtensionStore } from '../user/extension-store';
import type { NewUser, UserRecord, UserStore } from '../user/user-store';
import { NothingToChange, type LocalUser, type PbxFields, type RefreshedRow, type SyncStore } from './sync-store';

export interface SyncOptions {
  readonly dryRun: boolean;
  readonly prune: boolean;
  /** Called as extensions and missing users are handled (the CLI's progress bar): how many so far, of how many. */
  readonly progress?: (done: number, total: number) => void;
  /** The node's audit record: the first transaction that changes something writes it. */
  readonly audit?: ChangeScope;
}

export interface SyncReport {
  imported: string[];
  updated: string[];
  missing_on_pbx: string[];
  pruned: string[];
}

/**
 * What reconciling one extension did: `imported`, `updated` and `pruned` changed MySQL; the others
 * did not (`taken`: its address is held by an alias, or the extension is a local user's in another
 * domain; `in use`: a user whose extension is gone is kept
 * because hardphones or aliases point at it; `in doubt`: left to the repair; `not local`: a remote
 * user holds the address).
 */
export type ExtensionOutcome = 'imported' | 'updated' | 'pruned' | 'unchanged' | 'taken' | 'in use' | 'in doubt' | 'not local';

export interface ExtensionContext {
  /** The audit record of the change, written in the transaction that changes something. */
  readonly audit?: ChangeScope;
  /** Told what the transaction is about to commit, before the audit record is written (which may name it). */
  readonly changing?: (outcome: ExtensionOutcome) => void;
}

export const EXTENSION_NUMBER = /^[0-9]{2,15}$/;

/** Extensions written per transaction: a few hundred rows, well within a Galera cluster's write-set limits. */
export const SYNC_BATCH_SIZE = 500;

/** Missing users pruned at once (each holds its extension's claim and asks the PBX). */
const PRUNE_CONCURRENCY = 4;

export interface SyncServiceDeps {
  readonly users: UserStore;
  readonly domains: DomainStore;
  readonly extensions: ExtensionStore;
  readonly store: SyncStore;
  readonly pbx: PbxClient;
  readonly logger: Logger;
}

/** The name, e-mail and call forwards of an extension, as a record keeps them. */
function pbxFields(extension: Extension): PbxFields {
  return {
    displayname: (extension.name ?? '').slice(0, 128),
    email: (extension.email ?? '').slice(0, 254),
    forward: { ...emptyForwardPolicy(), ...extension.forward_policy },
  };
}

function sameFields(a: PbxFields, b: PbxFields): boolean {
  return a.displayname === b.displayname && a.email === b.email && a.forward !== null && b.forward !== null && sameForwardPolicy(a.forward, b.forward);
}

/** A new local user with what the PBX knows; the password is unknown, so later updates leave `secret` out. */
function importedUser(address: SipAddress, fields: PbxFields): NewUser {
  return { ...address, kind: 'local', ...fields, dialplan: '', linetext: '', password: null, remote: null };
}

/** One extension of the PBX's list, with its record in the domain when it has one. */
interface Listed {
  readonly extension: Extension;
  readonly fields: PbxFields;
  readonly user: LocalUser | undefined;
}

/** What one batch of extensions comes to, decided from MySQL as it is (under locks, when it is for real). */
interface BatchPlan {
  readonly imports: NewUser[];
  readonly updates: RefreshedRow[];
  readonly taken: { number: string; owner: string }[];
  readonly busy: string[];
}

/**
 * Reconciles a local domain with the PBX (pbx/sync, npm run sync): extensions without a
 * provisioning record are imported, records whose extension is gone are listed (and removed with
 * prune). The PBX is only read. Running it twice changes nothing the second time.
 *
 * The PBX is listed once and the domain's users read once; the difference is written in batches
 * of SYNC_BATCH_SIZE extensions, one transaction each. A user whose extension is missing from the
 * list is pruned only by reconcileExtension: holding the extension's claim, after the PBX was asked
 * for that exact number (a stale list cannot remove a user whose extension was just made). PBX
 * events (pbx-events.ts) reconcile one extension the same way.
 */
export class SyncService {
  private readonly users: UserStore;
  private readonly domains: DomainStore;
  private readonly extensions: ExtensionStore;
  private readonly store: SyncStore;
  private readonly pbx: PbxClient;
  private readonly logger: Logger;

  constructor(deps: SyncServiceDeps) {
    this.users = deps.users;
    this.domains = deps.domains;
    this.extensions = deps.extensions;
    this.store = deps.store;
    this.pbx = deps.pbx;
    this.logger = deps.logger;
  }

  async sync(domain: string, options: SyncOptions): Promise<SyncReport> {
    if (!(await this.domains.isLocal(domain))) throw new Failed('domain', `${domain} is not a local domain`);
    const listed: unknown = await this.pbx.list();
    // Read as "no extensions", anything but a list would have prune remove every local user.
    if (!Array.isArray(listed)) throw new GatewayError('pbx', 'the PBX answered a list that is not a list');
    const numbered = new Map<string, Extension>();
    for (const extension of listed as Extension[]) {
      if (EXTENSION_NUMBER.test(extension.number) && !numbered.has(extension.number)) numbered.set(extension.number, extension);
    }
    const local = await this.store.localUsers(domain);
    const byNumber = new Map(local.map((user) => [user.username, user]));
    const extensions: Listed[] = [...numbered.values()].map((extension) => ({ extension, fields: pbxFields(extension), user: byNumber.get(extension.number) }));
    const missing = local.filter((user) => !numbered.has(user.username));
    const total = extensions.length + missing.length;
    const report: SyncReport = { imported: [], updated: [], missing_on_pbx: [], pruned: [] };
    let done = 0;
    const advance = (count: number) => {
      if (count === 0) return;
      done += count;
      options.progress?.(done, total);
    };

    for (let start = 0; start < extensions.length; start += SYNC_BATCH_SIZE) {
      const batch = extensions.slice(start, start + SYNC_BATCH_SIZE);
      const { imports, updates } = await this.syncBatch(domain, batch, options);
      report.imported.push(...imports.map(formatSipAddress));
      const updated = new Set(updates.map((row) => row.id));
      report.updated.push(...batch.filter(({ user }) => user && updated.has(user.id)).map(({ extension }) => formatSipAddress({ username: extension.number, domain })));
      advance(batch.length);
    }
    report.missing_on_pbx.push(...missing.map(({ username }) => formatSipAddress({ username, domain })));
    if (!options.prune) {
      advance(missing.length);
      return report;
    }
    if (options.dryRun) {
      report.pruned.push(...report.missing_on_pbx);
      advance(missing.length);
      return report;
    }
    const outcomes = await eachLimited(missing, PRUNE_CONCURRENCY, async (user) => {
      const outcome = await this.reconcileExtension(domain, user.username, { audit: options.audit });
      advance(1);
      return outcome;
    });
    outcomes.forEach((outcome, index) => {
      if (outcome === 'pruned') report.pruned.push(report.missing_on_pbx[index]);
      // Made again on the PBX since it was listed: what it holds now was taken.
      if (outcome === 'updated' || outcome === 'imported') report[outcome].push(report.missing_on_pbx[index]);
    });
    return report;
  }

  /**
   * Reconciles one extension of a local domain as pbx/sync with prune would, holding the
   * extension's claim and asking the PBX for that exact number: an extension without a record is
   * imported, a record whose extension differs takes its name, e-mail and forwards, and a local user
   * whose extension is gone is removed unless hardphones or aliases point at it. An extension in
   * doubt is left to the repair, whose truth is MySQL's record. Changes nothing when both agree.
   */
  async reconcileExtension(domain: string, number: string, context: ExtensionContext = {}): Promise<ExtensionOutcome> {
    const address: SipAddress = { username: number, domain };
    return this.extensions.withClaim(number, (claim) =>
      this.store.change(async (connection) => {
        await claim.fence(connection);
        if (await this.extensions.isInDoubt(connection, number)) throw new NothingToChange<ExtensionOutcome>('in doubt');
        const user = await this.users.lock(connection, address);
        const extension = await this.pbx.find(number);
        const outcome = extension ? await this.keep(connection, address, user, pbxFields(extension)) : await this.drop(connection, user);
        if (outcome !== 'imported' && outcome !== 'updated' && outcome !== 'pruned') throw new NothingToChange(outcome);
        context.changing?.(outcome);
        return outcome;
      }, context.audit),
    );
  }

  /**
   * The extension exists: its record is made, or takes the PBX's fields. Not made when the
   * extension is a local user's in another domain: with several local domains, every user/add_local
   * outside PBX_EVENTS_DOMAIN would otherwise be copied into it by the ExtenAdded it causes.
   */
  private async keep(connection: Connection, address: SipAddress, user: UserRecord | null, fields: PbxFields): Promise<ExtensionOutcome> {
    if (user === null) {
      const elsewhere = await this.users.findLocalByNumber(connection, address.username);
      if (elsewhere !== null) {
        this.logger.warn('sync: extension not imported, it is a local user\'s in another domain', { extension: address.username, domain: address.domain, user: formatSipAddress(elsewhere) });
        return 'taken';
      }
      const owner = (await this.store.addressOwners(address.domain, [address.username], connection)).get(address.username);
      if (owner !== undefined) {
        this.logger.warn('sync: extension not imported, its address is taken', { extension: address.username, domain: address.domain, owner });
        return 'taken';
      }
      await this.store.insertImported(connection, address.domain, [importedUser(address, fields)]);
      return 'imported';
    }
    if (user.kind !== 'local') return 'not local';
    if (sameFields(user, fields)) return 'unchanged';
    await this.store.updateFields(connection, [{ id: user.id, ...fields }]);
    return 'updated';
  }

  /** The extension is gone: its local user goes too, unless hardphones or aliases point at it. */
  private async drop(connection: Connection, user: UserRecord | null): Promise<ExtensionOutcome> {
    if (user === null || user.kind !== 'local') return 'unchanged';
    try {
      await this.users.deleteRow(connection, user);
    } catch (error) {
      if (!isForeignKeyInUse(error)) throw error;
      const address = formatSipAddress(user);
      this.logger.warn('sync: user not pruned', { user: address, cause: 'inuse', detail: `hardphones or aliases point at ${address}; remove them first` });
      return 'in use';
    }
    await this.users.releaseAddress(connection, user);
    return 'pruned';
  }

  /** Imports and refreshes one batch in one transaction (a dry run only reads); answers what it wrote. */
  private async syncBatch(domain: string, batch: readonly Listed[], { dryRun, audit }: SyncOptions): Promise<BatchPlan> {
    const pending = batch.filter(({ user, fields }) => user === undefined || !sameFields(user, fields));
    if (pending.length === 0) return { imports: [], updates: [], taken: [], busy: [] };
    const plan = dryRun
      ? await this.planBatch(domain, pending)
      : await this.store.change(async (connection) => {
          const planned = await this.planBatch(domain, pending, connection);
          if (planned.imports.length === 0 && planned.updates.length === 0) throw new NothingToChange(planned);
          await this.store.insertImported(connection, domain, planned.imports);
          await this.store.updateFields(connection, planned.updates);
          return planned;
        }, audit);
    // Logged once the batch is done (a transaction run again would log twice).
    for (const { number, owner } of plan.taken) this.logger.warn('sync: extension not imported, its address is taken', { extension: number, domain, owner });
    if (plan.busy.length > 0) {
      this.logger.info('sync: extensions left for the next sync: another change of them is under way, or they are in doubt', { domain, extensions: plan.busy });
    }
    return plan;
  }

  /**
   * Decides a batch from MySQL as it is now: in the transaction (`connection`), the addresses to
   * claim and the records to refresh are held until it ends, and a record changed since the list
   * was read is left alone (the change that made it set the PBX too; the next sync looks again).
   */
  private async planBatch(domain: string, pending: readonly Listed[], connection?: Connection): Promise<BatchPlan> {
    const busy = await this.store.busyNumbers(pending.map(({ extension }) => extension.number), connection);
    const free = pending.filter(({ extension }) => !busy.has(extension.number));
    const toImport = free.filter(({ user }) => user === undefined);
    const toRefresh = free.filter((listed): listed is Listed & { user: LocalUser } => listed.user !== undefined);
    const owners = await this.store.addressOwners(domain, toImport.map(({ extension }) => extension.number), connection);
    const current = connection ? await this.store.lockFields(connection, toRefresh.map(({ user }) => user.id)) : null;
    const unchangedSince = (user: LocalUser) => {
      if (current === null) return true;
      const now = current.get(user.id);
      return now !== undefined && now.displayname === user.displayname && now.email === user.email && samePolicyOrBothUnknown(now, user);
    };
    return {
      imports: toImport.filter(({ extension }) => !owners.has(extension.number)).map(({ extension, fields }) => importedUser({ username: extension.number, domain }, fields)),
      updates: toRefresh.filter(({ user }) => unchangedSince(user)).map(({ user, fields }) => ({ id: user.id, ...fields })),
      taken: toImport.flatMap(({ extension }) => {
        const owner = owners.get(extension.number);
        return owner === undefined ? [] : [{ number: extension.number, owner }];
      }),
      busy: [...busy],
    };
  }
}

function samePolicyOrBothUnknown(a: PbxFields, b: PbxFields): boolean {
  return a.forward === null || b.forward === null ? a.forward === b.forward : sameForwardPolicy(a.forward, b.forward);
}

/** Runs `work` on every item, at most `limit` at once; answers the results in the items' order (the first failure, once all ended). */
async function eachLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < items.length && failures.length === 0) {
      const index = next;
      next += 1;
      try {
        results[index] = await work(items[index]);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}
