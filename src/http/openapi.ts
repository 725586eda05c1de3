import parse from 'joi-to-json';
import type { CompiledNode } from './registry';
import { objectOf, sharedSchemas, type Schema } from './answer-schemas';
import { GENERATED_PASSWORD } from '../values/password';

// The OpenAPI 3 document (CONTRACT section 3): each node's parameters from the joi schemas that
// validate them, its ok answer member by member from its `answers` (answer-schemas.ts), its own
// failure causes, the scope it needs and every refusal. Each node's answer is a oneOf over
// `response` of named schemas (UserGetOk, UserGetFailed, Invalid, Error), so a generated client
// narrows it with `response === 'ok'`.

type JsonObject = Record<string, unknown>;

const schemaRef = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string): Schema => ({ $ref: `#/components/responses/${name}` });

/** 'user/add_local' → 'UserAddLocal': the stem of a node's schema names. */
function schemaStem(path: string): string {
  return path
    .split(/[/_]/)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

/** An envelope other than ok: `response`, `cause` and `detail`, all present. */
function envelopeOf(outcome: string, cause: Schema, description: string): Schema {
  return {
    type: 'object',
    description,
    required: ['response', 'cause', 'detail'],
    properties: {
      response: { type: 'string', enum: [outcome] },
      cause,
      detail: { type: 'string', description: 'What happened, in words.' },
    },
  };
}

const keyword = (value: string, description?: string): Schema => ({ type: 'string', enum: [value], ...(description ? { description } : {}) });

const requestIdHeader = { $ref: '#/components/headers/X-Request-Id' };

/** A refusal before the node runs (CONTRACT section 3): its status, outcome and cause. */
function refusal(description: string, schema: string, headers: JsonObject = {}): JsonObject {
  return {
    description,
    headers: { 'X-Request-Id': requestIdHeader, ...headers },
    content: { 'application/json': { schema: schemaRef(schema) } },
  };
}

const REFUSAL_SCHEMAS: Record<string, Schema> = {
  BodyRefusal: envelopeOf('invalid', keyword('body'), 'invalid/body: the body does not parse (400), or is larger than the limit (413).'),
  AuthRefusal: envelopeOf('invalid', keyword('auth'), 'invalid/auth: no token, or one the gateway does not know (or revoked, or expired).'),
  ScopeRefusal: envelopeOf('failed', keyword('scope'), "failed/scope: the token's scope does not include the node's."),
  NodeRefusal: envelopeOf('invalid', keyword('node'), 'invalid/node: no such node.'),
  MethodRefusal: envelopeOf('invalid', keyword('method'), 'invalid/method: a method other than GET or POST.'),
  RateRefusal: envelopeOf('failed', keyword('rate'), 'failed/rate: too many requests; wait Retry-After seconds.'),
  EventRefusal: envelopeOf(
    'invalid',
    { type: 'string', enum: ['body', 'event_name', 'exten'] },
    'invalid/body: the body does not parse or is not a JSON object; invalid/event_name: no event_name; invalid/exten: an extension event without its number.',
  ),
};

const REFUSALS: Record<string, JsonObject> = {
  BadBody: refusal('invalid/body: the body does not parse, or is not a JSON object or a form.', 'BodyRefusal'),
  Unauthorized: refusal('invalid/auth: no token, or an unknown one.', 'AuthRefusal', {
    'WWW-Authenticate': { description: 'Bearer', schema: { type: 'string', enum: ['Bearer'] } },
  }),
  NoNode: refusal('invalid/node: no such node (a gateway of another version).', 'NodeRefusal'),
  MethodNotAllowed: refusal('invalid/method: only GET and POST are served.', 'MethodRefusal', {
    Allow: { description: 'GET, POST', schema: { type: 'string' } },
  }),
  TooLarge: refusal('invalid/body: the body is larger than the limit (64 kB by default).', 'BodyRefusal'),
  TooManyRequests: refusal(
    'failed/rate: more than MAX_IN_FLIGHT (32) requests of this token in flight, or past its rate_per_minute; ' +
      'or, without a known token, more than UNAUTHENTICATED_PER_MINUTE (60) such requests from this address in the current minute.',
    'RateRefusal',
    { 'Retry-After': { description: 'Seconds to wait before trying again.', required: true, schema: { type: 'integer', minimum: 1 } } },
  ),
};

const ANSWER_SCHEMAS: Record<string, Schema> = {
  Invalid: envelopeOf(
    'invalid',
    {
      type: 'string',
      description:
        'The first offending parameter; `user` when both or neither user form is given; `parameter` for an unknown parameter; ' +
        '`body` for a body that is not an object; or a cause the node names.',
    },
    'invalid: the request is malformed.',
  ),
  Error: envelopeOf(
    'error',
    { type: 'string', enum: ['db', 'pbx', 'internal'], description: 'db: MySQL; pbx: the PBX did not answer as it should; internal: a bug or a deadline.' },
    'error: the gateway could not do its job. A change answered error changed nothing, except error/db whose detail says its outcome is unknown.',
  ),
};

const SCOPE_NOTE: Record<string, string> = {
  read: 'Needs a token with scope read (any token).',
  write: 'Needs a token with scope write or admin.',
  admin: 'Needs a token with scope admin.',
};

/** A node's own causes, split by outcome. */
function causesOf(node: CompiledNode): { failed: [string, string][]; invalid: [string, string][] } {
  const failed: [string, string][] = [];
  const invalid: [string, string][] = [];
  for (const [cause, meaning] of Object.entries(node.definition.failures ?? {})) {
    if (typeof meaning === 'string') failed.push([cause, meaning]);
    else invalid.push([cause, meaning.invalid]);
  }
  return { failed, invalid };
}

/** The schemas a node adds to the components: its ok answer and, when it has failed causes, its failed answer. */
function nodeSchemas(node: CompiledNode): Record<string, Schema> {
  const { definition } = node;
  const stem = schemaStem(definition.path);
  const { failed } = causesOf(node);
  const schemas: Record<string, Schema> = {};
  if (!definition.plainText) {
    schemas[`${stem}Ok`] = objectOf({ response: keyword('ok'), ...definition.answers }, `The ok answer of ${definition.path}.`);
  }
  if (failed.length > 0) {
    schemas[`${stem}Failed`] = envelopeOf(
      'failed',
      { type: 'string', enum: failed.map(([cause]) => cause), description: failed.map(([cause, meaning]) => `${cause}: ${meaning}`).join('; ') },
      'failed: a well-formed request that cannot be done.',
    );
  }
  return schemas;
}

/** The 200 answer: one schema per outcome, told apart by `response`. */
function answerSchema(variants: [string, string][]): Schema {
  return {
    oneOf: variants.map(([, name]) => schemaRef(name)),
    discriminator: { propertyName: 'response', mapping: Object.fromEntries(variants.map(([outcome, name]) => [outcome, `#/components/schemas/${name}`])) },
  };
}

function okResponse(node: CompiledNode): JsonObject {
  const { definition } = node;
  const stem = schemaStem(definition.path);
  const hasFailed = causesOf(node).failed.length > 0;
  const headers = { 'X-Request-Id': requestIdHeader };
  if (definition.plainText) {
    return {
      description: 'ok: the password alone, as text/plain; anything else is the JSON envelope.',
      headers,
      content: {
        'text/plain': { schema: { type: 'string', pattern: GENERATED_PASSWORD.source, example: 'Hx7kPq3ZmW9a' } },
        'application/json': { schema: answerSchema([['invalid', 'Invalid'], ['error', 'Error']]) },
      },
    };
  }
  const variants: [string, string][] = [['ok', `${stem}Ok`], ['invalid', 'Invalid'], ...(hasFailed ? [['failed', `${stem}Failed`] as [string, string]] : []), ['error', 'Error']];
  return {
    description: `Every outcome, told apart by \`response\`: ${variants.map(([outcome]) => outcome).join(', ')}.`,
    headers,
    content: { 'application/json': { schema: answerSchema(variants) } },
  };
}

interface ParameterSchemas {
  readonly properties: Record<string, JsonObject>;
  readonly required: Set<string>;
  /** What the docs page fills in for "Try it out": one valid request. */
  readonly examples: Record<string, unknown>;
}

/**
 * The parameters as joi-to-json writes them. The docs page fills in every example, so a request
 * "Try it out" makes must be valid: with an optional user form (phone/get, audit/list) the user's
 * example is left out, as it would clash with the node's own parameters.
 */
function parameterSchemas(node: CompiledNode): ParameterSchemas {
  const schema = parse(node.schema as never, 'open-api') as { properties?: Record<string, JsonObject>; required?: string[] };
  const properties: Record<string, JsonObject> = {};
  const examples: Record<string, unknown> = {};
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    const { example, 'x-pattern': pattern, ...rest } = property;
    if (pattern !== undefined) rest.pattern = pattern;
    const dropped = node.definition.userForm === 'optional' && name === 'user';
    if (example !== undefined && !dropped) examples[name] = example;
    properties[name] = example !== undefined && !dropped ? { ...rest, example } : rest;
  }
  return { properties, required: new Set(schema.required ?? []), examples };
}

