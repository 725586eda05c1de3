import type { Server, ServerResponse } from 'node:http';
import { createApp, type AppDeps, type ReadinessCheck } from './app';
import { startPbxSimulator, type PbxSimulator } from './pbx/simulator';
import type { Config } from './config';
import { createContainer, type Container } from './container';
import { ensureDatabase, parseMysqlUrl } from './db/pool';
import { failoverOf, lookAt } from './db/failover-pool';
import { MigrationFailed, migrate } from './db/migrate';
import type { Logger } from './logger';
import { ConfigError, isCleartextPbx } from './config';
import { isDatabaseError } from './db/errors';
import { openKeyFile } from './secrets/key-file';
import { openSecretsAtRest } from './secrets/secrets-at-rest';
import { createListener, logListenerErrors } from './listener';
import { shownPath, writeStartToken } from './start-token';
import { readListenerCredentials, readPbxTrust } from './tls-files';

export interface Running {
  readonly server: Server;
  readonly container: Container;
  /** http://host:port, or https:// when TLS_CERT_FILE and TLS_KEY_FILE are set. */
  readonly url: string;
  /** The built-in PBX simulator, when no PBX_URL was configured. */
  readonly simulator: PbxSimulator | null;
  stop(): Promise<void>;
}

/** The configuration pointed at a running simulator (its URL and its credentials). */
export function withSimulator(config: Config, simulator: PbxSimulator): Config {
  return { ...config, pbx: { ...config.pbx, url: simulator.url, ...simulator.credentials } };
}

/** Everything createApp needs, from the container (used by start() and by the tests alike). */
export function appDeps(container: Container, version: string): AppDeps {
  return {
    nodes: container.nodes,
    logger: container.logger,
    version,
    readiness: readinessChecks(container),
    authenticator: container.authenticator,
    audit: container.audit,
    metrics: container.config.metricsEnabled ? container.metrics : undefined,
    corsOrigins: container.config.corsOrigins,
    limits: {
      ratePerMinute: container.config.rateLimitPerMinute,
      maxInFlight: container.config.maxInFlight,
      unauthenticatedPerMinute: container.config.unauthenticatedPerMinute,
      longWorkConnections: container.config.longWorkConnections,
    },
    requestTimeoutMs: container.config.requestTimeoutMs,
    inDoubt: () => container.repairer.inDoubt,
    tls: container.config.tls.certFile !== '',
    pbxEvents: container.pbxEvents ? { credentials: container.config.pbxEvents, events: container.pbxEvents } : undefined,
  };
}

/**
 * With no API_TOKENS and auth not disabled, one random admin token is made for this run and written
 * to START_TOKEN_FILE (mode 0600); stderr says where, never the token: `npm start` works out of the
 * box without an open gateway.
 */
function withStartTokens(config: Config, logger: Logger): Config {
  if (config.authDisabled) {
    logger.warn('AUTH_DISABLED=true: every client may call every node without a token');
    return config;
  }
  if (config.apiTokens.length > 0) return config;
  const token = writeStartToken(config.startTokenFile);
  process.stderr.write(
    `\npbx-gateway: no API_TOKENS configured; this run's admin token is in ${shownPath(config.startTokenFile)} (mode 0600)\n` +
      '  (set API_TOKENS=name:token:scope,... to choose your own; see README)\n\n',
  );
  return { ...config, apiTokens: [{ name: 'generated-admin', token, scope: 'admin' }] };
}

/** What /readyz asks: MySQL and the PBX. */
export function readinessChecks(container: Container): ReadinessCheck[] {
  const failover = failoverOf(container.pool);
  const { host, port } = parseMysqlUrl(container.config.mysqlUrl).server;
  const server = `${String(host)}:${String(port)}`;
  return [
    {
      name: 'database',
      check: async () => {
        // On a cluster: the node in use and its Galera state, looked at afresh (a node that is not
        // usable is left for another one at the same time); on one server, a plain query.
        if (failover === null) {
          const look = await lookAt(container.pool, server);
          if (!look.usable) throw new Error(look.reason ?? 'not usable');
          return look.galera === null ? undefined : `node ${look.server}, Galera ${look.galera}`;
        }
        await failover.lookNow();
        const look = failover.describe();
        if (!look.usable) throw new Error(`node ${look.server}: ${look.reason ?? 'not usable'}`);
        return `node ${look.server}${look.galera === null ? '' : `, Galera ${look.galera}`}`;
      },
    },
    { name: 'pbx', check: () => container.pbx.ping() },
  ];
}

