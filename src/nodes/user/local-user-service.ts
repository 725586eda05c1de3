import type { ChangeScope } from '../../db/change-scope';
import type { Logger } from '../../logger';
import { Failed, GatewayError, Invalid } from '../../outcome';
import {
  emptyForwardPolicy,
  FORWARD_KEYS,
  forwardView,
  type Extension,
  type ExtensionSettings,
  type ForwardName,
} from '../../pbx/extension';
import type { PbxClient } from '../../pbx/pbx-client';
import { generatePassword } from '../../values/password';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { DomainStore } from '../domains/domain-store';
import { CommitUnknown, DeadlinePassed } from '../../db/transaction';
import type { ExtensionClaim, ExtensionStore } from './extension-store';
import { withRecord, type ExtensionReconciler } from './extension-reconciler';
import type { DoubtRecorder } from './extension-repairer';
import { withChanges, type NewUser, type UserChanges, type UserRecord, type UserStore } from './user-store';

export interface LocalUserRequest {
  readonly user: SipAddress;
  readonly displayname: string;
  readonly email?: string;
}

export type ForwardChanges = Partial<Record<ForwardName, string>>;

export interface LocalUserServiceDeps {
  readonly users: UserStore;
  readonly domains: DomainStore;
  readonly extensions: ExtensionStore;
  readonly reconciler: ExtensionReconciler;
  readonly doubts: DoubtRecorder;
  readonly pbx: PbxClient;
  readonly extensionDefaults: ExtensionSettings;
  readonly logger: Logger;
}

const EXTENSION_NUMBER = /^[0-9]{2,15}$/;

/** Whether a PBX write of this request may have been applied (what a failure must settle). */
interface PbxWrite {
  touched: boolean;
}

/**
 * Local users live in two stores with no shared transaction: the PBX (the extension) and MySQL
 * (the provisioning record, which also keeps what the gateway last set on the PBX: password and
 * call forwards). Every change follows one pattern (CONTRACT sections 7 and 11): take the
 * extension's claim (a committed row, held across gateways and Galera nodes) and the user's row
 * lock, write the PBX once, write MySQL with the audit record, commit; a transaction refused for
 * a conflict (1213) runs its MySQL part again, never the PBX call. A PBX refusal rolls MySQL back;
 * a lost PBX answer is settled by asking the PBX; a lost COMMIT answer is settled by
 * withTransaction. When the change did not commit after the PBX may have taken it, the request
 * does not undo with what it read in its transaction: the extension is settled afresh, still under
 * the claim, from what MySQL now holds (ExtensionReconciler), and when even that fails it is in
 * doubt, repaired by ExtensionRepairer.
 */
export class LocalUserService {
  private readonly users: UserStore;
  private readonly domains: DomainStore;
  private readonly extensions: ExtensionStore;
  private readonly reconciler: ExtensionReconciler;
  private readonly doubts: DoubtRecorder;
  private readonly pbx: PbxClient;
  private readonly extensionDefaults: ExtensionSettings;
  private readonly logger: Logger;

  constructor(deps: LocalUserServiceDeps) {
    this.users = deps.users;
    this.domains = deps.domains;
    this.extensions = deps.extensions;
    this.reconciler = deps.reconciler;
    this.doubts = deps.doubts;
    this.pbx = deps.pbx;
    this.extensionDefaults = deps.extensionDefaults;
    this.logger = deps.logger;
  }

  /** Whether an extension with this number exists on the PBX. */
  async extensionExists(number: string): Promise<boolean> {
    return (await this.pbx.find(number)) !== null;
  }

