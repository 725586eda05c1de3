import type { ChangeScope } from '../../db/change-scope';
import { Failed } from '../../outcome';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { Page, PageRequest } from '../paging';
import type { UserStore } from '../user/user-store';
import type { PhoneStore } from './phone-store';

export interface PhoneServiceDeps {
  readonly phones: PhoneStore;
  readonly users: UserStore;
}

export class PhoneService {
  private readonly phones: PhoneStore;
  private readonly users: UserStore;

  constructor(deps: PhoneServiceDeps) {
    this.phones = deps.phones;
    this.users = deps.users;
  }

  usersOf(mac: string): Promise<string[]> {
    return this.phones.usersOf(mac);
  }

  async macsOf(address: SipAddress): Promise<string[]> {
    const user = await this.users.find(address);
    return user ? this.phones.macsOf(user.id) : [];
  }

  /** `after` is a MAC in its canonical form (12 lower-case hex digits). */
  list(like: string | null, page: PageRequest<string>): Promise<Page<string, string>> {
    return this.phones.list(like, page);
  }

  async add(mac: string, address: SipAddress, dryRun: boolean, audit?: ChangeScope): Promise<void> {
    const user = await this.users.find(address);
    const formatted = formatSipAddress(address);
    if (!user) throw new Failed('nonexistant', `no user ${formatted}`);
    if (dryRun) {
      if (await this.phones.exists(mac, user.id)) throw new Failed('exists', `${mac} is associated with ${formatted} already`);
      return;
    }
    await this.phones.add(mac, user.id, formatted, audit);
  }

  async remove(mac: string, address: SipAddress, audit?: ChangeScope): Promise<void> {
    const user = await this.users.find(address);
    const formatted = formatSipAddress(address);
    if (!user) throw new Failed('nonexistant', `${mac} is not associated with ${formatted}`);
    await this.phones.remove(mac, user.id, formatted, audit);
  }
}
