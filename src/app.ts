import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { Logger } from './logger';
import type { NodeDefinition } from './http/node';
import { buildOpenApi } from './http/openapi';
import { compileNodes, nodeDispatcher, type RequestObserver } from './http/registry';

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

/** The express app; it never listens, so tests drive it with supertest. */
export function createApp(deps: AppDeps): express.Express {
  const { logger, readiness, version = '0.0.0', bodyLimit = 64 * 1024 } = deps;
  const nodes = compileNodes(deps.nodes);
  const openApi = buildOpenApi(nodes, version);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

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

  app.get('/api/openapi.json', (_request, response) => {
    response.json(openApi);
  });
  app.use('/api/docs', swaggerUi.serve, swaggerUi.setup(openApi, { customSiteTitle: 'pbx-gateway API' }));

  // The body parsers, the body check and the dispatcher run as one router layer: each layer
  // costs a path match and a prefix trim on every request. Errors reach next() as they would
  // from separate layers (thrown or rejected alike).
  const parseJson = express.json({ limit: bodyLimit });
  const parseForm = express.urlencoded({ extended: false, limit: bodyLimit, parameterLimit: 100 });
  const dispatch = nodeDispatcher(nodes, { logger, observers: deps.observers });
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
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') sendEnvelope(response, 413, 'body', `the body is larger than ${bodyLimit} bytes`);
    else if (type !== undefined) sendEnvelope(response, 400, 'body', 'the body does not parse');
    else {
      logger.error('unhandled error', { error: (error as Error).message, stack: (error as Error).stack });
      sendEnvelope(response, 500, 'internal', 'internal error; the log has the details', 'error');
    }
  };
  app.use(bodyErrors);
  return app;
}
