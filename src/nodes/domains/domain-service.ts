import type { AuditScope } from '../../db/audit-scope';
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

  async add(domain: string, settings: DomainChanges): Promise<DomainRecord> {
    const record: DomainRecord = {
      domain,
      local: settings.local ?? false,
      registrar: settings.registrar ?? '',
      proxy: settings.proxy ?? '',
      r_port: settings.r_port ?? 5060,
      p_port: settings.p_port ?? 5060,
    };
    await this.domains.add(record);
    return record;
  }

  async update(domain: string, changes: DomainChanges): Promise<DomainRecord> {
    const current = await this.domains.get(domain);
    if (!current) throw new Failed('nonexistant', `no domain ${domain}`);
    const record = { ...current, ...changes };
    await this.domains.update(record);
    return record;
  }

  remove(domain: string, audit?: AuditScope): Promise<void> {
    return this.domains.remove(domain, audit);
  }
}