function describeDatabaseFailure(error: unknown, config: Config): ConfigError {
  const target = parseMysqlUrl(config.mysqlUrl);
  const { code, message } = error as { code?: string; message?: string };
  return new ConfigError(
    `MYSQL_URL: cannot use the database at ${target.server.host}:${target.server.port} as ${target.server.user} ` +
      `(${code ?? message ?? 'unknown error'}); check that MySQL runs there and that MYSQL_URL is right`,
  );
}

/**
 * Prepares the database (create, migrate, merge LOCAL_DOMAINS, check the secrets key and seal what
 * is held in clear) and builds the services.
 */
export async function prepare(config: Config, logger: Logger): Promise<Container> {
  const target = parseMysqlUrl(config.mysqlUrl);
  // The key first: a bad key file stops the start before the database is touched.
  const key = openKeyFile(config.secretsKeyFile);
  if (key.created) {
    logger.warn('made a new secrets key (SECRETS_KEY_FILE); back it up: without it the passwords the gateway holds are lost', { key_file: key.path });
  }
  try {
    await ensureDatabase(target);
  } catch (error) {
    throw isDatabaseError(error) ? describeDatabaseFailure(error, config) : error;
  }
  const container = createContainer(config, logger, key.box);
  try {
    await migrate(container.pool, logger);
    await openSecretsAtRest({ pool: container.pool, store: container.secretsStore, box: key.box, keyFile: key.path }, logger);
    await container.domains.mergeLocalDomains(config.localDomains);
    await container.tokenSync?.refresh();
  } catch (error) {
    await container.close().catch(() => undefined);
    if (error instanceof MigrationFailed) throw new ConfigError(`MYSQL_URL: ${error.message}`);
    throw isDatabaseError(error) ? describeDatabaseFailure(error, config) : error;
  }
  return container;
}

/**
 * What stops a start before anything is made: the TLS files (read once here; the PBX client reads
 * PBX_CA_FILE again when it is made), and the simulator where it must not run.
 */
function checkBeforeStart(config: Config, logger: Logger): ReturnType<typeof readListenerCredentials> {
  const credentials = readListenerCredentials(config.tls);
  if (credentials && credentials.validTo.getTime() < Date.now()) {
    logger.warn('the certificate in TLS_CERT_FILE has expired: clients will refuse it', { valid_to: credentials.validTo.toISOString() });
  }
  if (config.pbx.caFile) readPbxTrust(config.pbx.caFile);
  if (!config.pbx.url && config.nodeEnv === 'production') {
    throw new ConfigError('PBX_URL: required when NODE_ENV=production; the built-in simulator is for development and tests');
  }
  if (isCleartextPbx(config.pbx)) {
    logger.warn('PBX_ALLOW_HTTP=true: the PBX API key and Basic credentials cross the network in clear; use an https PBX_URL', {
      pbx_host: new URL(config.pbx.url).host,
    });
  }
  return credentials;
}

/** Starts the gateway: database, app, listening socket; stop() closes them in order. */
export async function start(configured: Config, logger: Logger, version: string): Promise<Running> {
  const credentials = checkBeforeStart(configured, logger);
  let config = withStartTokens(configured, logger);
  let simulator: PbxSimulator | null = null;
  if (!config.pbx.url) {
    simulator = await startPbxSimulator();
    config = withSimulator(config, simulator);
    logger.warn('no PBX configured (PBX_URL is unset): using the built-in Simotel simulator', { pbx_url: simulator.url });
  }
  const container = await prepare(config, logger).catch(async (error: unknown) => {
    await simulator?.close();
    throw error;
  });
  const app = createApp(appDeps(container, version));
  container.repairer.start();
  container.tokenSync?.start();
  const server = createListener(app, {
    limits: config.listener,
    credentials,
    logger,
    observer: config.metricsEnabled ? container.metrics.requests : undefined,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: NodeJS.ErrnoException) => {
    await container.close();
    await simulator?.close();
    throw new ConfigError(`PORT: cannot listen on ${config.host}:${config.port} (${error.code ?? error.message})`);
  });
  logListenerErrors(server, logger);
  // A keep-alive connection would hold server.close() up until it times out (KEEP_ALIVE_TIMEOUT_MS).
  // While stopping, each new answer tells its client to close the connection, and a connection whose
  // answer is out is closed at once (keepAliveTimeout 1 ms). Nothing is tracked per request until then: a listener
  // per answer cost every read a few microseconds.
  let stopping = false;
  server.prependListener('request', (_request, response: ServerResponse) => {
    if (stopping) response.shouldKeepAlive = false;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${credentials ? 'https' : 'http'}://${host}:${port}`;
  return {
    server,
    container,
    url,
    simulator,
    async stop() {
      stopping = true;
      server.keepAliveTimeout = 1;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await container.close();
      await simulator?.close();
    },
  };
}
