import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Logger } from './logger';
import { withTimeout } from './with-timeout';
import type { NodeDefinition } from './http/node';
import { buildOpenApi } from './http/openapi';
import { compileNodes, nodeDispatcher, ownRequestId, type RequestObserver } from './http/registry';
import helmet from 'helmet';
import cors from 'cors';
import type { Authenticator } from './http/auth';
import { randomUUID } from 'node:crypto';
import { Gatekeeper, sourceAddress, type Admission, type Refusal } from './http/gatekeeper';
import type { Outcome } from './http/envelope';
import { LongWorkGate } from './http/long-work';
import { noteDuplicateKeys } from './http/duplicate-keys';
import type { Metrics } from './http/metrics';
import type { AuditStore } from './nodes/audit/audit-store';
import { hasCredentials, PBX_EVENTS_CHALLENGE, readEventCall, type PbxEventsEndpoint } from './http/pbx-events-endpoint';
import { CONSOLE_PATH, serveConsole } from './console/console-route';

export interface AppLimits {
  /** Requests a minute per token without its own rate_per_minute; 0: none. */
  readonly ratePerMinute: number;
  readonly maxInFlight: number;
  readonly unauthenticatedPerMinute: number;
  /** MySQL connections long work may hold at once. */
  readonly longWorkConnections: number;
}

/** A dependency /readyz asks; `check` rejects when the part does not answer. */
export interface ReadinessCheck {
  readonly name: string;
  /** Resolves when the part answers, with a word on its state when there is one to show. */
  check(): Promise<string | undefined | void>;
}

export interface AppDeps {
  readonly nodes: readonly NodeDefinition[];
  readonly logger: Logger;
  readonly readiness: readonly ReadinessCheck[];
  readonly version?: string;
  readonly observers?: readonly RequestObserver[];
  /** The largest request body accepted (bytes). */
  readonly bodyLimit?: number;
  /** Null or absent: auth is off. */
  readonly authenticator?: Authenticator | null;
  readonly audit?: AuditStore;
  readonly metrics?: Metrics;
  /** Origins whose browser pages may call the nodes (CORS_ORIGINS); absent or empty: no CORS headers. */
  readonly corsOrigins?: readonly string[];
  /** CONTRACT section 3's limits (README, Limits); absent: none. */
  readonly limits?: AppLimits;
  readonly requestTimeoutMs?: number;
  /** How many extensions are in doubt (CONTRACT section 7), shown in /readyz. */
  readonly inDoubt?: () => number;
  /** Whether the app is served over HTTPS: only then is Strict-Transport-Security sent. */
  readonly tls?: boolean;
  /** POST /pbx/events (CONTRACT section 12); absent: not served (404 like any unknown path). */
  readonly pbxEvents?: PbxEventsEndpoint;
}

const READINESS_TIMEOUT_MS = 2000;

function sendEnvelope(response: Response, status: number, cause: string, detail: string, outcome = 'invalid'): void {
  (response.locals as Locals).served = { outcome, cause };
  response.status(status).type('application/json').send(JSON.stringify({ response: outcome, cause, detail }));
}

/** What an envelope answered outside the nodes said, for its request line and count. */
interface Locals {
  served?: { outcome: string; cause: string };
}

/** The paths outside the nodes, as metrics label them (anything else is "unknown": a scanner cannot grow the series). */
const OPERATIONS: Record<string, string> = {
  '/healthz': 'healthz',
  '/readyz': 'readyz',
  '/metrics': 'metrics',
  '/api/openapi.json': 'openapi',
  '/pbx/events': 'pbx-events',
};