  async add(request: LocalUserRequest, dryRun: boolean, audit?: ChangeScope): Promise<{ user: UserRecord; password: string | null }> {
    const { user: address } = request;
    const formatted = formatSipAddress(address);
    if (!EXTENSION_NUMBER.test(address.username)) {
      throw new Invalid('user', 'a local username is the PBX extension number: 2–15 digits');
    }
    if (!(await this.domains.isLocal(address.domain))) throw new Failed('domain', `${address.domain} is not a local domain`);
    const record: NewUser = {
      username: address.username,
      domain: address.domain,
      kind: 'local',
      displayname: request.displayname,
      email: request.email ?? '',
      dialplan: '',
      linetext: '',
      password: null,
      remote: null,
      forward: emptyForwardPolicy(),
    };
    const write: PbxWrite = { touched: false };
    // A dry run only reads: no extension row is made for it, no lock taken (it changes nothing anywhere).
    if (dryRun) {
      const owner = await this.users.addressOwner(address);
      if (owner) throw new Failed('exists', `${formatted} is taken by ${owner === 'user' ? 'a user' : 'an alias'}`);
      if (await this.extensionExists(address.username)) throw new Failed('exists', `extension ${address.username} exists on the PBX`);
      return { user: { ...record, id: 0 }, password: null };
    }
    // One extension number may be asked for in several local domains, from several gateways: the
    // checks and the add hold the extension's claim, so a lost answer is never settled by another
    // request's extension. The PBX is written once; a transaction refused for a conflict runs its
    // MySQL part again (the PBX already holds the extension, and no one else may touch it).
    return this.extensions.withClaim(address.username, async (claim) => {
      let sent: { password: string } | undefined;
      try {
        return await this.users.inTransaction(
          address,
          async (connection) => {
            await claim.fence(connection);
            const owner = await this.users.addressOwner(address, connection);
            if (owner) throw new Failed('exists', `${formatted} is taken by ${owner === 'user' ? 'a user' : 'an alias'}`);
            if (sent === undefined) {
              if (await this.extensionExists(address.username)) throw new Failed('exists', `extension ${address.username} exists on the PBX`);
              const password = generatePassword();
              stopAtDeadline(audit);
              await this.addOnPbx(
                {
                  ...this.extensionDefaults,
                  name: request.displayname,
                  number: address.username,
                  cid_number: address.username,
                  secret: password,
                  email: request.email ?? '',
                  forward_policy: emptyForwardPolicy(),
                },
                write,
              );
              sent = { password };
            }
            // The claim holds the address in this domain until the transaction ends.
            await this.users.claim(connection, address);
            return { user: await this.users.insertRow(connection, { ...record, password: sent.password }), password: sent.password };
          },
          { audit },
        );
      } catch (error) {
        throw await this.afterFailure(claim, write, error);
      }
    }, audit?.signal);
  }

  async changePassword(address: SipAddress, password: string, audit?: ChangeScope): Promise<void> {
    await this.change(address, { password }, (extension) => ({ ...extension, secret: password }), audit);
  }

  async changeEmail(address: SipAddress, email: string, audit?: ChangeScope): Promise<void> {
    await this.change(address, { email }, (extension) => ({ ...extension, email }), audit);
  }

  /**
   * Fields the PBX also keeps (name, email) go to both; dialplan and linetext are provisioning-only,
   * so a change of those alone stays in MySQL (no users/update with nothing new for the PBX).
   */
  async update(address: SipAddress, changes: UserChanges, audit?: ChangeScope): Promise<UserRecord> {
    if (changes.displayname === undefined && changes.email === undefined) return this.users.update(address, changes, audit);
    const { user } = await this.change(
      address,
      changes,
      (extension) => ({
        ...extension,
        ...(changes.displayname !== undefined ? { name: changes.displayname } : {}),
        ...(changes.email !== undefined ? { email: changes.email } : {}),
      }),
      audit,
    );
    return user;
  }

  /** Reads the forward policy, or sets the given targets and keeps the others. */
  async forward(address: SipAddress, changes: ForwardChanges, audit?: ChangeScope): Promise<Record<ForwardName, string>> {
    const names = Object.keys(changes) as ForwardName[];
    if (names.length === 0) {
      const user = await this.users.find(address);
      if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
      return forwardView((await this.requireExtension(user)).forward_policy);
    }
    const { extension } = await this.change(
      address,
      {},
      (current) => {
        const policy = { ...emptyForwardPolicy(), ...current.forward_policy };
        for (const name of names) policy[FORWARD_KEYS[name]] = changes[name] ?? '';
        return { ...current, forward_policy: policy };
      },
      audit,
    );
    return forwardView(extension.forward_policy);
  }

  async remove(address: SipAddress, audit?: ChangeScope): Promise<void> {
    const write: PbxWrite = { touched: false };
    let removed: Extension | undefined;
    await this.extensions.withClaim(address.username, async (claim) => {
      let sent = false;
      try {
        await this.users.inTransaction(
          address,
          async (connection) => {
            await claim.fence(connection);
            const user = await this.users.lock(connection, address);
            if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
            // The foreign keys refuse this (inuse) before the PBX is touched.
            await this.users.deleteRow(connection, user);
            if (!sent) {
              const extension = await this.pbx.find(user.username);
              if (extension?._id) {
                stopAtDeadline(audit);
                removed = extension;
                await this.removeOnPbx(extension, write);
              }
              sent = true;
            }
            await this.users.releaseAddress(connection, address);
          },
          { audit },
        );
      } catch (error) {
        // A failed removal has not touched the secret: the extension is made again with the held one.
        throw await this.afterFailure(claim, write, error, { template: removed, secretMayDiffer: false });
      }
    }, audit?.signal);
  }

