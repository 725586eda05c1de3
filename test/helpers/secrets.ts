import type { SecretBox } from '../../src/secrets/secret-box';
import { openStoredSecret } from '../../src/secrets/secrets-at-rest';

/** The columns of a users row that hold its password (CONTRACT section 9: sealed in `secret`). */
export interface PasswordColumns {
  readonly id?: number;
  readonly username: string;
  readonly domain: string;
  readonly secret: string | null;
  readonly password: string | null;
}

/** The password a users row holds, opened with the gateway's key, for assertions on what is stored. */
export function heldPassword(box: SecretBox, row: PasswordColumns): string | null {
  return openStoredSecret(box, { id: row.id ?? 0, username: row.username, domain: row.domain, sealed: row.secret, clear: row.password });
}

/** A users row (SELECT *) with its password opened in `password`, as tests compare it. */
export function withHeldPassword<T extends PasswordColumns>(box: SecretBox, row: T): T {
  return { ...row, password: heldPassword(box, row) };
}
