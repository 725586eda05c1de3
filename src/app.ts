import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Logger } from './logger';
import type { NodeDefinition } from './http/node';
import { buildOpenApi } from './http/openapi';
import { compileNodes, nodeDispatcher, type RequestObserver } from './http/registry';
import helmet from 'helmet';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { createHash } from 'node:crypto';
import { clientOf, presentedToken, type Authenticator } from './http/auth';
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

function hasBody(request: Request): boolean {
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
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

/**
 * Per-client limit: keyed by the client a known token names, or by the address without one. An
 * unknown token counts against its address, so guessing with a new token each time is limited too.
 * With auth off, any token presented keys the limit (its digest, never the token). Counters are per
 * process (README: more than one gateway).
 */
function rateLimiter(perMinute: number, authenticator: Authenticator | null): RequestHandler {
  return rateLimit({
    windowMs: RATE_WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    // Its configuration checks run on every request; the configuration is fixed here.
    validate: false,
    keyGenerator: (request) => {
      const token = presentedToken(request.headers);
      const address = `address:${ipKeyGenerator(request.ip ?? '')}`;
      if (token === null) return address;
      if (authenticator === null) return `token:${createHash('sha256').update(token).digest('base64url')}`;
      const client = clientOf(authenticator, request);
      return client ? `client:${client.name}` : address;
    },
    handler: (_request, response, _next, options) => {
      response.setHeader('Retry-After', String(Math.ceil(options.windowMs / 1000)));
      sendEnvelope(response, 429, 'rate', `more than ${perMinute} requests a minute; try again later`, 'failed');
    },
  });
}

/** The express app; it never listens, so tests drive it with supertest. */
export function createApp(deps: AppDeps): express.Express {
  const { logger, readiness, version = '0.0.0', bodyLimit = 64 * 1024 } = deps;
  const nodes = compileNodes(deps.nodes);
  const openApi = buildOpenApi(nodes, version);
  const { authenticator = null, metrics, rateLimitPerMinute = 0 } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // JSON answers get a fixed set of security headers (a few setHeader calls); the browsable docs
  // page gets helmet's full set, whose policy is built for pages.
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
    response.status(failing.length === 0 ? 200 : 503).json({ status: failing.length === 0 ? 'ready' : 'unready', checks, failing });
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

  // The body parsers, the body check and the dispatcher run as one router layer: each layer
  // costs a path match and a prefix trim on every request. Errors reach next() as they would
  // from separate layers (thrown or rejected alike).
  const parseJson = express.json({ limit: bodyLimit });
  const parseForm = express.urlencoded({ extended: false, limit: bodyLimit, parameterLimit: 100 });
  const dispatch = nodeDispatcher(nodes, {
    logger,
    observers: [...(deps.observers ?? []), ...(metrics ? [metrics.requests] : [])],
    authenticator,
    audit: deps.audit,
    requestTimeoutMs: deps.requestTimeoutMs,
  });
  if (rateLimitPerMinute > 0) app.use('/api', rateLimiter(rateLimitPerMinute, authenticator));
  const api: RequestHandler = (request, response, next) => {
    const dispatchParsed = (error?: unknown) => {
      if (error) {
        next(error);
        return;
      }
      try {
        if (request.method === 'POST' && request.body === undefined && hasBody(request)) {
          sendEnvelope(response, 400, 'body', 'send parameters as application/json or application/x-www-form-urlencoded');
          return;
        }
        const dispatched: unknown = dispatch(request, response, next);
        if (dispatched instanceof Promise) dispatched.catch((rejection: unknown) => next(rejection || new Error('Rejected promise')));
      } catch (thrown) {
        next(thrown);
      }
    };
    // What both parsers do with a request that has no body (type-is hasBody: no Transfer-Encoding and
    // no numeric Content-Length): leave req.body undefined and go on. Skipping them saves their checks.
    if (request.headers['transfer-encoding'] === undefined && Number.isNaN(Number(request.headers['content-length']))) {
      if (!Reflect.has(request, 'body')) request.body = undefined;
      dispatchParsed();
      return;
    }
    parseJson(request, response, (error?: unknown) => {
      if (error) {
        next(error);
        return;
      }
      try {
        parseForm(request, response, dispatchParsed);
      } catch (thrown) {
        next(thrown);
      }
    });
  };
  app.use('/api', api);

  app.use((request, response) => {
    sendEnvelope(response, 404, 'node', `nothing at ${request.path}`);
  });

  const bodyErrors: ErrorRequestHandler = (error, _request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
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
