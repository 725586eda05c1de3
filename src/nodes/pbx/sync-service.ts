import type { ChangeScope } from '../../db/change-scope';
import type { Logger } from '../../logger';
import { Failed, GatewayError } from '../../outcome';
import { emptyForwardPolicy, sameForwardPolicy, type Extension } from '../../pbx/extension';
import type { PbxClient } from '../../pbx/pbx-client';
import type { DomainStore } from '../domains/domain-store';
import type { UserRecord, UserStore } from '../user/user-store';

export interface SyncOptions {
  readonly dryRun: boolean;
  readonly prune: boolean;
  /** Called after each extension and each missing user is handled (the CLI's progress bar). */
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

const EXTENSION_NUMBER = /^[0-9]{2,15}$/;

export interface SyncServiceDeps {
  readonly users: UserStore;
  readonly domains: DomainStore;
  readonly pbx: PbxClient;
  readonly logger: Logger;
}

/**
 * Reconciles a local domain with the PBX (pbx/sync, npm run sync): extensions without a
 * provisioning record are imported, records whose extension is gone are listed (and removed with
 * prune). The PBX is only read. Running it twice changes nothing the second time.
 */
export class SyncService {
  private readonly users: UserStore;
  private readonly domains: DomainStore;
  private readonly pbx: PbxClient;
  private readonly logger: Logger;

  constructor(deps: SyncServiceDeps) {
    this.users = deps.users;
    this.domains = deps.domains;
    this.pbx = deps.pbx;
    this.logger = deps.logger;
  }

  async sync(domain: string, options: SyncOptions): Promise<SyncReport> {
    if (!(await this.domains.isLocal(domain))) throw new Failed('domain', `${domain} is not a local domain`);
    const listed: unknown = await this.pbx.list();
    // Read as "no extensions", anything but a list would have prune remove every local user.
    if (!Array.isArray(listed)) throw new GatewayError('pbx', 'the PBX answered a list that is not a list');
    const extensions = (listed as Extension[]).filter((extension) => EXTENSION_NUMBER.test(extension.number));
    const onPbx = new Set(extensions.map((extension) => extension.number));
    const local = await this.users.listLocal(domain);
    const byNumber = new Map(local.map((user) => [user.username, user]));
    const missing = local.filter((user) => !onPbx.has(user.username));
    const total = extensions.length + missing.length;
    const report: SyncReport = { imported: [], updated: [], missing_on_pbx: [], pruned: [] };
    let done = 0;
    const step = () => options.progress?.(++done, total);

    for (const extension of extensions) {
      const address = `${extension.number}@${domain}`;
      const user = byNumber.get(extension.number);
      if (!user) {
        if (await this.importExtension(extension, domain, options)) report.imported.push(address);
      } else if (await this.refresh(user, extension, options)) {
        report.updated.push(address);
      }
      step();
    }
    for (const user of missing) {
      const address = `${user.username}@${domain}`;
      report.missing_on_pbx.push(address);
      if (options.prune && (await this.prune(user, options))) report.pruned.push(address);
      step();
    }
    return report;
  }

  /** A new local user with what the PBX knows; the password is unknown, so updates leave `secret` out. */
  private async importExtension(extension: Extension, domain: string, { dryRun, audit }: SyncOptions): Promise<boolean> {
    const address = { username: extension.number, domain };
    const owner = await this.users.addressOwner(address);
    if (owner) {
      this.logger.warn('sync: extension not imported, its address is taken', { extension: extension.number, domain, owner });
      return false;
    }
    if (dryRun) return true;
    await this.users.insert({
      ...address,
      kind: 'local',
      displayname: (extension.name ?? '').slice(0, 128),
      email: (extension.email ?? '').slice(0, 254),
      dialplan: '',
      linetext: '',
      password: null,
      remote: null,
      forward: { ...emptyForwardPolicy(), ...extension.forward_policy },
    }, audit);
    return true;
  }

  /**
   * Takes the PBX's name, e-mail and call forwards where they differ: changes made on the PBX by
   * hand (MySQL's record is what repairs restore, so it must learn them).
   */
  private async refresh(user: UserRecord, extension: Extension, { dryRun, audit }: SyncOptions): Promise<boolean> {
    const displayname = (extension.name ?? '').slice(0, 128);
    const email = (extension.email ?? '').slice(0, 254);
    const forward = { ...emptyForwardPolicy(), ...extension.forward_policy };
    if (user.displayname === displayname && user.email === email && user.forward !== null && sameForwardPolicy(user.forward, forward)) return false;
    if (!dryRun) await this.users.update(user, { displayname, email, forward }, audit);
    return true;
  }

  private async prune(user: UserRecord, { dryRun, audit }: SyncOptions): Promise<boolean> {
    if (dryRun) return true;
    try {
      await this.users.remove(user, audit);
      return true;
    } catch (error) {
      if (error instanceof Failed) {
        this.logger.warn('sync: user not pruned', { user: `${user.username}@${user.domain}`, cause: error.cause, detail: error.detail });
        return false;
      }
      throw error;
    }
  }
}