function operation(node: CompiledNode, method: 'get' | 'post'): JsonObject {
  const { definition } = node;
  const { properties, required, examples } = parameterSchemas(node);
  const [group] = definition.path.split('/');
  const { failed, invalid } = causesOf(node);
  const outcomes = [
    ...failed.map(([cause, meaning]) => `failed \`${cause}\`: ${meaning}`),
    ...invalid.map(([cause, meaning]) => `invalid \`${cause}\`: ${meaning}`),
  ].join('; ');
  const userNote = definition.userForm
    ? ` The user is given as \`user\`, or as \`username\` and \`domain\` (${definition.userForm === 'required' ? 'exactly one form' : 'at most one form'}).`
    : '';
  const operationObject: JsonObject = {
    tags: [group],
    operationId: `${method}_${definition.path.replace('/', '_')}`,
    summary: definition.summary,
    description: [definition.description ?? '', `${SCOPE_NOTE[definition.scope]}${userNote}`, outcomes ? `Other outcomes: ${outcomes}.` : '']
      .filter(Boolean)
      .join('\n\n'),
    'x-scope': definition.scope,
    // The same causes as the description's prose, for programs (pbxgw help): cause → meaning.
    'x-causes': { failed: Object.fromEntries(failed), invalid: Object.fromEntries(invalid) },
    security: [{ bearer: [] }, { apiKey: [] }],
    responses: {
      200: okResponse(node),
      400: responseRef('BadBody'),
      401: responseRef('Unauthorized'),
      403: {
        description: `failed/scope: the token's scope does not include ${definition.scope}.`,
        headers: { 'X-Request-Id': requestIdHeader },
        content: { 'application/json': { schema: schemaRef('ScopeRefusal') } },
      },
      404: responseRef('NoNode'),
      405: responseRef('MethodNotAllowed'),
      413: responseRef('TooLarge'),
      429: responseRef('TooManyRequests'),
    },
  };
  const requestId = { $ref: '#/components/parameters/X-Request-Id' };
  if (method === 'get') {
    operationObject.parameters = [
      ...Object.entries(properties).map(([name, property]) => ({
        name,
        in: 'query',
        required: required.has(name),
        description: property.description,
        schema: property,
        ...(name in examples ? { example: examples[name] } : {}),
      })),
      requestId,
    ];
  } else {
    const body: JsonObject = { type: 'object', properties, additionalProperties: false, ...(required.size > 0 ? { required: [...required] } : {}) };
    operationObject.parameters = [requestId];
    operationObject.requestBody = {
      required: required.size > 0,
      content: {
        'application/json': { schema: body, example: examples },
        'application/x-www-form-urlencoded': { schema: body, example: examples },
      },
    };
  }
  return operationObject;
}

