import { initialSchema } from './001-initial-schema';
import { auditLog } from './002-audit-log';
import { consistency } from './003-consistency';
import { secrets } from './004-secrets';
import { apiTokens } from './005-api-tokens';
import { userAddressOrder } from './006-user-address-order';
import { permissions } from './007-permissions';
import { cluster } from './008-cluster';

export interface Migration {
  readonly name: string;
  /** Run in order; MySQL commits DDL implicitly, so each migration is kept to statements that are safe to retry. */
  readonly statements: readonly string[];
}

/** Every migration, oldest first. Append only: never edit one that has shipped. */
export const migrations: readonly Migration[] = [initialSchema, auditLog, consistency, secrets, apiTokens, userAddressOrder, permissions, cluster];
