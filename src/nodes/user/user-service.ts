import { Failed, GatewayError, Invalid } from '../../outcome';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { DomainStore } from '../domains/domain-store';
import type { NewUser, RemoteSettings, UserChanges, UserFields, UserRecord, UserStore } from './user-store';

export interface RemoteUserRequest extends Partial<Omit<UserFields, 'email' | 'displayname'>> {
  readonly user: SipAddress;
  readonly password: string;
  readonly displayname: string;
  readonly registrar: string;
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
}

export class UserService {
  private readonly users: UserStore;
  private readonly domains: DomainStore;

  constructor(deps: UserServiceDeps) {
    this.users = deps.users;
    this.domains = deps.domains;
  }

  async get(address: SipAddress): Promise<UserRecord> {
    const user = await this.users.find(address);
    if (!user) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
    return user;
  }

  list(like: string | null): Promise<{ user: string; displayname: string }[]> {
    return this.users.list(like);
  }

  /** Free means: no user and no alias holds the address. */
  async available(address: SipAddress): Promise<void> {
    const owner = await this.users.addressOwner(address);
    if (owner) throw new Failed('exists', `${formatSipAddress(address)} is taken by ${owner === 'user' ? 'a user' : 'an alias'}`);
  }

  async addRemote(request: RemoteUserRequest, dryRun: boolean): Promise<UserRecord> {
    const { user: address } = request;
    if (await this.domains.isLocal(address.domain)) {
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
        registrar: request.registrar,
        r_port: request.r_port ?? 5060,
        proxy: request.proxy ?? '',
        p_port: request.p_port ?? 5060,
        authid: request.authid ?? address.username,
      },
    };
    if (dryRun) {
      await this.available(address);
      return { ...user, id: 0 };
    }
    return this.users.insert(user);
  }

  async changePassword(address: SipAddress, password: string): Promise<void> {
    const user = await this.get(address);
    this.requireRemote(user);
    await this.users.update(user.id, { password });
  }

  async update(address: SipAddress, changes: UserUpdate): Promise<UserRecord> {
    if (Object.keys(changes).length === 0) {
      throw new Invalid('parameters', 'give at least one of displayname, email, dialplan, linetext, registrar, r_port, proxy, p_port, authid');
    }
    const user = await this.get(address);
    if (user.kind === 'remote' && changes.email !== undefined) {
      throw new Failed('domain', `${formatSipAddress(address)} is a remote user: e-mail is kept for local users only`);
    }
    if (user.kind === 'local') {
      const remoteOnly = REMOTE_ONLY.find((name) => changes[name] !== undefined);
      if (remoteOnly) throw new Failed('domain', `${remoteOnly} applies to remote users only`);
    }
    this.requireRemote(user);
    await this.users.update(user.id, changes as UserChanges);
    return (await this.users.find(address)) ?? user;
  }

  async remove(address: SipAddress): Promise<void> {
    const user = await this.get(address);
    this.requireRemote(user);
    await this.users.remove(user);
  }

  // Local users live on the PBX too; their changes go through the PBX client (the next issue).
  private requireRemote(user: UserRecord): void {
    if (user.kind === 'local') {
      throw new GatewayError('pbx', 'changes to local users need the PBX client, which this build does not have yet');
    }
  }
}
