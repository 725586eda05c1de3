import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Request, RequestHandler, Response } from 'express';
import Joi from 'joi';
import type { Logger } from '../logger';
import { GatewayError, Invalid } from '../outcome';
import { redact } from '../logger';
import { auditScope, type AuditScope } from '../db/audit-scope';
import type { AuditRecord, AuditStore } from '../nodes/audit/audit-store';
import { Authenticator, presentedToken, scopeIncludes } from './auth';
import { formatSipAddress, type SipAddress } from '../values/sip-address';
import { errorToEnvelope, type Envelope, type Outcome } from './envelope';
import { PlainText, StreamedList, type NodeContext, type NodeDefinition, type NodeResult } from './node';
import { userFormKeys } from './params';

export interface CompiledNode {
  readonly definition: NodeDefinition;
  /** The whole parameter schema (the user form's keys included), compiled once. */
  readonly schema: Joi.ObjectSchema;
}

/** Something the registry calls around each request (auth, audit, metrics plug in here). */
export interface RequestObserver {
  finished(event: {
    node: string;
    outcome: Outcome;
    cause?: string;
    status: number;
    durationMs: number;
    requestId: string;
  }): void;
}

export function compileNodes(definitions: readonly NodeDefinition[]): Map<string, CompiledNode> {
  const compiled = new Map<string, CompiledNode>();
  for (const definition of definitions) {
    if (compiled.has(definition.path)) throw new Error(`node ${definition.path} is declared twice`);
    const keys = definition.userForm ? { ...userFormKeys, ...definition.params } : definition.params;
    compiled.set(definition.path, { definition, schema: Joi.object(keys).prefs(VALIDATION) });
  }
  return compiled;
}

const VALIDATION: Joi.ValidationOptions = {
  abortEarly: true,
  convert: true,
  allowUnknown: false,
  errors: { wrap: { label: false } },
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** GET takes the query; POST takes the query and the body, and a name given in both is refused. */
function requestParameters(request: Request): Record<string, unknown> {
  const query = request.query as Record<string, unknown>;
  if (request.method !== 'POST' || request.body === undefined) return query;
  if (!isPlainObject(request.body)) throw new Invalid('body', 'the body must be a JSON object or a form');
  const merged: Record<string, unknown> = { ...query };
  for (const [name, value] of Object.entries(request.body)) {
    if (Object.prototype.hasOwnProperty.call(merged, name)) throw new Invalid(name, `${name} is given twice`);
    merged[name] = value;
  }
  return merged;
}

function resolveUserForm(
  form: NodeDefinition['userForm'],
  params: Record<string, unknown>,
): SipAddress | undefined {
  const { user, username, domain } = params as { user?: SipAddress; username?: string; domain?: string };
  delete params.username;
  delete params.domain;
  const separate = username !== undefined || domain !== undefined;
  if (user !== undefined && separate) throw new Invalid('user', 'give either user or username and domain, not both');
  if (user !== undefined) return user;
  if (username !== undefined && domain === undefined) throw new Invalid('domain', 'domain is required with username');
  if (domain !== undefined && username === undefined) throw new Invalid('username', 'username is required with domain');
  if (username !== undefined && domain !== undefined) return { username, domain };
  if (form === 'required') throw new Invalid('user', 'give user, or username and domain');
  return undefined;
}

export function validateParameters(node: CompiledNode, raw: Record<string, unknown>): Record<string, unknown> {
  const { error, value } = node.schema.validate(raw);
  if (error) {
    const detail = error.details[0];
    if (detail.type === 'object.unknown') {
      throw new Invalid('parameter', `unknown parameter ${String(detail.path[0] ?? detail.context?.key)}`);
    }
    throw new Invalid(String(detail.path[0] ?? 'parameter'), detail.message);
  }
  const params = value as Record<string, unknown>;
  if (node.definition.userForm) {
    const user = resolveUserForm(node.definition.userForm, params);
    if (user === undefined) delete params.user;
    else params.user = user;
  }
  return params;
}

async function writeStreamed(response: Response, result: StreamedList): Promise<void> {
  const head = JSON.stringify({ response: 'ok', ...result.head });
  response.status(200).type('application/json');
  let chunk = `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}${JSON.stringify(result.member)}:[`;
  let first = true;
  for await (const item of result.items) {
    if (response.destroyed) break;
    chunk += (first ? '' : ',') + JSON.stringify(item);
    first = false;
    if (chunk.length >= 16384) {
      if (!response.write(chunk)) await once(response, 'drain');
      chunk = '';
    }
  }
  response.end(`${chunk}]}`);
}

// What response.type('application/json') sets (mime-types adds the charset); setting it directly,
// and statusCode instead of status() (whose checks these constant codes always pass), saves both
// lookups on every answer. send() still does the rest (Content-Length, HEAD, freshness).
const JSON_TYPE = 'application/json; charset=utf-8';

function send(response: Response, status: number, envelope: Envelope): void {
  response.statusCode = status;
  response.setHeader('Content-Type', JSON_TYPE);
  response.send(JSON.stringify(envelope));
}

export interface DispatcherOptions {
  readonly logger: Logger;
  readonly observers?: readonly RequestObserver[];
  /** Null when auth is off (AUTH_DISABLED=true). */
  readonly authenticator?: Authenticator | null;
  /** Where changes and refused changes are recorded. */
  readonly audit?: AuditStore;
  /** The longest a node may take before the client gets error/internal (the work itself goes on). */
  readonly requestTimeoutMs?: number;
}

interface Served {
  outcome: Outcome;
  cause?: string;
  status: number;
}

const AUDIT_VALUE_MAX = 256;

/** The parameters as an audit record keeps them: no secrets, no huge values. */
function auditParams(raw: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(redact(raw) as Record<string, unknown>)) {
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
    kept[name] = text.length > AUDIT_VALUE_MAX ? `${text.slice(0, AUDIT_VALUE_MAX)}…` : value;
  }
  return kept;
}