/** POST /pbx/events (CONTRACT section 12): no node, but Simotel's calls on events (README, PBX events). */
function pbxEventsOperation(): JsonObject {
  const number = (description: string): Schema => ({ type: 'string', pattern: '^[0-9]{2,15}$', description });
  return {
    tags: ['pbx'],
    operationId: 'post_pbx_events',
    summary: "Takes a Simotel event (its AP Settings' URL): ExtenAdded and ExtenRemoved reconcile that extension in the background.",
    description:
      'Served only while PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD are set (otherwise 404, like any unknown path); authenticated with them as HTTP Basic. ' +
      'An event is only a hint: the gateway asks the PBX for that exact extension and reconciles it as pbx/sync with prune=true would, ' +
      'in PBX_EVENTS_DOMAIN: an extension without a record is imported, a record takes the name, e-mail and forwards the PBX has, and a local user ' +
      'whose extension is gone is removed unless hardphones or aliases point at it. Answered 204 at once; the work is done in the background ' +
      '(a few at a time; past a bound, events are dropped: a scheduled pbx/sync is the safety net). Other events, and numbers that are not 2–15 digits, ' +
      'are answered 204 and ignored. Changes are audited under the name pbx-events.',
    security: [{ pbxEvents: [] }],
    parameters: [{ $ref: '#/components/parameters/X-Request-Id' }],
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['event_name'],
            properties: {
              event_name: { type: 'string', description: 'ExtenAdded and ExtenRemoved are acted on; any other is ignored.', example: 'ExtenAdded' },
              exten: number('The extension number (a JSON number is taken too).'),
              number: number('The same, as some Simotel versions name it; `exten` wins when both are given.'),
            },
          },
          example: { event_name: 'ExtenAdded', exten: '1001' },
        },
      },
    },
    responses: {
      204: { description: 'Taken: queued for reconciling, or a well-formed event the gateway ignores.', headers: { 'X-Request-Id': requestIdHeader } },
      400: refusal('invalid/body, invalid/event_name or invalid/exten: a malformed call.', 'EventRefusal'),
      401: refusal('invalid/auth: no Basic credentials, or not PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD.', 'AuthRefusal', {
        'WWW-Authenticate': { description: 'Basic realm="pbx-events", charset="UTF-8"', schema: { type: 'string' } },
      }),
      404: refusal('invalid/node: the endpoint is off (PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD unset).', 'NodeRefusal'),
      413: responseRef('TooLarge'),
      429: responseRef('TooManyRequests'),
    },
  };
}

