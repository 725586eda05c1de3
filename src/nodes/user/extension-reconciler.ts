import { withTransaction } from '../../db/transaction';
import type { Pool } from '../../db/pool';
import { emptyForwardPolicy, sameForwardPolicy, type Extension, type ExtensionSettings } from '../../pbx/extension';
import type { PbxClient } from '../../pbx/pbx-client';
import type { ExtensionClaim, ExtensionStore } from './extension-store';
import type { UserRecord, UserStore } from './user-store';

/**
 * The extension as MySQL's record says it must be: the record's name, e-mail, password and call
 * forwards over the PBX's other settings. The masked secret is never sent back: the held password,
 * or no secret at all when none is held (an imported extension).
 */
export function withRecord(extension: Extension, record: UserRecord): Extension {
  const { secret: _masked, ...settings } = extension;
  return {
    ...settings,
    name: record.displayname,
    email: record.email,
    forward_policy: record.forward ?? { ...emptyForwardPolicy(), ...extension.forward_policy },
    ...(record.password === null ? {} : { secret: record.password }),
  };
}

export type Reconciled = 'unchanged' | 'added' | 'updated' | 'removed' | 'not in doubt';

export interface ExtensionReconcilerDeps {
  readonly pool: Pool;
  readonly extensions: ExtensionStore;
  readonly users: UserStore;
  readonly pbx: PbxClient;
  readonly extensionDefaults: ExtensionSettings;
}

/**
 * Makes the PBX hold what MySQL holds for one extension, holding the extension's claim, reading
 * MySQL afresh (CONTRACT section 7): a missing extension is made again, one without a local user
 * is removed, a stale one is updated. MySQL is never changed, but for the in-doubt mark, which is
 * cleared in the same transaction once the PBX agrees. Any failure leaves it as it was, to be
 * tried again: every step is idempotent.
 */
export class ExtensionReconciler {
  private readonly pool: Pool;
  private readonly extensions: ExtensionStore;
  private readonly users: UserStore;
  private readonly pbx: PbxClient;
  private readonly extensionDefaults: ExtensionSettings;

  constructor(deps: ExtensionReconcilerDeps) {
    this.pool = deps.pool;
    this.extensions = deps.extensions;
    this.users = deps.users;
    this.pbx = deps.pbx;
    this.extensionDefaults = deps.extensionDefaults;
  }

  /**
   * `template`: the extension as it was before a failed removal, whose settings a re-made one
   * keeps (its name, e-mail, password and forwards still come from MySQL). `onlyInDoubt`: do
   * nothing when another gateway has repaired it meanwhile. `secretMayDiffer` (default true): the
   * PBX masks the secret, so a held password is sent again unless the caller knows it is unchanged.
   */
  async reconcile(
    number: string,
    options: { template?: Extension; onlyInDoubt?: boolean; secretMayDiffer?: boolean; claim?: ExtensionClaim } = {},
  ): Promise<Reconciled> {
    const { claim } = options;
    if (claim === undefined) return this.extensions.withClaim(number, (taken) => this.reconcileHolding(taken, options));
    return this.reconcileHolding(claim, options);
  }

  /** Every attempt reads both stores afresh, so a transaction refused for a conflict simply runs again. */
  private reconcileHolding(claim: ExtensionClaim, options: { template?: Extension; onlyInDoubt?: boolean; secretMayDiffer?: boolean }): Promise<Reconciled> {
    const { number } = claim;
    const { secretMayDiffer = true } = options;
    return withTransaction(this.pool, async (connection) => {
      await claim.fence(connection);
      if (options.onlyInDoubt && !(await this.extensions.isInDoubt(connection, number))) return 'not in doubt';
      const record = await this.users.findLocalByNumber(connection, number);
      const found = await this.pbx.find(number);
      let done: Reconciled = 'unchanged';
      if (record && !found) {
        const base: Extension = options.template ?? { ...this.extensionDefaults, name: '', number, cid_number: number, email: '', forward_policy: emptyForwardPolicy() };
        const { _id: _gone, ...made } = withRecord(base, record);
        await this.pbx.add(made);
        done = 'added';
      } else if (!record && found?._id) {
        await this.pbx.remove(found._id);
        done = 'removed';
      } else if (record && found) {
        const desired = withRecord(found, record);
        const stale =
          (secretMayDiffer && record.password !== null) ||
          found.name !== desired.name || found.email !== desired.email || !sameForwardPolicy(found.forward_policy, desired.forward_policy);
        if (stale) {
          await this.pbx.update(desired);
          done = 'updated';
        }
      }
      await this.extensions.clearInDoubt(connection, number);
      return done;
    });
  }
}
