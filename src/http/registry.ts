import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import Joi from 'joi';
import type { Logger } from '../logger';
import { GatewayError, Invalid } from '../outcome';
import { redact } from '../logger';
import type { ChangeScope } from '../db/change-scope';
import type { AuditRecord, AuditStore } from '../nodes/audit/audit-store';
import { scopeIncludes, type Client } from './auth';
import { sourceAddress, type Gatekeeper } from './gatekeeper';
import type { LongWorkGate } from './long-work';
import { duplicateKeyOf } from './duplicate-keys';
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
    /** Whether `node` names a node (false: an unknown path, whatever it was answered). */
    known: boolean;
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

/** A parameter given twice, named by its name; one without a name (`"": …`) is no parameter of any node. */
function givenTwice(name: string): Invalid {
  return name === '' ? new Invalid('parameter', 'a parameter without a name is given twice') : new Invalid(name, `${name} is given twice`);
}

/** GET takes the query; POST takes the query and the body, and a name given in both is refused. */
function requestParameters(request: Request): Record<string, unknown> {
  const query = request.query as Record<string, unknown>;
  if (request.method !== 'POST' || request.body === undefined) return query;
  if (!isPlainObject(request.body)) throw new Invalid('body', 'the body must be a JSON object or a form');
  const duplicate = duplicateKeyOf(request);
  if (duplicate !== undefined) throw givenTwice(duplicate);
  // No prototype: a body member named __proto__ stays a member (and is refused as unknown)
  // instead of becoming the prototype, whose members the schema would then take as parameters.
  const merged: Record<string, unknown> = Object.assign(Object.create(null) as Record<string, unknown>, query);
  for (const [name, value] of Object.entries(request.body)) {
    if (Object.prototype.hasOwnProperty.call(merged, name)) throw givenTwice(name);
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

/**
 * Waits until the client takes more ('drain'); a client that went away never drains ('close'), and
 * one that stops reading is dropped after `stallMs`. Either way the list's reader is then closed by
 * the caller's loop, which gives its MySQL connection back (it held one for the whole stream).
 */
function drained(response: Response, stallMs: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    const timer = setTimeout(() => {
      response.destroy();
      done();
    }, stallMs);
    response.once('drain', done);
    response.once('close', done);
  });
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function writeStreamed(response: Response, result: StreamedList, stallMs: number): Promise<void> {
  const head = JSON.stringify({ response: 'ok', ...result.head });
  response.status(200).type('application/json');
  let chunk = `${head.slice(0, -1)}${head.length > 2 ? ',' : ''}${JSON.stringify(result.member)}:[`;
  let first = true;
  for await (const item of result.items) {
    if (response.destroyed) break;
    chunk += (first ? '' : ',') + JSON.stringify(item);
    first = false;
    if (chunk.length >= 16384) {
      if (!response.write(chunk) && !response.destroyed) await drained(response, stallMs);
      // A turn of the event loop per chunk, drained or not: buffered rows resolve the loop in
      // microtasks, and a socket write that completes at once emits 'drain' on the next tick, so
      // without it a whole list ran as one task and held every other request (bench section 6:
      // user/get p99 1.8 s under 20 full lists, 14 ms with it).
      await yieldToEventLoop();
      chunk = '';
    }
  }
  if (!response.destroyed) response.end(`${chunk}]}`);
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** A change's handle on its deadline: the scope it commits under, and how to tell it to stop. */
interface DeadlineControl {
  readonly scope: ChangeScope;
  readonly stop: AbortController;
}

/**
 * A deadline is an answer, not a cancellation (CONTRACT section 7). When `milliseconds` pass, the
 * request is answered error/internal unless its change has begun to commit; a change is told to
 * stop first, so it stops before its COMMIT (withTransaction checks, and undoes on the PBX what it
 * did there) and nothing answered error commits later. A change that is committing is answered by
 * its outcome; only one still not done another `milliseconds` later (MySQL hanging without an
 * answer) is answered error/db with its outcome unknown.
 */
function withDeadline<T>(work: Promise<T>, milliseconds: number, change?: DeadlineControl): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer = setTimeout(() => {
      if (change?.scope.committing) {
        timer = setTimeout(() => reject(new GatewayError('db', `the change did not end within ${2 * milliseconds} ms; its outcome is unknown`)), milliseconds);
        return;
      }
      change?.stop.abort();
      reject(new GatewayError('internal', `the request took longer than ${milliseconds} ms; nothing was changed`));
    }, milliseconds);
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
  /** Who a request comes from and whether it may go on (auth and limits); absent: everyone, unlimited. */
  readonly gatekeeper?: Gatekeeper;
  /** Bounds the MySQL connections long work (full lists, add_range, sync) holds at once. */
  readonly longWork?: LongWorkGate;
  /** Where changes and refused changes are recorded. */
  readonly audit?: AuditStore;
  /** The longest a node may take before the client gets error/internal (the work itself goes on). */
  readonly requestTimeoutMs?: number;
  /** Parses a request body (JSON or form) into request.body; rejects as body-parser does. */
  readonly readBody?: (request: Request, response: Response) => Promise<void>;
  /** Headers every node answer carries (security headers), as a flat name, value list. */
  readonly headers?: readonly string[];
}

interface Served {
  readonly outcome: Outcome;
  readonly cause?: string;
  readonly status: number;
}

const OK: Served = { outcome: 'ok', status: 200 };

/** Without a gatekeeper: everyone, unlimited. */
const OPEN = { client: null, refusal: null, release: () => undefined } as const;

/** The refusal of a body its parser refused: 413 when too large, else 400 (CONTRACT section 3); null for anything else. */
function bodyRefusal(error: unknown): [Served, string] | null {
  const { type, limit, status, expose } = error as { type?: string; limit?: number; status?: number; expose?: boolean };
  if (type === undefined && !(expose === true && typeof status === 'number' && status >= 400 && status < 500)) return null;
  if (type === 'entity.too.large') return [{ outcome: 'invalid', cause: 'body', status: 413 }, `the body is larger than ${limit ?? 'the limit of'} bytes`];
  // body-parser's refusals carry a type, but not all: a body that fails to inflate (Content-Encoding
  // gzip or br over bytes that are not) is a bare client error; either way the body does not parse.
  return [{ outcome: 'invalid', cause: 'body', status: 400 }, 'the body does not parse'];
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

/** Whether this request is long work: a node's flag, or its judgement of the parameters (a whole list, not a page). */
function isLongWork(definition: NodeDefinition, params: Record<string, unknown>): boolean {
  const { longWork } = definition;
  return typeof longWork === 'function' ? longWork(params) : longWork === true;
}

/** Whether a node may change something (and so is audited): not read nodes, nor admin reads like audit/list. */
function changes(node: CompiledNode): boolean {
  return node.definition.scope !== 'read' && node.definition.readOnly !== true;
}

/** Whether the request has a body to parse (type-is's rule: Transfer-Encoding, or a numeric Content-Length). */
function hasBody(request: Request): boolean {
  return request.headers['transfer-encoding'] !== undefined || !Number.isNaN(Number(request.headers['content-length']));
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The client's own X-Request-Id when it is well-formed (CONTRACT section 3), else null (one is made). */
export function ownRequestId(request: { headers: Request['headers'] }): string | null {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : null;
}

/** The prefix of node paths; `/api/openapi.json` and `/api/docs` are not nodes and pass on. */
const API_PREFIX = '/api/';

function isNodePath(path: string): boolean {
  if (!path.startsWith(API_PREFIX)) return false;
  return path !== '/api/openapi.json' && path !== '/api/docs' && !path.startsWith('/api/docs/');
}

/**
 * Serves every node at /api/<group>/<node>; mounted on the app itself (no path), it passes every
 * other path on. Per request: the rate limit, the body, the client's scope, the node (audited when
 * it changes something), one log line and the observers.
 */
export function nodeDispatcher(nodes: Map<string, CompiledNode>, options: DispatcherOptions): RequestHandler {
  const { logger, observers = [], gatekeeper, longWork, audit, requestTimeoutMs = 30_000, readBody, headers = [] } = options;

  /**
   * Writes a JSON answer with one writeHead of a flat header list: the security headers, the
   * request id and whatever the outcome adds. No header object is built and nothing is checked
   * twice, which on a primary-key read is a measurable share of the work (docs/decisions/005).
   */
  function send(response: Response, status: number, envelope: Envelope, requestId: string, extra: readonly string[] = []): void {
    const body = JSON.stringify(envelope);
    response.writeHead(status, [...headers, 'X-Request-Id', requestId, ...extra, 'Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(body))]);
    response.end(body);
  }

  /** Answers a refusal (the envelope of `served`, with `detail`) and returns what was served. */
  function refuse(response: Response, requestId: string, served: Served, detail: string, extra?: readonly string[]): Served {
    send(response, served.status, { response: served.outcome, cause: served.cause, detail }, requestId, extra);
    return served;
  }

  /** For answers written through express (plain text, streamed lists): the same headers, one by one. */
  function setHeaders(response: Response, requestId: string): void {
    for (let index = 0; index < headers.length; index += 2) response.setHeader(headers[index], headers[index + 1]);
    response.setHeader('X-Request-Id', requestId);
  }

  /** Serves one node; `beforeAnswer` runs once the outcome is known and before the client hears it. */
  async function run(
    node: CompiledNode,
    request: Request,
    response: Response,
    context: NodeContext,
    beforeAnswer?: (served: Served) => Promise<void>,
    change?: DeadlineControl,
  ): Promise<Served> {
    let leave: (() => void) | null = null;
    try {
      const params = validateParameters(node, requestParameters(request));
      // Long work waits its turn for one of a bounded share of the pool, held until its answer is out.
      if (longWork && isLongWork(node.definition, params)) leave = await longWork.enter();
      // Before the work: a transaction that commits the change writes the audit record with it.
      if (context.audit) context.subject = auditSubject(params);
      const result: NodeResult = await withDeadline(node.definition.handle(params, context), requestTimeoutMs, change);
      if (beforeAnswer) await beforeAnswer(OK);
      if (result instanceof PlainText) {
        setHeaders(response, context.requestId);
        response.status(200).type('text/plain').send(result.text);
      } else if (result instanceof StreamedList) {
        setHeaders(response, context.requestId);
        await writeStreamed(response, result, requestTimeoutMs);
      } else send(response, 200, { response: 'ok', ...result }, context.requestId);
      return OK;
    } catch (error) {
      const mapped = errorToEnvelope(error);
      if (mapped.logged !== undefined) {
        const origin = mapped.logged as { message?: string; stack?: string; code?: string };
        logger.error('request failed', { request_id: context.requestId, node: node.definition.path, cause: mapped.envelope.cause, error: origin?.message, code: origin?.code, stack: origin?.stack });
      }
      const served: Served = { outcome: mapped.envelope.response, cause: mapped.envelope.cause, status: 200 };
      if (beforeAnswer) await beforeAnswer(served);
      if (response.headersSent) response.destroy();
      else send(response, 200, mapped.envelope, context.requestId);
      return served;
    } finally {
      leave?.();
    }
  }

  /** A change runs with its audit record, which its transaction commits (or, failing that, is written after). */
  async function runAudited(
    node: CompiledNode,
    request: Request,
    response: Response,
    context: NodeContext,
    started: number,
    marker: string,
  ): Promise<Served> {
    if (!audit) return run(node, request, response, context);
    const params = auditParams({ ...(request.query as Record<string, unknown>), ...(isPlainObject(request.body) ? request.body : {}) });
    const record = (served: Served): AuditRecord => ({
      requestId: marker,
      token: context.tokenName,
      node: node.definition.path,
      params,
      response: served.outcome,
      cause: served.cause ?? null,
      durationMs: Math.round((performance.now() - started) * 100) / 100,
      subject: context.subject ?? null,
    });
    // The id of the ok record a committed transaction wrote (set before its commit; used once committed).
    let committedId: number | undefined;
    let settled = false;
    const stop = new AbortController();
    const scope: ChangeScope = {
      requestId: marker,
      recorded: false,
      committing: false,
      signal: stop.signal,
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
    context.audit = scope;
    return run(node, request, response, context, settle, { scope, stop });
  }

  /** Everything after the rate limit and the body: the node's lookup, the client's scope, the node. */
  async function serve(
    request: Request,
    response: Response,
    path: string,
    node: CompiledNode | undefined,
    client: Client | null,
    started: number,
    requestId: string,
    generated: boolean,
  ): Promise<Served> {
    if (!node) return refuse(response, requestId, { outcome: 'invalid', cause: 'node', status: 404 }, `no node ${path}`);
    if (request.method !== 'GET' && request.method !== 'POST') {
      return refuse(response, requestId, { outcome: 'invalid', cause: 'method', status: 405 }, 'use GET or POST', ['Allow', 'GET, POST']);
    }
    if (client && !scopeIncludes(client.scope, node.definition.scope)) {
      if (audit && changes(node)) {
        await audit
          .write({ token: client.name, node: path, params: {}, response: 'failed', cause: 'scope', durationMs: 0, subject: null })
          .catch((error: Error) => logger.error('could not write the audit record', { node: path, error: error.message }));
      }
      return refuse(response, requestId, { outcome: 'failed', cause: 'scope', status: 403 }, `${path} needs a token with scope ${node.definition.scope}`);
    }
    // The body is read only now, for a known client on a node it may call (an anonymous body is never read).
    if (readBody && hasBody(request)) {
      try {
        await readBody(request, response);
      } catch (error) {
        const refusal = bodyRefusal(error);
        if (refusal === null) throw error;
        return refuse(response, requestId, ...refusal);
      }
    }
    if (request.method === 'POST' && request.body === undefined && hasBody(request)) {
      const detail = 'send parameters as application/json or application/x-www-form-urlencoded';
      return refuse(response, requestId, { outcome: 'invalid', cause: 'body', status: 400 }, detail);
    }
    const context: NodeContext = { requestId, tokenName: client?.name ?? null };
    // The commit marker (audit_log.request_id) must be unique: a client's own X-Request-Id may repeat
    // (a retry), so a change whose id the client chose commits under an id of its own.
    const marker = generated ? requestId : randomUUID();
    return changes(node) ? runAudited(node, request, response, context, started, marker) : run(node, request, response, context);
  }

  function finish(request: Request, path: string, known: boolean, client: Client | null, served: Served, started: number, requestId: string): void {
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    logger.request({
      request_id: requestId,
      node: path,
      method: request.method,
      client: client?.name,
      address: sourceAddress(request),
      outcome: served.outcome,
      cause: served.cause,
      status: served.status,
      duration_ms: durationMs,
    });
    for (const observer of observers) observer.finished({ node: path, known, outcome: served.outcome, cause: served.cause, status: served.status, durationMs, requestId });
  }

  return (request, response, next) => {
    const url = request.path;
    if (!isNodePath(url)) {
      next();
      return;
    }
    const started = performance.now();
    const own = ownRequestId(request);
    const requestId = own ?? randomUUID();
    const path = url.slice(API_PREFIX.length);
    const node = nodes.get(path);
    // Auth and limits come first: an anonymous caller learns nothing (not even 404) and sends no body.
    const admission = gatekeeper?.admit(request) ?? OPEN;
    const { client, refusal } = admission;
    if (refusal) {
      const served = refuse(response, requestId, { outcome: refusal.outcome, cause: refusal.cause, status: refusal.status }, refusal.detail, refusal.headers);
      finish(request, path, node !== undefined, client, served, started, requestId);
      return;
    }
    serve(request, response, path, node, client, started, requestId, own === null).then(
      (served) => {
        admission.release();
        finish(request, path, node !== undefined, client, served, started, requestId);
      },
      (error: unknown) => {
        admission.release();
        next(error);
      },
    );
  };
}

