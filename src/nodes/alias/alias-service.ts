import type { ChangeScope } from '../../db/change-scope';
import { Failed } from '../../outcome';
import { parseE164 } from '../../values/e164';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { DomainStore } from '../domains/domain-store';
import type { Page, PageRequest } from '../paging';
import type { UserStore } from '../user/user-store';
import type { AliasEntry, AliasFilter, AliasStore } from './alias-store';

export interface AliasServiceDeps {
  readonly aliases: AliasStore;
  readonly users: UserStore;
  readonly domains: DomainStore;
}

export class AliasService {
  private readonly aliases: AliasStore;
  private readonly users: UserStore;
  private readonly domains: DomainStore;

  constructor(deps: AliasServiceDeps) {
    this.aliases = deps.aliases;
    this.users = deps.users;
    this.domains = deps.domains;
  }

  /** The page's `next` is the last alias address on it, as the answer writes it. */
  list(filter: AliasFilter, page: PageRequest<SipAddress>): Promise<Page<AliasEntry, string>> {
    return this.aliases.list(filter, page);
  }

  /**
   * The seed's refusal rules, in order: the alias domain must be local; a destination in a local
   * domain must be a user; the alias address must be free; one E.164 alias per destination.
   * The checks give the precise cause; the schema's unique keys settle any race after them.
   */
  async add(alias: SipAddress, destination: SipAddress, dryRun: boolean, audit?: ChangeScope): Promise<void> {
    if (!(await this.domains.isLocal(alias.domain))) throw new Failed('nxdomain', `${alias.domain} is not a local domain`);
    const destinationUser = await this.users.find(destination);
    if (!destinationUser && (await this.domains.isLocal(destination.domain))) {
      throw new Failed('nonexistant', `no user ${formatSipAddress(destination)}`);
    }
    const owner = await this.users.addressOwner(alias);
    if (owner) throw new Failed('exists', `${formatSipAddress(alias)} is taken by ${owner === 'user' ? 'a user' : 'an alias'}`);
    const e164 = parseE164(alias.username) !== null;
    if (e164 && (await this.aliases.hasE164Alias(destination))) {
      throw new Failed('exists', `${formatSipAddress(destination)} has an E.164 alias already`);
    }
    if (dryRun) return;
    await this.aliases.add(alias, destination, destinationUser?.id ?? null, e164, audit);
  }

  remove(alias: SipAddress, audit?: ChangeScope): Promise<void> {
    return this.aliases.remove(alias, audit);
  }
}