/** The address an audit record is about: the user, else an alias's destination. */
function auditSubject(params: Record<string, unknown>): string | null {
  const about = (params.user ?? params.destination) as SipAddress | undefined;
  return about && typeof about === 'object' ? formatSipAddress(about) : null;
}

/** Serves every node at /api/<group>/<node>, mounted under /api. */
export function nodeDispatcher(nodes: Map<string, CompiledNode>, options: DispatcherOptions): RequestHandler {
  const { logger, observers = [], authenticator = null, audit, requestTimeoutMs = 30_000 } = options;

  function refuse(response: Response, served: Served, detail: string): Served {
    send(response, served.status, { response: served.outcome, cause: served.cause, detail });
    return served;
  }

  async function run(node: CompiledNode, request: Request, response: Response, context: NodeContext): Promise<Served> {
    let params: Record<string, unknown> = {};
    try {
      params = validateParameters(node, requestParameters(request));
      const work = node.definition.handle(params, context);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new GatewayError('internal', `the request took longer than ${requestTimeoutMs} ms`)), requestTimeoutMs);
      });
      const result: NodeResult = await Promise.race([work, timeout]).finally(() => clearTimeout(timer));
      if (result instanceof PlainText) response.status(200).type('text/plain').send(result.text);
      else if (result instanceof StreamedList) await writeStreamed(response, result);
      else send(response, 200, { response: 'ok', ...result });
      return { outcome: 'ok', status: 200 };
    } catch (error) {
      const mapped = errorToEnvelope(error);
      if (mapped.logged !== undefined) {
        const origin = mapped.logged as { message?: string; stack?: string; code?: string };
        logger.error('request failed', { request_id: context.requestId, node: node.definition.path, cause: mapped.envelope.cause, error: origin?.message, code: origin?.code, stack: origin?.stack });
      }
      if (response.headersSent) response.destroy();
      else send(response, 200, mapped.envelope);
      return { outcome: mapped.envelope.response, cause: mapped.envelope.cause, status: 200 };
    } finally {
      context.subject = auditSubject(params);
    }
  }

  /** A change runs with its audit record, which its transaction commits (or, failing that, is written after). */
  async function runAudited(node: CompiledNode, request: Request, response: Response, context: NodeContext, started: number): Promise<Served> {
    if (!audit) return run(node, request, response, context);
    const raw = auditParams({ ...(request.query as Record<string, unknown>), ...(isPlainObject(request.body) ? request.body : {}) });
    const record = (served: Served): AuditRecord => ({
      token: context.tokenName,
      node: node.definition.path,
      params: raw,
      response: served.outcome,
      cause: served.cause ?? null,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
      subject: context.subject ?? null,
    });
    const scope: AuditScope = { recorded: false, write: (connection) => audit.write(record({ outcome: 'ok', status: 200 }), connection) };
    const served = await auditScope.run(scope, () => run(node, request, response, context));
    if (!scope.recorded) {
      await audit.write(record(served)).catch((error: Error) => logger.error('could not write the audit record', { node: node.definition.path, error: error.message }));
    }
    return served;
  }

  return async (request, response) => {
    const started = performance.now();
    const requestId = randomUUID();
    response.setHeader('X-Request-Id', requestId);
    const path = request.path.slice(1);
    const node = nodes.get(path);
    let served: Served;
    const client = authenticator ? authenticator.identify(presentedToken(request.headers)) : null;
    if (!node) {
      served = refuse(response, { outcome: 'invalid', cause: 'node', status: 404 }, `no node ${path}`);
    } else if (request.method !== 'GET' && request.method !== 'POST') {
      response.setHeader('Allow', 'GET, POST');
      served = refuse(response, { outcome: 'invalid', cause: 'method', status: 405 }, 'use GET or POST');
    } else if (authenticator && !client) {
      response.setHeader('WWW-Authenticate', 'Bearer');
      served = refuse(response, { outcome: 'invalid', cause: 'auth', status: 401 }, 'send a known token as Authorization: Bearer <token> or X-API-Key');
    } else if (client && !scopeIncludes(client.scope, node.definition.scope)) {
      served = refuse(response, { outcome: 'failed', cause: 'scope', status: 403 }, `${path} needs a token with scope ${node.definition.scope}`);
      if (audit && node.definition.scope !== 'read') {
        await audit
          .write({ token: client.name, node: path, params: {}, response: 'failed', cause: 'scope', durationMs: 0, subject: null })
          .catch((error: Error) => logger.error('could not write the audit record', { node: path, error: error.message }));
      }
    } else {
      const context: NodeContext = { requestId, tokenName: client?.name ?? null };
      served = node.definition.scope === 'read' ? await run(node, request, response, context) : await runAudited(node, request, response, context, started);
    }
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    logger.info('request', {
      request_id: requestId,
      node: path,
      method: request.method,
      token: client?.name,
      outcome: served.outcome,
      cause: served.cause,
      status: served.status,
      duration_ms: durationMs,
    });
    for (const observer of observers) observer.finished({ node: path, outcome: served.outcome, cause: served.cause, status: served.status, durationMs, requestId });
  };
}
