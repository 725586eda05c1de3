import type { AuditScope } from '../../db/audit-scope';
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
import type { NewUser, UserChanges, UserRecord, UserStore } from './user-store';

export interface LocalUserRequest {
  readonly user: SipAddress;
  readonly displayname: string;
  readonly email?: string;
}

export type ForwardChanges = Partial<Record<ForwardName, string>>;

export interface LocalUserServiceDeps {
  readonly users: UserStore;
  readonly domains: DomainStore;
  readonly pbx: PbxClient;
  readonly extensionDefaults: ExtensionSettings;
  readonly logger: Logger;
}

const EXTENSION_NUMBER = /^[0-9]{2,15}$/;

/** The MySQL named lock that adds and removes of one extension number take, across gateways. */
function extensionLock(number: string): string {
  return `pbx-gateway:extension:${number}`;
}

/**
 * Local users live in two stores with no shared transaction: the PBX (the extension) and MySQL
 * (the provisioning record). Every change follows one pattern (CONTRACT section 7):
 * lock or claim the MySQL row, write the PBX, write MySQL, commit. A PBX refusal rolls MySQL back;
 * a lost PBX answer is settled by asking the PBX before answering; a MySQL failure after the PBX
 * said yes is undone on the PBX.
 */
export class LocalUserService {
  private readonly users: UserStore;
  private readonly domains: DomainStore;
  private readonly pbx: PbxClient;
  private readonly extensionDefaults: ExtensionSettings;
  private readonly logger: Logger;

  constructor(deps: LocalUserServiceDeps) {
    this.users = deps.users;
    this.domains = deps.domains;
    this.pbx = deps.pbx;
    this.extensionDefaults = deps.extensionDefaults;
    this.logger = deps.logger;
  }

  /** Whether an extension with this number exists on the PBX. */
  async extensionExists(number: string): Promise<boolean> {
    return (await this.pbx.find(number)) !== null;
  }

