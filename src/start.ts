import type { Server, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { createApp, type AppDeps, type ReadinessCheck } from './app';
import { startPbxSimulator, type PbxSimulator } from './pbx/simulator';
import type { Config } from './config';
import { createContainer, type Container } from './container';
import { ensureDatabase, parseMysqlUrl } from './db/pool';
import { migrate } from './db/migrate';
import type { Logger } from './logger';
import { ConfigError } from './config';
import { isDatabaseError } from './db/errors';

export interface Running {
  readonly server: Server;
  readonly container: Container;
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
    rateLimitPerMinute: container.config.rateLimitPerMinute,
    requestTimeoutMs: container.config.requestTimeoutMs,
    inDoubt: () => container.repairer.inDoubt,
  };
}

/**
 * With no API_TOKENS and auth not disabled, one random admin token is made for this run and shown
 * once, on stderr, in the start banner: `npm start` works out of the box without an open gateway.
 */
function withStartTokens(config: Config, logger: Logger): Config {
  if (config.authDisabled) {
    logger.warn('AUTH_DISABLED=true: every client may call every node without a token');
    return config;
  }
  if (config.apiTokens.length > 0) return config;
  const token = randomBytes(32).toString('base64url');
  process.stderr.write(
    '\npbx-gateway: no API_TOKENS configured; this run accepts one admin token, shown only here:\n' +
      `  Authorization: Bearer ${token}\n` +
      '  (set API_TOKENS=name:token:scope,... to choose your own; see README)\n\n',
  );
  return { ...config, apiTokens: [{ name: 'generated-admin', token, scope: 'admin' }] };
}

/** What /readyz asks: MySQL and the PBX. */
export function readinessChecks(container: Container): ReadinessCheck[] {
  return [
    { name: 'database', check: async () => void (await container.pool.query('SELECT 1')) },
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

/** Prepares the database (create, migrate, merge LOCAL_DOMAINS) and builds the services. */
export async function prepare(config: Config, logger: Logger): Promise<Container> {
  const target = parseMysqlUrl(config.mysqlUrl);
  try {
    await ensureDatabase(target);
  } catch (error) {
    throw isDatabaseError(error) ? describeDatabaseFailure(error, config) : error;
  }
  const container = createContainer(config, logger);
  try {
    await migrate(container.pool, logger);
    await container.domains.mergeLocalDomains(config.localDomains);
  } catch (error) {
    await container.close().catch(() => undefined);
    throw isDatabaseError(error) ? describeDatabaseFailure(error, config) : error;
  }
  return container;
}

/** Starts the gateway: database, app, listening socket; stop() closes them in order. */
export async function start(configured: Config, logger: Logger, version: string): Promise<Running> {
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
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(config.port, config.host, () => resolve(listening));
    listening.once('error', reject);
  }).catch(async (error: NodeJS.ErrnoException) => {
    await container.close();
    await simulator?.close();
    throw new ConfigError(`PORT: cannot listen on ${config.host}:${config.port} (${error.code ?? error.message})`);
  });
  server.keepAliveTimeout = 65_000;
  // A keep-alive connection would hold server.close() up until it times out (65 s). While stopping,
  // each new answer tells its client to close the connection, and a connection whose answer is out
  // is closed at once (keepAliveTimeout 1 ms). Nothing is tracked per request until then: a listener
  // per answer cost every read a few microseconds.
  let stopping = false;
  server.prependListener('request', (_request, response: ServerResponse) => {
    if (stopping) response.shouldKeepAlive = false;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host}:${port}`;
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
