import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { Request, RequestHandler, Response } from 'express';
import Joi from 'joi';
import type { Logger } from '../logger';
import { Invalid } from '../outcome';
import type { SipAddress } from '../values/sip-address';
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

function send(response: Response, status: number, envelope: Envelope): void {
  response.status(status).type('application/json').send(JSON.stringify(envelope));
}

export interface DispatcherOptions {
  readonly logger: Logger;
  readonly observers?: readonly RequestObserver[];
}

/** Serves every node at /api/<group>/<node>, mounted under /api. */
export function nodeDispatcher(nodes: Map<string, CompiledNode>, options: DispatcherOptions): RequestHandler {
  const { logger, observers = [] } = options;
  return async (request, response) => {
    const started = performance.now();
    const requestId = randomUUID();
    response.setHeader('X-Request-Id', requestId);
    const path = request.path.slice(1);
    const node = nodes.get(path);
    let outcome: Outcome = 'ok';
    let cause: string | undefined;
    let status = 200;
    if (!node) {
      status = 404;
      outcome = 'invalid';
      cause = 'node';
      send(response, status, { response: outcome, cause, detail: `no node ${path}` });
    } else if (request.method !== 'GET' && request.method !== 'POST') {
      status = 405;
      outcome = 'invalid';
      cause = 'method';
      response.setHeader('Allow', 'GET, POST');
      send(response, status, { response: outcome, cause, detail: 'use GET or POST' });
    } else {
      const context: NodeContext = { requestId, tokenName: null };
      try {
        const params = validateParameters(node, requestParameters(request));
        const result: NodeResult = await node.definition.handle(params, context);
        if (result instanceof PlainText) response.status(200).type('text/plain').send(result.text);
        else if (result instanceof StreamedList) await writeStreamed(response, result);
        else send(response, 200, { response: 'ok', ...result });
      } catch (error) {
        const mapped = errorToEnvelope(error);
        outcome = mapped.envelope.response;
        cause = mapped.envelope.cause;
        if (mapped.logged !== undefined) {
          const origin = mapped.logged as { message?: string; stack?: string; code?: string };
          logger.error('request failed', { request_id: requestId, node: path, cause, error: origin?.message, code: origin?.code, stack: origin?.stack });
        }
        if (response.headersSent) response.destroy();
        else send(response, 200, mapped.envelope);
      }
    }
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    logger.info('request', { request_id: requestId, node: path, method: request.method, outcome, cause, status, duration_ms: durationMs });
    for (const observer of observers) observer.finished({ node: path, outcome, cause, status, durationMs, requestId });
  };
}