  async add(request: LocalUserRequest, dryRun: boolean, audit?: AuditScope): Promise<{ user: UserRecord; password: string | null }> {
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
    };
    let onPbx = false;
    try {
      // One extension number may be asked for in several local domains, from several gateways:
      // the checks and the add hold the number's lock, so a lost answer is never settled by
      // another request's extension.
      return await this.users.inTransaction(
        address,
        async (connection) => {
          const owner = await this.users.addressOwner(address, connection);
          if (owner) throw new Failed('exists', `${formatted} is taken by ${owner === 'user' ? 'a user' : 'an alias'}`);
          if (await this.extensionExists(address.username)) throw new Failed('exists', `extension ${address.username} exists on the PBX`);
          if (dryRun) return { user: { ...record, id: 0 }, password: null };
          // The claim holds the address in this domain until the transaction ends.
          await this.users.claim(connection, address);
          const password = generatePassword();
          await this.addOnPbx({
            ...this.extensionDefaults,
            name: request.displayname,
            number: address.username,
            cid_number: address.username,
            secret: password,
            email: request.email ?? '',
            forward_policy: emptyForwardPolicy(),
          });
          onPbx = true;
          return { user: await this.users.insertRow(connection, { ...record, password }), password };
        },
        { lockName: extensionLock(address.username), audit },
      );
    } catch (error) {
      if (onPbx) {
        await this.undo(address.username, 'remove the extension added', async () => {
          const added = await this.pbx.find(address.username);
          if (added?._id) await this.pbx.remove(added._id);
        });
      }
      throw error;
    }
  }

  async changePassword(address: SipAddress, password: string, audit?: AuditScope): Promise<void> {
    await this.change(address, { password }, (extension) => ({ ...extension, secret: password }), audit);
  }

  async changeEmail(address: SipAddress, email: string, audit?: AuditScope): Promise<void> {
    await this.change(address, { email }, (extension) => ({ ...extension, email }), audit);
  }

  /** Fields the PBX also keeps (name, email) go to both; dialplan and linetext are provisioning-only. */
  async update(address: SipAddress, changes: UserChanges, audit?: AuditScope): Promise<void> {
    await this.change(
      address,
      changes,
      (extension) => ({
        ...extension,
        ...(changes.displayname !== undefined ? { name: changes.displayname } : {}),
        ...(changes.email !== undefined ? { email: changes.email } : {}),
      }),
      audit,
    );
  }

  /** Reads the forward policy, or sets the given targets and keeps the others. */
  async forward(address: SipAddress, changes: ForwardChanges, audit?: AuditScope): Promise<Record<ForwardName, string>> {
    const names = Object.keys(changes) as ForwardName[];
    if (names.length === 0) {
      const user = await this.users.find(address);
      if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
      return forwardView((await this.requireExtension(user)).forward_policy);
    }
    const written = await this.change(
      address,
      {},
      (extension) => {
        const policy = { ...emptyForwardPolicy(), ...extension.forward_policy };
        for (const name of names) policy[FORWARD_KEYS[name]] = changes[name] ?? '';
        return { ...extension, forward_policy: policy };
      },
      audit,
    );
    return forwardView(written.forward_policy);
  }

  async remove(address: SipAddress, audit?: AuditScope): Promise<void> {
    let removed: Extension | null = null;
    let held: string | null = null;
    try {
      await this.users.inTransaction(address, async (connection) => {
        const user = await this.users.lock(connection, address);
        if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
        held = user.password;
        // The foreign keys refuse this (inuse) before the PBX is touched.
        await this.users.deleteRow(connection, user);
        const extension = await this.pbx.find(user.username);
        if (extension?._id) {
          await this.removeOnPbx(extension);
          removed = extension;
        }
        await this.users.releaseAddress(connection, address);
      }, { lockName: extensionLock(address.username), audit });
    } catch (error) {
      const extension = removed as Extension | null;
      if (extension) {
        await this.undo(address.username, 'add the removed extension back', () => this.pbx.add(this.withHeldSecret(extension, held)));
      }
      throw error;
    }
  }

  /**
   * The read-modify-write of CONTRACT section 6: one users/search, one users/update of the whole
   * object, with the secret the gateway holds (never the mask).
   */
  private async change(address: SipAddress, changes: UserChanges, edit: (extension: Extension) => Extension, audit?: AuditScope): Promise<Extension> {
    let original: Extension | null = null;
    try {
      return await this.users.inTransaction(address, async (connection) => {
        const user = await this.users.lock(connection, address);
        if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
        const current = this.withHeldSecret(await this.requireExtension(user), user.password);
        const intended = edit(current);
        await this.updateOnPbx(intended, current);
        original = current;
        await this.users.updateRow(connection, user.id, changes);
        return intended;
      }, { audit });
    } catch (error) {
      const written = original as Extension | null;
      if (written) await this.undo(address.username, 'restore the extension', () => this.pbx.update(written));
      throw error;
    }
  }

  private async requireExtension(user: UserRecord): Promise<Extension> {
    const extension = await this.pbx.find(user.username);
    if (!extension?._id) {
      throw new Failed('pbx', `extension ${user.username} is not on the PBX; pbx/sync lists such users`);
    }
    return extension;
  }

  /** The masked secret must never go back: send the held password, or no secret at all. */
  private withHeldSecret(extension: Extension, password: string | null): Extension {
    const { secret: _masked, ...rest } = extension;
    return password === null ? rest : { ...rest, secret: password };
  }

  private async addOnPbx(extension: Extension): Promise<void> {
    try {
      await this.pbx.add(extension);
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      // The answer was lost or the PBX failed: did the extension get made?
      const found = await this.findAfterLostAnswer(extension.number).catch(() => {
        this.inDoubt(extension.number, 'users/add');
        return null;
      });
      if (found) return;
      throw error;
    }
  }

  private async removeOnPbx(extension: Extension): Promise<void> {
    try {
      await this.pbx.remove(extension._id as string);
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      // The answer was lost or the PBX failed: is the extension gone?
      const stillThere = await this.findAfterLostAnswer(extension.number).then(
        (found) => found !== null,
        () => {
          this.inDoubt(extension.number, 'users/remove');
          return true;
        },
      );
      if (stillThere) throw error;
    }
  }

  /**
   * Asks the PBX for the extension after a lost answer, once more when that question fails too:
   * the answer decides whether the change happened, so a single failed search must not decide it.
   */
  private async findAfterLostAnswer(number: string): Promise<Extension | null> {
    try {
      return await this.pbx.find(number);
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      return this.pbx.find(number);
    }
  }

  /**
   * An update is idempotent (the whole object), so a lost answer is settled by sending it once
   * more; when that fails too, the original is put back and the error stands.
   */
  private async updateOnPbx(intended: Extension, original: Extension): Promise<void> {
    try {
      await this.pbx.update(intended);
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      try {
        await this.pbx.update(intended);
      } catch {
        await this.undo(intended.number, 'restore the extension after a failed update', () => this.pbx.update(original));
        throw error;
      }
    }
  }

  /**
   * The PBX's answer was lost and the PBX cannot be asked: the change may or may not have been
   * applied there, while MySQL is left without it. Only an operator (pbx/sync) can settle it.
   */
  private inDoubt(number: string, call: string): void {
    this.logger.error('the PBX may have applied a change whose answer was lost and it cannot be asked now: PBX and MySQL may disagree; pbx/sync reconciles', {
      extension: number,
      call,
    });
  }

  private async undo(number: string, what: string, action: () => Promise<void>): Promise<void> {
    try {
      await action();
      this.logger.warn('undid a PBX change after a failure', { extension: number, action: what });
    } catch (error) {
      // Both stores may now disagree for this extension; pbx/sync reconciles it.
      this.logger.error('could not undo a PBX change: PBX and MySQL may disagree', {
        extension: number,
        action: what,
        error: (error as Error).message,
      });
    }
  }
}