  /**
   * The read-modify-write of CONTRACT section 6: one users/search, one users/update of the whole
   * object. The object sent is MySQL's record over the PBX's settings (withRecord) with the change
   * applied, so a change never carries along what another request left on the PBX uncommitted.
   */
  private async change(
    address: SipAddress,
    changes: UserChanges,
    edit: (extension: Extension) => Extension,
    audit?: ChangeScope,
  ): Promise<{ user: UserRecord; extension: Extension }> {
    const write: PbxWrite = { touched: false };
    return this.extensions.withClaim(address.username, async (claim) => {
      // Sent once: a transaction refused for a conflict runs its MySQL part again with it.
      let intended: Extension | undefined;
      try {
        return await this.users.inTransaction(
          address,
          async (connection) => {
            await claim.fence(connection);
            const user = await this.users.lock(connection, address);
            if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
            if (intended === undefined) {
              const next = edit(withRecord(await this.requireExtension(user), user));
              stopAtDeadline(audit);
              await this.updateOnPbx(next, write);
              intended = next;
            }
            // MySQL keeps what was set on the PBX, the forwards included, so its record is the whole truth.
            const recorded: UserChanges = { ...changes, forward: intended.forward_policy };
            await this.users.updateRow(connection, user, recorded);
            return { user: withChanges(user, recorded), extension: intended };
          },
          { audit },
        );
      } catch (error) {
        throw await this.afterFailure(claim, write, error, { secretMayDiffer: changes.password !== undefined });
      }
    }, audit?.signal);
  }

  /**
   * After a change failed or did not commit: when the PBX may hold it, the extension is settled
   * afresh from MySQL; when MySQL cannot be asked (outcome unknown) or the settling fails, the
   * extension is in doubt. Returns the error to answer.
   */
  private async afterFailure(claim: ExtensionClaim, write: PbxWrite, error: unknown, settle: { template?: Extension; secretMayDiffer?: boolean } = {}): Promise<unknown> {
    if (!write.touched) return error;
    const { number } = claim;
    if (error instanceof CommitUnknown) {
      await this.doubts.markInDoubt(number, 'commit outcome unknown');
      return error;
    }
    try {
      const done = await this.reconciler.reconcile(number, { ...settle, claim });
      this.logger.warn('undid a PBX change that did not commit: the extension holds what MySQL holds', {
        extension: number,
        action: done,
        error: (error as Error).message,
      });
    } catch (settling) {
      await this.doubts.markInDoubt(number, `settling failed: ${(settling as Error).message}`);
    }
    return error;
  }

  private async requireExtension(user: UserRecord): Promise<Extension> {
    const extension = await this.pbx.find(user.username);
    if (!extension?._id) {
      throw new Failed('pbx', `extension ${user.username} is not on the PBX; pbx/sync lists such users`);
    }
    return extension;
  }

  /**
   * Sends one PBX write. A refusal applied nothing (`touched` is cleared, the refusal thrown); a
   * lost answer (timeout, reset, 5xx) is returned for the caller to settle; null: it was done.
   */
  private async send(write: PbxWrite, call: () => Promise<void>): Promise<GatewayError | null> {
    write.touched = true;
    try {
      await call();
      return null;
    } catch (error) {
      if (error instanceof Failed) write.touched = false;
      if (!(error instanceof GatewayError)) throw error;
      return error;
    }
  }

  /** A lost answer is settled by asking whether the extension got made. */
  private async addOnPbx(extension: Extension, write: PbxWrite): Promise<void> {
    const lost = await this.send(write, () => this.pbx.add(extension));
    if (lost && (await this.findAfterLostAnswer(extension.number)) === null) throw lost;
  }

  /** A lost answer is settled by asking whether the extension is gone. */
  private async removeOnPbx(extension: Extension, write: PbxWrite): Promise<void> {
    const lost = await this.send(write, () => this.pbx.remove(extension._id as string));
    if (lost && (await this.findAfterLostAnswer(extension.number)) !== null) throw lost;
  }

  /**
   * Asks the PBX for the extension after a lost answer, once more when that question fails too
   * (refused or lost alike): the answer decides whether the change happened, so a single failed
   * search must not decide it.
   */
  private async findAfterLostAnswer(number: string): Promise<Extension | null> {
    try {
      return await this.pbx.find(number);
    } catch {
      return this.pbx.find(number);
    }
  }

  /**
   * An update is idempotent (the whole object), so a lost answer is settled by sending it once more.
   * When the re-send fails too, even by a refusal, the first may have been applied: the lost
   * answer's error stands (the caller settles the extension).
   */
  private async updateOnPbx(intended: Extension, write: PbxWrite): Promise<void> {
    const lost = await this.send(write, () => this.pbx.update(intended));
    if (lost) {
      await this.pbx.update(intended).catch(() => {
        throw lost;
      });
    }
  }
}

/** A change past its deadline stops before it writes the PBX (nothing is done yet). */
function stopAtDeadline(scope: ChangeScope | undefined): void {
  if (scope?.signal?.aborted) throw new DeadlinePassed();
}
