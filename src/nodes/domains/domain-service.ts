import type { ChangeScope } from '../../db/change-scope';
import { Failed } from '../../outcome';
import type { DomainRecord, DomainStore } from './domain-store';

export type DomainChanges = Partial<Omit<DomainRecord, 'domain'>>;

export class DomainService {
  private readonly domains: DomainStore;

  constructor(deps: { readonly domains: DomainStore }) {
    this.domains = deps.domains;
  }

  list(): Promise<DomainRecord[]> {
    return this.domains.list();
  }

  async add(domain: string, settings: DomainChanges, audit?: ChangeScope): Promise<DomainRecord> {
    const record: DomainRecord = {
      domain,
      local: settings.local ?? false,
      registrar: settings.registrar ?? '',
      proxy: settings.proxy ?? '',
      r_port: settings.r_port ?? 5060,
      p_port: settings.p_port ?? 5060,
    };
    await this.domains.add(record, audit);
    return record;
  }

  async update(domain: string, changes: DomainChanges, audit?: ChangeScope): Promise<DomainRecord> {
    const current = await this.domains.get(domain);
    if (!current) throw new Failed('nonexistant', `no domain ${domain}`);
    const record = { ...current, ...changes };
    await this.domains.update(record, audit);
    return record;
  }

  remove(domain: string, audit?: ChangeScope): Promise<void> {
    return this.domains.remove(domain, audit);
  }
}
