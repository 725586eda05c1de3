import parse from 'joi-to-json';
import type { CompiledNode } from './registry';

type JsonObject = Record<string, unknown>;

const SCOPE_NOTE: Record<string, string> = {
  read: 'Needs a token with scope read.',
  write: 'Needs a token with scope write.',
  admin: 'Needs a token with scope admin.',
};

const envelope: JsonObject = {
  type: 'object',
  required: ['response'],
  properties: {
    response: { type: 'string', enum: ['ok', 'invalid', 'failed', 'error'] },
    cause: { type: 'string', description: 'invalid: the first offending parameter; failed/error: a keyword.' },
    detail: { type: 'string', description: 'What happened, in words.' },
  },
  additionalProperties: true,
};

function refusal(description: string): JsonObject {
  return { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Envelope' } } } };
}

function operation(node: CompiledNode, method: 'get' | 'post'): JsonObject {
  const { definition } = node;
  const schema = parse(node.schema as never, 'open-api') as { properties?: Record<string, JsonObject>; required?: string[] };
  const properties = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const [group] = definition.path.split('/');
  const failures = Object.entries(definition.failures ?? {})
    .map(([cause, meaning]) => `\`${cause}\`: ${meaning}`)
    .join('; ');
  const answers = Object.entries(definition.answers)
    .map(([member, meaning]) => `\`${member}\`: ${meaning}`)
    .join('; ');
  const userNote = definition.userForm
    ? ` The user is given as \`user\`, or as \`username\` and \`domain\` (${definition.userForm === 'required' ? 'exactly one form' : 'at most one form'}).`
    : '';
  const operationObject: JsonObject = {
    tags: [group],
    operationId: `${method}_${definition.path.replace('/', '_')}`,
    summary: definition.summary,
    description: [
      `${SCOPE_NOTE[definition.scope]}${userNote}`,
      answers ? `ok answer: ${answers}.` : '',
      failures ? `Other outcomes: ${failures}.` : '',
    ]
      .filter(Boolean)
      .join('\n\n'),
    security: [{ bearer: [] }, { apiKey: [] }],
    responses: {
      200: definition.plainText
        ? { description: 'The password alone.', content: { 'text/plain': { schema: { type: 'string' } } } }
        : refusal('Every outcome: ok, invalid, failed or error (see `response`).'),
      400: refusal('invalid/body: the body does not parse.'),
      401: refusal('invalid/auth: no or unknown token.'),
      403: refusal('failed/scope: the token lacks the scope.'),
      413: refusal('The body is too large.'),
      429: {
        ...refusal(
          'failed/rate: more than MAX_IN_FLIGHT (32) requests of this token in flight, or past its rate_per_minute; ' +
            'or, without a known token, more than UNAUTHENTICATED_PER_MINUTE (60) such requests from this address in the current minute.',
        ),
        headers: { 'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer', minimum: 1 } } },
      },
    },
  };
  if (method === 'get') {
    operationObject.parameters = Object.entries(properties).map(([name, property]) => ({
      name,
      in: 'query',
      required: required.has(name),
      description: property.description,
      schema: property,
    }));
  } else {
    operationObject.requestBody = {
      required: required.size > 0,
      content: { 'application/json': { schema }, 'application/x-www-form-urlencoded': { schema } },
    };
  }
  return operationObject;
}

/** The OpenAPI 3 document of every node, generated from the same joi schemas that validate requests. */
export function buildOpenApi(nodes: Map<string, CompiledNode>, version: string): JsonObject {
  const paths: JsonObject = {};
  for (const node of [...nodes.values()].sort((a, b) => a.definition.path.localeCompare(b.definition.path))) {
    paths[`/api/${node.definition.path}`] = { get: operation(node, 'get'), post: operation(node, 'post') };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'pbx-gateway',
      version,
      description:
        'Kamailio-style provisioning nodes. Every answer is a JSON envelope with `response` (ok, invalid, failed, error) and HTTP 200; ' +
        'GET with query parameters and POST (JSON or form) take the same parameters. ' +
        'A change answered `error` changed nothing, except when `cause` is `db` and `detail` says its outcome is unknown ' +
        '(MySQL stopped answering while it committed): look again before repeating it. Local users: see README, Consistency.',
    },
    servers: [{ url: '/' }],
    tags: [...new Set([...nodes.keys()].map((path) => path.split('/')[0]))].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: { Envelope: envelope },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
    },
  };
}