function isConsolePath(path: string): boolean {
  return path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`);
}

/** How long /readyz answers from its last look (anonymous callers cannot make it ask more often). */
const READINESS_CACHE_MS = 2000;

const API_SECURITY_HEADERS: readonly [string, string][] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'no-referrer'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
];
// Sent only over HTTPS: over plain HTTP a browser ignores it (RFC 6797 section 8.1), and it would
// claim a protection this listener does not give.
const STRICT_TRANSPORT_SECURITY: [string, string] = ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'];

/** The express app; it never listens, so tests drive it with supertest. */
export function createApp(deps: AppDeps): express.Express {
  const { logger, readiness, version = '0.0.0', bodyLimit = 64 * 1024 } = deps;
  const nodes = compileNodes(deps.nodes);
  const openApi = buildOpenApi(nodes, version);
  const { authenticator = null, metrics, limits } = deps;
  const requestTimeoutMs = deps.requestTimeoutMs ?? 30_000;
  const gatekeeper = new Gatekeeper({
    authenticator,
    logger,
    ratePerMinute: limits?.ratePerMinute ?? 0,
    maxInFlight: limits?.maxInFlight ?? Infinity,
    unauthenticatedPerMinute: limits?.unauthenticatedPerMinute ?? 0,
  });
  const securityHeaders = deps.tls ? [...API_SECURITY_HEADERS, STRICT_TRANSPORT_SECURITY] : API_SECURITY_HEADERS;
  // Over plain HTTP, helmet's default policy loses `upgrade-insecure-requests` too: it makes a
  // browser fetch the page's scripts and styles over https, which this listener does not serve, and
  // the page stayed blank on any host but localhost (swagger-ui-express issues 212 and 346).
  const docsHeaders = helmet(
    deps.tls ? {} : { strictTransportSecurity: false, contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } },
  );
  // What every answer is reported to, nodes and other paths alike.
  const observers = [...(deps.observers ?? []), ...(metrics ? [metrics.requests] : [])];
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Browser pages on CORS_ORIGINS may call the nodes: a preflight is answered before auth (browsers
  // send no token with it), and answers name the origin and let the page read X-Request-Id and
  // Retry-After. With no origin configured nothing is added to any answer.
  if (deps.corsOrigins && deps.corsOrigins.length > 0) {
    app.use(
      cors({
        origin: [...deps.corsOrigins],
        methods: ['GET', 'POST'],
        allowedHeaders: ['Authorization', 'Content-Type', 'X-API-Key', 'X-Request-Id'],
        exposedHeaders: ['X-Request-Id', 'Retry-After'],
        maxAge: 600,
      }),
    );
  }

  // The nodes come first: one layer, which passes every other path on (docs/decisions/005).
  const parseJson = express.json({ limit: bodyLimit, verify: noteDuplicateKeys });
  const parseForm = express.urlencoded({ extended: false, limit: bodyLimit, parameterLimit: 100 });
  const readBody = (request: Request, response: Response): Promise<void> =>
    new Promise((resolve, reject) => {
      parseJson(request, response, (jsonError?: unknown) => {
        if (jsonError) reject(jsonError);
        else parseForm(request, response, (formError?: unknown) => (formError ? reject(formError) : resolve()));
      });
    });
  app.use(
    nodeDispatcher(nodes, {
      logger,
      observers,
      gatekeeper,
      longWork: limits ? new LongWorkGate(limits.longWorkConnections, requestTimeoutMs) : undefined,
      audit: deps.audit,
      requestTimeoutMs,
      readBody,
      headers: securityHeaders.flat(),
    }),
  );

  // Every answer outside the nodes too carries a request id, and is logged and counted (CONTRACT section 3).
  app.use((request, response, next) => {
    const started = performance.now();
    const requestId = ownRequestId(request) ?? randomUUID();
    response.setHeader('X-Request-Id', requestId);
    response.once('finish', () => {
      const durationMs = Math.round((performance.now() - started) * 100) / 100;
      const status = response.statusCode;
      const served = (response.locals as Locals).served;
      const outcome = (served?.outcome ?? (status < 400 ? 'ok' : status >= 500 ? 'error' : 'invalid')) as Outcome;
      const label = OPERATIONS[request.path] ?? (request.path.startsWith('/api/docs') ? 'docs' : isConsolePath(request.path) ? 'console' : 'unknown');
      logger.request({ request_id: requestId, node: request.path, method: request.method, client: undefined, address: sourceAddress(request), outcome, cause: served?.cause, status, duration_ms: durationMs });
      for (const observer of observers) observer.finished({ node: label, known: label !== 'unknown', outcome, cause: served?.cause, status, durationMs, requestId });
    });
    next();
  });

  // JSON answers get a fixed set of security headers; the browsable docs page gets helmet's full
  // set, whose policy is built for pages.
  app.use((request, response, next) => {
    if (request.path.startsWith('/api/docs')) return docsHeaders(request, response, next);
    for (const [name, value] of securityHeaders) response.setHeader(name, value);
    next();
  });

  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });

  // One look at a time, answered from for READINESS_CACHE_MS: however many callers, MySQL and the
  // PBX are asked at most once per period (the PBX ping takes no PBX concurrency slot either).
  let lastLook: { at: number; look: Promise<{ checks: Record<string, string>; failing: string[]; details: Record<string, string> }> } | null = null;
  const look = async () => {
    const results = await Promise.all(
      readiness.map(async ({ name, check }) => {
        try {
          const detail = await withTimeout<string | undefined | void>(check(), READINESS_TIMEOUT_MS);
          return { name, ok: true, detail: detail ?? undefined };
        } catch (error) {
          logger.warn('readiness check failed', { part: name, error: (error as Error).message });
          return { name, ok: false, detail: (error as Error).message };
        }
      }),
    );
    // Only the database's word is shown (its node and Galera state): /readyz answers anyone, and other
    // failures' messages may name hosts; they are in the log.
    const details = results.filter((result) => result.name === 'database' && result.detail !== undefined);
    return {
      failing: results.filter((result) => !result.ok).map((result) => result.name),
      checks: Object.fromEntries(results.map((result) => [result.name, result.ok ? 'ok' : 'failing'])),
      details: Object.fromEntries(details.map((result) => [result.name, result.detail as string])),
    };
  };
  app.get('/readyz', async (_request, response) => {
    const now = Date.now();
    if (lastLook === null || now - lastLook.at >= READINESS_CACHE_MS) lastLook = { at: now, look: look() };
    const { checks, failing, details } = await lastLook.look;
    // Extensions in doubt do not make the gateway unready (it repairs them itself), but they are shown.
    const inDoubt = deps.inDoubt?.() ?? 0;
    response.status(failing.length === 0 ? 200 : 503).json({
      status: failing.length === 0 ? 'ready' : 'unready',
      checks,
      failing,
      ...(Object.keys(details).length > 0 ? { details } : {}),
      extensions_in_doubt: inDoubt,
    });
  });

  // Prometheus scrapes with a read token (or none when auth is off).
  // Every scope includes read, so any admitted client may scrape.
  app.get('/metrics', async (request, response) => {
    const admission = admit(request, response);
    if (!admission) return;
    try {
      if (!metrics) {
        sendEnvelope(response, 404, 'node', 'metrics are off');
        return;
      }
      response.setHeader('Content-Type', metrics.registry.contentType);
      response.send(await metrics.registry.metrics());
    } finally {
      admission.release();
    }
  });

  if (deps.pbxEvents) servePbxEvents(deps.pbxEvents);

  app.get('/api/openapi.json', (_request, response) => {
    response.json(openApi);
  });
  app.use('/api/docs', swaggerUi.serve, swaggerUi.setup(openApi, { customSiteTitle: 'pbx-gateway API' }));
  // The helpdesk console: static files, open like the docs page (the page asks for a token).
  app.use(CONSOLE_PATH, serveConsole());

  // Anything else needs a token too: an anonymous caller learns nothing of what exists.
  app.use((request, response) => {
    const admission = admit(request, response);
    if (!admission) return;
    admission.release();
    sendEnvelope(response, 404, 'node', `nothing at ${request.path}`);
  });

  /**
   * Simotel's event calls: Basic credentials first (a wrong pair is counted like a request without
   * a known token), then the body. An extension event is queued and answered 204 at once; other
   * well-formed events are answered 204 and ignored; a malformed body is 400.
   */
  function servePbxEvents({ credentials, events }: PbxEventsEndpoint): void {
    const parseEvent = express.json({ limit: bodyLimit, type: () => true });
    app.post('/pbx/events', (request, response, next) => {
      if (!hasCredentials(request.headers, credentials)) {
        refuse(response, gatekeeper.refuseUnknown(request, PBX_EVENTS_CHALLENGE));
        return;
      }
      parseEvent(request, response, (error?: unknown) => {
        if (error) return next(error);
        const call = readEventCall(request.body);
        if (call.kind === 'invalid') return sendEnvelope(response, 400, call.cause, call.detail);
        if (call.kind === 'extension') events.notice(call.event, call.number);
        else logger.debug('pbx event ignored', { why: call.why });
        response.status(204).end();
      });
    });
  }

  /** Auth and limits outside the nodes (/metrics, unknown paths): the admission, or null once refused. */
  function admit(request: Request, response: Response): Admission | null {
    const admission = gatekeeper.admit(request);
    if (admission.refusal === null) return admission;
    refuse(response, admission.refusal);
    return null;
  }

  function refuse(response: Response, refusal: Refusal): void {
    for (let index = 0; index < refusal.headers.length; index += 2) response.setHeader(refusal.headers[index], refusal.headers[index + 1]);
    sendEnvelope(response, refusal.status, refusal.cause, refusal.detail, refusal.outcome);
  }

  const bodyErrors: ErrorRequestHandler = (error, _request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    // A body refused by its parser never reached the header layer (the nodes come before it).
    for (const [name, value] of securityHeaders) response.setHeader(name, value);
    const { type, status, expose } = error as { type?: string; status?: number; expose?: boolean };
    if (type === 'entity.too.large') sendEnvelope(response, 413, 'body', `the body is larger than ${bodyLimit} bytes`);
    // body-parser's refusals carry a type, but not all: a body that fails to inflate (Content-Encoding
    // gzip or br over bytes that are not) is a bare client error (http-errors: expose, status 4xx).
    else if (type !== undefined || (expose === true && typeof status === 'number' && status >= 400 && status < 500)) {
      sendEnvelope(response, 400, 'body', 'the body does not parse');
    } else {
      logger.error('unhandled error', { error: (error as Error).message, stack: (error as Error).stack });
      sendEnvelope(response, 500, 'internal', 'internal error; the log has the details', 'error');
    }
  };
  app.use(bodyErrors);
  return app;
}
