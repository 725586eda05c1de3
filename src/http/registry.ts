import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Request, RequestHandler, Response } from 'express';
import Joi from 'joi';
import type { Logger } from '../logger';
import { GatewayError, Invalid } from '../outcome';
import { redact } from '../logger';
import { auditScope, type AuditScope } from '../db/audit-scope';
import type { AuditRecord, AuditStore } from '../nodes/audit/audit-store';
import { clientOf, scopeIncludes, type Authenticator } from './auth';
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
  // No prototype: a body member named __proto__ stays a member (and is refused as unknown)
  // instead of becoming the prototype, whose members the schema would then take as parameters.
  const merged: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, query);
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

/**
 * The work's outcome, or GatewayError internal when `milliseconds` pass first (the work itself goes
 * on, and its late outcome is ignored). One promise per request instead of a race of two plus a finally.
 */
function withDeadline<T>(work: Promise<T>, milliseconds: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new GatewayError('internal', `the request took longer than ${milliseconds} ms`)), milliseconds);
    Promise.resolve(work).then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
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
    let text: string;
    try {
      text = typeof value === 'string' ? value : JSON.stringify(value) ?? '';
    } catch {
      // A JSON body may nest thousands deep within the size limit, past what JSON.stringify can
      // recurse (RangeError, which was an HTTP 500): the request is refused anyway; keep a marker.
      kept[name] = '[nested too deeply]';
      continue;
    }
    kept[name] = text.length > AUDIT_VALUE_MAX ? `${text.slice(0, AUDIT_VALUE_MAX)}…` : value;
  }
  return kept;
}

/** The address an audit record is about: the user, else an alias's destination. */
function auditSubject(params: Record<string, unknown>): string | null {
  const about = (params.user ?? params.destination) as SipAddress | undefined;
  return about && typeof about === 'object' ? formatSipAddress(about) : null;
}

/** Whether a node may change something (and so is audited): not read nodes, nor admin reads like audit/list. */
function changes(node: CompiledNode): boolean {
  return node.definition.scope !== 'read' && node.definition.readOnly !== true;
}

/** Serves every node at /api/<group>/<node>, mounted under /api. */
export function nodeDispatcher(nodes: Map<string, CompiledNode>, options: DispatcherOptions): RequestHandler {
  const { logger, observers = [], authenticator = null, audit, requestTimeoutMs = 30_000 } = options;

  function refuse(response: Response, served: Served, detail: string): Served {
    send(response, served.status, { response: served.outcome, cause: served.cause, detail });
    return served;
  }

  /** Serves one node; `beforeAnswer` runs once the outcome is known and before the client hears it. */
  async function run(
    node: CompiledNode,
    request: Request,
    response: Response,
    context: NodeContext,
    beforeAnswer: (served: Served) => Promise<void> = async () => undefined,
  ): Promise<Served> {
    let params: Record<string, unknown> = {};
    try {
      params = validateParameters(node, requestParameters(request));
      // Before the work: a transaction that commits the change writes the audit record with it.
      context.subject = auditSubject(params);
      const result: NodeResult = await withDeadline(node.definition.handle(params, context), requestTimeoutMs);
      await beforeAnswer({ outcome: 'ok', status: 200 });
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
      const served: Served = { outcome: mapped.envelope.response, cause: mapped.envelope.cause, status: 200 };
      await beforeAnswer(served);
      if (response.headersSent) response.destroy();
      else send(response, 200, mapped.envelope);
      return served;
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
    // The id of the ok record a committed transaction wrote (set before its commit; used once committed).
    let committedId: number | undefined;
    let settled = false;
    const scope: AuditScope = {
      recorded: false,
      write: async (connection) => {
        committedId = await audit.write(record({ outcome: 'ok', status: 200 }), connection);
      },
    };
    // Before the client hears the answer, the trail has it: written now when no transaction did, or
    // amended when one committed an ok record and the request then ended otherwise (e.g. a later step failed).
    const settle = async (served: Served): Promise<void> => {
      if (settled) return;
      settled = true;
      const settling = !scope.recorded
        ? audit.write(record(served))
        : served.outcome !== 'ok' && committedId !== undefined
          ? audit.amend(committedId, record(served))
          : Promise.resolve();
      await settling.catch((error: Error) => logger.error('could not write the audit record', { node: node.definition.path, error: error.message }));
    };
    return auditScope.run(scope, () => run(node, request, response, context, settle));
  }

  return async (request, response) => {
    const started = performance.now();
    const requestId = randomUUID();
    response.setHeader('X-Request-Id', requestId);
    const path = request.path.slice(1);
    const node = nodes.get(path);
    let served: Served;
    const client = authenticator ? clientOf(authenticator, request) : null;
    if (!node) {
      served = refuse(response, { outcome: 'invalid', cause: 'node', status: 404 }, `no node ${path}`);
    } else if (request.method !== 'GET' && request.method !== 'POST') {
      response.setHeader('Allow', 'GET, POST');
      served = refuse(response, { outcome: 'invalid', cause: 'method', status: 405 }, 'use GET or POST');
    } else if (authenticator && !client) {
      response.setHeader('WWW-Authenticate', 'Bearer');
      served = refuse(response, { outcome: 'invalid', cause: 'auth', status: 401 }, 'send a known token as Authorization: Bearer <token> or X-API-Key');
    } else if (client && !scopeIncludes(client.scope, node.definition.scope)) {
      if (audit && changes(node)) {
        await audit
          .write({ token: client.name, node: path, params: {}, response: 'failed', cause: 'scope', durationMs: 0, subject: null })
          .catch((error: Error) => logger.error('could not write the audit record', { node: path, error: error.message }));
      }
      served = refuse(response, { outcome: 'failed', cause: 'scope', status: 403 }, `${path} needs a token with scope ${node.definition.scope}`);
    } else {
      const context: NodeContext = { requestId, tokenName: client?.name ?? null };
      served = changes(node) ? await runAudited(node, request, response, context, started) : await run(node, request, response, context);
    }
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    logger.info('request', {
      request_id: requestId,
      node: path,
      method: request.method,
      // The token's name; a key named `token` would be redacted by the logger (it looks like a secret).
      client: client?.name,
      outcome: served.outcome,
      cause: served.cause,
      status: served.status,
      duration_ms: durationMs,
    });
    for (const observer of observers) observer.finished({ node: path, outcome: served.outcome, cause: served.cause, status: served.status, durationMs, requestId });
  };
}
