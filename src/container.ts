import type { Config } from './config';
import type { Logger } from './logger';
import { createPool, parseMysqlUrl, type Pool } from './db/pool';
import type { NodeDefinition } from './http/node';
import type { PbxClient } from './pbx/pbx-client';
import { SimotelClient } from './pbx/simotel-client';
import { LocalUserService } from './nodes/user/local-user-service';
import { SyncService } from './nodes/pbx/sync-service';
import { SyncStore } from './nodes/pbx/sync-store';
import { PbxEvents } from './nodes/pbx/pbx-events';
import { pbxNodes } from './nodes/pbx/pbx-nodes';
import { AuditStore } from './nodes/audit/audit-store';
import { auditNodes } from './nodes/audit/audit-nodes';
import { createMetrics, type Metrics } from './http/metrics';
import { Authenticator } from './http/auth';
import { AliasService } from './nodes/alias/alias-service';
import { AliasStore } from './nodes/alias/alias-store';
import { aliasNodes } from './nodes/alias/alias-nodes';
import { DomainService } from './nodes/domains/domain-service';
import { DomainStore } from './nodes/domains/domain-store';
import { domainNodes } from './nodes/domains/domain-nodes';
import { NumbersService } from './nodes/numbers/numbers-service';
import { NumbersStore } from './nodes/numbers/numbers-store';
import { numbersNodes } from './nodes/numbers/numbers-nodes';
import { PhoneService } from './nodes/phone/phone-service';
import { PhoneStore } from './nodes/phone/phone-store';
import { phoneNodes } from './nodes/phone/phone-nodes';
import { UserService } from './nodes/user/user-service';
import { UserStore } from './nodes/user/user-store';
import { ExtensionStore } from './nodes/user/extension-store';
import { ExtensionReconciler } from './nodes/user/extension-reconciler';
import { ExtensionRepairer } from './nodes/user/extension-repairer';
import { userNodes } from './nodes/user/user-nodes';
import { PermissionService } from './nodes/user/permission-service';
import { PermissionStore } from './nodes/user/permission-store';
import { permissionNodes } from './nodes/user/permission-nodes';
import type { SecretBox } from './secrets/secret-box';
import { SecretsStore } from './secrets/secrets-store';
import { TokenStore } from './nodes/tokens/token-store';
import { TokenService, TokenSync } from './nodes/tokens/token-service';
import { tokenNodes } from './nodes/tokens/token-nodes';

/** A streamed list's statement time limit: 1,000,000 numbers reach a client reading 100 kB/s in about 3 minutes. */
const STREAM_STATEMENT_SECONDS = 600;

export interface Container {
  readonly config: Config;
  readonly logger: Logger;
  readonly pool: Pool;
  readonly pbx: PbxClient;
  readonly domains: DomainStore;
  readonly sync: SyncService;
  /** POST /pbx/events' background work; null while PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD are unset. */
  readonly pbxEvents: PbxEvents | null;
  readonly audit: AuditStore;
  readonly metrics: Metrics;
  /** Null when AUTH_DISABLED=true. */
  readonly authenticator: Authenticator | null;
  /** Keeps the authenticator in step with the tokens in MySQL; null when auth is off. */
  readonly tokenSync: TokenSync | null;
  readonly nodes: readonly NodeDefinition[];
  /** Repairs extensions in doubt; start() runs it, tests may call repairNow(). */
  readonly repairer: ExtensionRepairer;
  /** The key the held passwords are sealed with, and the rows that hold them (CONTRACT section 9). */
  readonly secrets: SecretBox;
  readonly secretsStore: SecretsStore;
  close(): Promise<void>;
}

/**
 * The one place that builds the pool, the PBX client, the stores and the services, and declares
 * the nodes. `config.pbx.url` must be set by now (start() puts the simulator's there when unset).
 */
export function createContainer(config: Config, logger: Logger, secrets: SecretBox): Container {
  const pool = createPool(parseMysqlUrl(config.mysqlUrl), config.mysqlPoolSize, {
    acquireTimeoutMs: config.mysqlAcquireTimeoutMs,
    statementSeconds: Math.ceil(config.requestTimeoutMs / 1000),
  }, logger);
  // The repairer is made below (it needs the PBX client, which reports to the metrics); the gauge
  // reads it only when scraped.
  const metrics = createMetrics(pool, () => repairer.inDoubt);
  const pbx = new SimotelClient(config.pbx, logger, (path, result, durationMs) => metrics.pbxCall(path, result, durationMs));
  const audit = new AuditStore(pool);
  const domains = new DomainStore(pool);
  const users = new UserStore(pool, secrets);
  const phones = new PhoneStore(pool);
  const aliases = new AliasStore(pool);
  const numbers = new NumbersStore(pool, STREAM_STATEMENT_SECONDS);
  const extensions = new ExtensionStore(pool);
  const sync = new SyncService({ users, domains, extensions, store: new SyncStore(pool), pbx, logger });
  const pbxEvents = config.pbxEvents.username === '' ? null : new PbxEvents({ sync, domains, audit, logger, domain: config.pbxEvents.domain });
  const reconciler = new ExtensionReconciler({ pool, extensions, users, pbx, extensionDefaults: config.pbx.extensionDefaults });
  const repairer = new ExtensionRepairer({ extensions, reconciler, logger, intervalMs: config.repairIntervalMs });
  const authenticator = config.authDisabled ? null : new Authenticator(config.apiTokens);
  const tokens = new TokenStore(pool);
  const tokenSync = authenticator ? new TokenSync({ tokens, authenticator, logger }) : null;
  const nodes = [
    ...userNodes(
      new UserService({
        users,
        domains,
        local: new LocalUserService({
          users,
          domains,
          extensions,
          reconciler,
          doubts: repairer,
          pbx,
          extensionDefaults: config.pbx.extensionDefaults,
          logger,
        }),
      }),
    ),
    ...permissionNodes(new PermissionService({ permissions: new PermissionStore(pool), names: config.permissions })),
    ...phoneNodes(new PhoneService({ phones, users })),
    ...numbersNodes(new NumbersService({ numbers, maxRange: config.numbersMaxRange })),
    ...aliasNodes(new AliasService({ aliases, users, domains })),
    ...domainNodes(new DomainService({ domains })),
    ...pbxNodes(sync),
    ...auditNodes(audit),
    ...tokenNodes(new TokenService({ tokens, authenticator })),
  ];
  return {
    config,
    logger,
    pool,
    pbx,
    domains,
    sync,
    pbxEvents,
    audit,
    metrics,
    authenticator,
    tokenSync,
    nodes,
    repairer,
    secrets,
    secretsStore: new SecretsStore(pool),
    close: async () => {
      await pbxEvents?.stop();
      await repairer.stop();
      await tokenSync?.stop();
      await pool.end();
    },
  };
}
