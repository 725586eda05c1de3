import type { ChangeScope } from '../../db/change-scope';
import { Failed, Invalid } from '../../outcome';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { PermissionNames, PermissionStore } from './permission-store';

/** user/change_permissions: `grant` and/or `revoke`, or `set` alone (each a list of names, parsed at the edge). */
export interface PermissionChange {
  readonly grant?: readonly string[];
  readonly revoke?: readonly string[];
  readonly set?: readonly string[];
}

export interface PermissionServiceDeps {
  readonly permissions: PermissionStore;
  /** PERMISSIONS: the names a user may be granted. */
  readonly names: readonly string[];
}

/** The held names as `change` leaves them, sorted (a grant of a name held, or a revoke of one not held, changes nothing). */
export function applyChange(held: PermissionNames, change: PermissionChange): string[] {
  const revoked = new Set(change.revoke ?? []);
  const names = change.set ?? [...held, ...(change.grant ?? [])].filter((name) => !revoked.has(name));
  return [...new Set(names)].sort();
}

/**
 * Group memberships (CONTRACT section 5, user/permissions), for local and remote users alike. They
 * live in MySQL only: the PBX is never told; a Kamailio proxy reads them through the grp view.
 */
export class PermissionService {
  private readonly permissions: PermissionStore;
  private readonly names: ReadonlySet<string>;

  constructor(deps: PermissionServiceDeps) {
    this.permissions = deps.permissions;
    this.names = new Set(deps.names);
  }

  async get(address: SipAddress): Promise<PermissionNames> {
    const held = await this.permissions.list(address);
    if (held === null) throw new Failed('nonexistant', `no user ${formatSipAddress(address)}`);
    return held;
  }

  /** The names as the change leaves them; with dryRun, as it would leave them, changing nothing. */
  async change(address: SipAddress, change: PermissionChange, dryRun: boolean, audit?: ChangeScope): Promise<PermissionNames> {
    this.check(change);
    if (dryRun) return applyChange(await this.get(address), change);
    return this.permissions.change(address, (held) => applyChange(held, change), audit);
  }

  /** The request's own faults, before anything is read: the contract's invalid outcomes, in its order. */
  private check(change: PermissionChange): void {
    for (const parameter of ['grant', 'revoke', 'set'] as const) {
      const unknown = change[parameter]?.find((name) => !this.names.has(name));
      if (unknown !== undefined) {
        throw new Invalid(parameter, `${unknown} is not a permission; PERMISSIONS has ${[...this.names].join(', ') || 'none'}`);
      }
    }
    if (change.set !== undefined && (change.grant !== undefined || change.revoke !== undefined)) {
      throw new Invalid('set', 'give set alone (the whole set), or grant and revoke, not both');
    }
    if (change.set === undefined && change.grant === undefined && change.revoke === undefined) {
      throw new Invalid('parameters', 'give grant or revoke (comma-separated names), or set alone');
    }
    const both = change.revoke?.find((name) => change.grant?.includes(name));
    if (both !== undefined) throw new Invalid('revoke', `${both} is both granted and revoked`);
  }
}
