import type { ChangeScope } from '../../db/change-scope';
import { Failed, Invalid } from '../../outcome';
import type { ForwardName } from '../../pbx/extension';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { DomainStore } from '../domains/domain-store';
import type { ForwardChanges, LocalUserRequest, LocalUserService } from './local-user-service';
import type { Page, PageRequest } from '../paging';
import type { NewUser, RemoteSettings, UserChanges, UserFields, UserListEntry, UserListFilter, UserRecord, UserStore } from './user-store';

export interface RemoteUserRequest extends Partial<Omit<UserFields, 'email' | 'displayname'>> {
  readonly user: SipAddress;
  readonly password: string;
  readonly displayname: string;
  /** Left out: the domain's (domains/add), and one of the two must give it. */
  readonly registrar?: string;
  readonly r_port?: number;
  readonly proxy?: string;
  readonly p_port?: number;
  readonly authid?: string;
}

export type UserUpdate = Partial<UserFields & RemoteSettings>;

const REMOTE_ONLY: readonly (keyof RemoteSettings)[] = ['registrar', 'r_port', 'proxy', 'p_port', 'authid'];

export interface UserServiceDeps {
  readonly users: UserStore;
  readonly domains: DomainStore;
  readonly local: LocalUserService;
}

export class UserService {
  private readonly users: UserStore;
  private readonly domains: DomainStore;
  private readonly local: LocalUserService;

  constructor(deps: UserServiceDeps) {
    this.users = deps.users;
    this.domains = deps.domains;
    this.local = deps.local;
  }

  async get(address: SipAddress): Promise<UserRecord> {
    const user = await this.users.find(address);
    if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
    return user;
  }

  /** `after` is an address in its canonical form (username@domain). */
  list(like: UserListFilter, page: PageRequest<string>): Promise<Page<UserListEntry, string>> {
    return this.users.list(like, page);
  }

  /** Free means: no user and no alias holds the address, and in a local domain no PBX extension has the number. */
  async available(address: SipAddress): Promise<void> {
    const owner = await this.users.addressOwner(address);
    if (owner) throw new Failed('exists', `${formatSipAddress(address)} is taken by ${owner === 'user' ? 'a user' : 'an alias'}`);
    if ((await this.domains.isLocal(address.domain)) && (await this.local.extensionExists(address.username))) {
      throw new Failed('exists', `extension ${address.username} exists on the PBX`);
    }
  }

  addLocal(request: LocalUserRequest, dryRun: boolean, audit?: ChangeScope): Promise<{ user: UserRecord; password: string | null }> {
    return this.local.add(request, dryRun, audit);
  }

  async addRemote(request: RemoteUserRequest, dryRun: boolean, audit?: ChangeScope): Promise<UserRecord> {
    const { user: address } = request;
    const domain = await this.domains.get(address.domain);
    // The request's server settings win, then the domain's defaults (its empty registrar and proxy
    // mean "none"), then the contract's; only the registrar has no default of its own.
    const registrar = request.registrar ?? (domain?.registrar || undefined);
    if (registrar === undefined) {
      throw new Invalid('registrar', `give registrar: neither the request nor the domain ${address.domain} gives one (domains/add and domains/update set a default)`);
    }
    if (domain?.local) {
      throw new Failed('domain', `${address.domain} is a local domain; use user/add_local`);
    }
    const user: NewUser = {
      username: address.username,
      domain: address.domain,
      kind: 'remote',
      displayname: request.displayname,
      email: '',
      dialplan: request.dialplan ?? '',
      linetext: request.linetext ?? '',
      password: request.password,
      remote: {
        registrar,
        r_port: request.r_port ?? domain?.r_port ?? 5060,
        proxy: request.proxy ?? domain?.proxy ?? '',
        p_port: request.p_port ?? domain?.p_port ?? 5060,
        authid: request.authid ?? address.username,
      },
      forward: null,
    };
    if (dryRun) {
      await this.available(address);
      return { ...user, id: 0 };
    }
    return this.users.insert(user, audit);
  }

  async changePassword(address: SipAddress, password: string, audit?: ChangeScope): Promise<void> {
    const user = await this.get(address);
    if (user.kind === 'local') await this.local.changePassword(address, password, audit);
    else await this.users.update(user, { password }, audit);
  }

  async changeEmail(address: SipAddress, email: string, audit?: ChangeScope): Promise<void> {
    const user = await this.get(address);
    if (user.kind === 'remote') throw new Failed('domain', `${formatSipAddress(address)} is a remote user: e-mail is kept for local users only`);
    await this.local.changeEmail(address, email, audit);
  }

  async forward(address: SipAddress, changes: ForwardChanges, audit?: ChangeScope): Promise<Record<ForwardName, string>> {
    const user = await this.get(address);
    if (user.kind === 'remote') throw new Failed('domain', `${formatSipAddress(address)} is a remote user: forwarding is set on the PBX for local users only`);
    return this.local.forward(address, changes, audit);
  }

  async update(address: SipAddress, changes: UserUpdate, audit?: ChangeScope): Promise<UserRecord> {
    if (Object.keys(changes).length === 0) {
      throw new Invalid('parameters', 'give at least one of displayname, email, dialplan, linetext, registrar, r_port, proxy, p_port, authid');
    }
    // Local users live in local domains (add_local and add_remote see to it): such a change goes
    // straight to the local path, whose locking read is the only read of the user.
    const local = await this.domains.isLocal(address.domain);
    const user = local ? null : await this.get(address);
    if (user?.kind === 'remote' && changes.email !== undefined) {
      throw new Failed('domain', `${formatSipAddress(address)} is a remote user: e-mail is kept for local users only`);
    }
    if (user === null || user.kind === 'local') {
      const remoteOnly = REMOTE_ONLY.find((name) => changes[name] !== undefined);
      if (remoteOnly) throw new Failed('domain', `${remoteOnly} applies to remote users only`);
    }
    // The answer is the record as the change left it: a read after a committed change could fail
    // and turn it into an error (CONTRACT section 7).
    if (user === null || user.kind === 'local') return this.local.update(address, changes as UserChanges, audit);
    return this.users.update(user, changes as UserChanges, audit);
  }

  async remove(address: SipAddress, audit?: ChangeScope): Promise<void> {
    const user = await this.get(address);
    if (user.kind === 'local') await this.local.remove(address, audit);
    else await this.users.remove(user, audit);
  }
}