/** The OpenAPI 3 document of every node, generated from the same joi schemas that validate requests. */
export function buildOpenApi(nodes: Map<string, CompiledNode>, version: string): JsonObject {
  const paths: JsonObject = {};
  const nodeComponents: Record<string, Schema> = {};
  const sorted = [...nodes.values()].sort((a, b) => a.definition.path.localeCompare(b.definition.path));
  for (const node of sorted) {
    paths[`/api/${node.definition.path}`] = { get: operation(node, 'get'), post: operation(node, 'post') };
    Object.assign(nodeComponents, nodeSchemas(node));
  }
  paths['/pbx/events'] = { post: pbxEventsOperation() };
  return {
    openapi: '3.0.3',
    info: {
      title: 'pbx-gateway',
      version,
      description:
        'Kamailio-style provisioning nodes. Every answer is a JSON envelope with `response` (ok, invalid, failed, error) and HTTP 200; ' +
        'each node documents its ok members and its own causes. GET with query parameters and POST (JSON or form) take the same parameters. ' +
        'Refusals before a node runs carry the envelope too: 400, 401, 403, 404, 405, 413, 429. ' +
        'A change answered `error` changed nothing, except when `cause` is `db` and `detail` says its outcome is unknown ' +
        '(MySQL stopped answering while it committed): look again before repeating it. Local users: see README, Consistency. ' +
        'Scopes: read nodes need read, changes need write, domains/* changes, pbx/sync, audit/list and tokens/* need admin ' +
        '(each scope includes the ones before it); `x-scope` on each operation names it.',
    },
    servers: [{ url: '/' }],
    tags: [...new Set([...nodes.keys()].map((path) => path.split('/')[0]))].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: { ...sharedSchemas, ...ANSWER_SCHEMAS, ...nodeComponents, ...REFUSAL_SCHEMAS },
      responses: REFUSALS,
      headers: {
        'X-Request-Id': { description: "The request's id, as in the gateway's log: the client's own X-Request-Id, or one the gateway made.", schema: { type: 'string' } },
      },
      parameters: {
        'X-Request-Id': {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description: 'Your own id for the request (1–128 of A-Z a-z 0-9 . _ -), answered back and logged.',
          schema: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' },
        },
      },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token>. The scope a node needs is its x-scope.' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'The same token in X-API-Key.' },
        pbxEvents: { type: 'http', scheme: 'basic', description: 'POST /pbx/events only: PBX_EVENTS_USERNAME and PBX_EVENTS_PASSWORD.' },
      },
    },
  };
}
