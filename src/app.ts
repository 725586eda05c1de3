import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Logger } from './logger';
import type { NodeDefinition } from './http/node';
import { buildOpenApi } from './http/openapi';
import { compileNodes, nodeDispatcher, type RequestObserver } from './http/registry';
import helmet from 'helmet';
import { clientOf, type Authenticator } from './http/auth';
import { RateLimiter } from './http/rate-limit';
import type { Metrics } from './http/metrics';
import type { AuditStore } from './nodes/audit/audit-store';

/** A dependency /readyz asks; `check` rejects when the part does not answer. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
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
  /** Requests per minute per client token (per address without one); 0 or absent: no limit. */
  readonly rateLimitPerMinute?: number;
  readonly requestTimeoutMs?: number;
  /** How many extensions are in doubt (CONTRACT section 7), shown in /readyz. */
  readonly inDoubt?: () => number;
}

const READINESS_TIMEOUT_MS = 2000;

function withTimeout(promise: Promise<void>, milliseconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), milliseconds);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sendEnvelope(response: Response, status: number, cause: string, detail: string, outcome = 'invalid'): void {
  response.status(status).type('application/json').send(JSON.stringify({ response: outcome, cause, detail }));
}

const RATE_WINDOW_MS = 60_000;

const API_SECURITY_HEADERS: readonly [string, string][] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
  ['Referrer-Policy', 'no-referrer'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
];
const docsHeaders = helmet();

/** The express app; it never listens, so tests drive it with supertest. */
export function createApp(deps: AppDeps): express.Express {
  const { logger, readiness, version = '0.0.0', bodyLimit = 64 * 1024 } = deps;
  const nodes = compileNodes(deps.nodes);
  const openApi = buildOpenApi(nodes, version);
  const { authenticator = null, metrics, rateLimitPerMinute = 0 } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // The nodes come first: one layer, which passes every other path on (docs/decisions/005).
  const parseJson = express.json({ limit: bodyLimit });
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
      observers: [...(deps.observers ?? []), ...(metrics ? [metrics.requests] : [])],
      authenticator,
      audit: deps.audit,
      requestTimeoutMs: deps.requestTimeoutMs,
      rateLimiter: rateLimitPerMinute > 0 ? new RateLimiter(rateLimitPerMinute, RATE_WINDOW_MS) : undefined,
      readBody,
      headers: API_SECURITY_HEADERS.flat(),
    }),
  );

  // JSON answers get a fixed set of security headers; the browsable docs page gets helmet's full
  // set, whose policy is built for pages.
  app.use((request, response, next) => {
    if (request.path.startsWith('/api/docs')) return docsHeaders(request, response, next);
    for (const [name, value] of API_SECURITY_HEADERS) response.setHeader(name, value);
    next();
  });

  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });

  app.get('/readyz', async (_request, response) => {
    const results = await Promise.all(
      readiness.map(async ({ name, check }) => {
        try {
          await withTimeout(check(), READINESS_TIMEOUT_MS);
          return { name, ok: true };
        } catch (error) {
          logger.warn('readiness check failed', { part: name, error: (error as Error).message });
          return { name, ok: false };
        }
      }),
    );
    const failing = results.filter((result) => !result.ok).map((result) => result.name);
    const checks = Object.fromEntries(results.map((result) => [result.name, result.ok ? 'ok' : 'failing']));
    // Extensions in doubt do not make the gateway unready (it repairs them itself), but they are shown.
    const inDoubt = deps.inDoubt?.() ?? 0;
    response.status(failing.length === 0 ? 200 : 503).json({ status: failing.length === 0 ? 'ready' : 'unready', checks, failing, extensions_in_doubt: inDoubt });
  });

  // Prometheus scrapes with a read token (or none when auth is off).
  app.get('/metrics', async (request, response) => {
    const client = authenticator ? clientOf(authenticator, request) : null;
    if (authenticator && !client) {
      response.setHeader('WWW-Authenticate', 'Bearer');
      sendEnvelope(response, 401, 'auth', 'send a token with scope read');
      return;
    }
    if (!metrics) {
      sendEnvelope(response, 404, 'node', 'metrics are off');
      return;
    }
    response.setHeader('Content-Type', metrics.registry.contentType);
    response.send(await metrics.registry.metrics());
  });

  app.get('/api/openapi.json', (_request, response) => {
    response.json(openApi);
  });
  app.use('/api/docs', swaggerUi.serve, swaggerUi.setup(openApi, { customSiteTitle: 'pbx-gateway API' }));

  app.use((request, response) => {
    sendEnvelope(response, 404, 'node', `nothing at ${request.path}`);
  });

  const bodyErrors: ErrorRequestHandler = (error, _request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    // A body refused by its parser never reached the header layer (the nodes come before it).
    for (const [name, value] of API_SECURITY_HEADERS) response.setHeader(name, value);
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
