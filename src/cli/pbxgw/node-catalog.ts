// What pbxgw knows of the nodes, read from the gateway's own /api/openapi.json (src/http/openapi.ts
// writes it): so `pbxgw nodes` and `pbxgw help <group>/<node>` know every node the gateway they talk
// to serves, those added after this command was built included.

type Json = Record<string, unknown>;

export interface NodeEntry {
  readonly node: string;
  /** read, write or admin (the operation's x-scope); null from a document without it. */
  readonly scope: string | null;
  readonly summary: string;
}

export interface ParameterEntry {
  readonly name: string;
  readonly required: boolean;
  /** string, integer, boolean; with its format when it has one: 'string (date-time)'. */
  readonly type: string;
  readonly description: string;
  readonly pattern?: string;
  readonly enum?: readonly unknown[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly maxLength?: number;
  readonly example?: unknown;
}

export interface AnswerMember {
  readonly name: string;
  /** 'string', 'User', 'array of UserEntry', ... */
  readonly type: string;
  readonly required: boolean;
  readonly description: string;
}

export interface NodeDescription extends NodeEntry {
  /** The operation's description, without the prose list of outcomes when `causes` has them. */
  readonly description: string;
  readonly parameters: readonly ParameterEntry[];
  /** The ok answer: its members, or plain text (user/genpw: the body is the password alone). */
  readonly answer: { readonly plainText: boolean; readonly members: readonly AnswerMember[] };
  /** The node's own causes, cause → meaning. */
  readonly causes: { readonly failed: Readonly<Record<string, string>>; readonly invalid: Readonly<Record<string, string>> };
}

/** Thrown when the gateway's document is not the OpenAPI document pbxgw expects. */
export class NotAnOpenApiDocument extends Error {
  override readonly name = 'NotAnOpenApiDocument';
}

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

function pathsOf(document: Json): Json {
  if (!isObject(document.paths)) throw new NotAnOpenApiDocument('the gateway answered /api/openapi.json with a document that has no paths');
  return document.paths;
}

/** The operation a node is called with: POST (pbxgw's), else GET. */
function operationOf(item: unknown): Json | null {
  if (!isObject(item)) return null;
  if (isObject(item.post)) return item.post;
  return isObject(item.get) ? item.get : null;
}

/** Every node the document has, ordered by name. */
export function listNodes(document: Json): NodeEntry[] {
  const nodes: NodeEntry[] = [];
  for (const [path, item] of Object.entries(pathsOf(document))) {
    const operation = operationOf(item);
    if (!path.startsWith('/api/') || !operation) continue;
    nodes.push({ node: path.slice('/api/'.length), scope: typeof operation['x-scope'] === 'string' ? operation['x-scope'] : null, summary: text(operation.summary) });
  }
  return nodes.sort((a, b) => a.node.localeCompare(b.node));
}

/** `#/components/schemas/User` → that schema (refs followed), or the schema itself. */
function resolve(document: Json, schema: unknown, depth = 0): Json {
  if (!isObject(schema)) return {};
  const ref = schema.$ref;
  if (typeof ref !== 'string' || depth > 10) return schema;
  let target: unknown = document;
  for (const part of ref.replace(/^#\//, '').split('/')) target = isObject(target) ? target[part] : undefined;
  return resolve(document, target, depth + 1);
}

/** A member's type in words: the schema's name when it has one, `array of …`, or the JSON type. */
function typeName(schema: unknown): string {
  if (!isObject(schema)) return 'any';
  if (typeof schema.$ref === 'string') return schema.$ref.split('/').pop() ?? 'object';
  if (schema.type === 'array') return `array of ${typeName(schema.items)}`;
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(alternatives)) return alternatives.map(typeName).join(' or ');
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : text(schema.type) || 'any';
  return typeof schema.format === 'string' ? `${type} (${schema.format})` : type;
}

function parametersOf(operation: Json): ParameterEntry[] {
  const body = isObject(operation.requestBody) && isObject(operation.requestBody.content) ? operation.requestBody.content : {};
  const json = isObject(body['application/json']) ? body['application/json'] : {};
  let properties: [string, Json, boolean][] = [];
  if (isObject(json.schema) && isObject(json.schema.properties)) {
    const required = new Set(Array.isArray(json.schema.required) ? json.schema.required : []);
    properties = Object.entries(json.schema.properties).map(([name, schema]) => [name, isObject(schema) ? schema : {}, required.has(name)]);
  } else if (Array.isArray(operation.parameters)) {
    // A GET-only operation: its query parameters.
    properties = operation.parameters
      .filter((parameter): parameter is Json => isObject(parameter) && parameter.in === 'query' && typeof parameter.name === 'string')
      .map((parameter) => [parameter.name as string, { description: parameter.description, ...(isObject(parameter.schema) ? parameter.schema : {}) }, parameter.required === true]);
  }
  return properties.map(([name, schema, required]) => ({
    name,
    required,
    type: typeName(schema),
    description: text(schema.description),
    ...(typeof schema.pattern === 'string' ? { pattern: schema.pattern } : {}),
    ...(Array.isArray(schema.enum) ? { enum: schema.enum } : {}),
    ...(typeof schema.minimum === 'number' ? { minimum: schema.minimum } : {}),
    ...(typeof schema.maximum === 'number' ? { maximum: schema.maximum } : {}),
    ...(typeof schema.maxLength === 'number' ? { maxLength: schema.maxLength } : {}),
    ...(schema.example !== undefined ? { example: schema.example } : {}),
  }));
}

/** The 200 answer's schema for one outcome (ok, failed), from its discriminator mapping. */
function outcomeSchema(document: Json, operation: Json, outcome: string): Json | null {
  const ok = isObject(operation.responses) ? operation.responses['200'] : undefined;
  const content = isObject(ok) && isObject(ok.content) ? ok.content : {};
  const schema = isObject(content['application/json']) ? content['application/json'].schema : undefined;
  const mapping = isObject(schema) && isObject(schema.discriminator) && isObject(schema.discriminator.mapping) ? schema.discriminator.mapping : {};
  const ref = mapping[outcome];
  return typeof ref === 'string' ? resolve(document, { $ref: ref }) : null;
}

function answerOf(document: Json, operation: Json): NodeDescription['answer'] {
  const ok = outcomeSchema(document, operation, 'ok');
  if (!ok) return { plainText: true, members: [] };
  const required = new Set(Array.isArray(ok.required) ? ok.required : []);
  const members = Object.entries(isObject(ok.properties) ? ok.properties : {})
    .filter(([name]) => name !== 'response')
    .map(([name, schema]) => ({ name, type: typeName(schema), required: required.has(name), description: text(resolve(document, schema).description) }));
  return { plainText: false, members };
}

/** The node's causes: its x-causes, or (a gateway without them) the failed answer's cause enum. */
function causesOf(document: Json, operation: Json): NodeDescription['causes'] {
  const declared = operation['x-causes'];
  if (isObject(declared)) {
    const strings = (value: unknown): Record<string, string> =>
      Object.fromEntries(Object.entries(isObject(value) ? value : {}).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    return { failed: strings(declared.failed), invalid: strings(declared.invalid) };
  }
  const failed: Record<string, string> = {};
  const cause = outcomeSchema(document, operation, 'failed')?.properties;
  const causeSchema = isObject(cause) && isObject(cause.cause) ? cause.cause : {};
  // Its description reads "exists: the address is taken; domain: the domain is local".
  const meanings = text(causeSchema.description).split('; ');
  for (const name of Array.isArray(causeSchema.enum) ? causeSchema.enum : []) {
    if (typeof name !== 'string') continue;
    failed[name] = meanings.find((meaning) => meaning.startsWith(`${name}: `))?.slice(name.length + 2) ?? '';
  }
  return { failed, invalid: {} };
}

/** Everything `pbxgw help` says of one node, or null when the gateway has no such node. */
export function describeNode(document: Json, node: string): NodeDescription | null {
  const operation = operationOf(pathsOf(document)[`/api/${node}`]);
  if (!operation) return null;
  const hasCauses = isObject(operation['x-causes']);
  const description = text(operation.description)
    .split('\n\n')
    .filter((paragraph) => !(hasCauses && paragraph.startsWith('Other outcomes:')))
    .join('\n\n');
  return {
    node,
    scope: typeof operation['x-scope'] === 'string' ? operation['x-scope'] : null,
    summary: text(operation.summary),
    description,
    parameters: parametersOf(operation),
    answer: answerOf(document, operation),
    causes: causesOf(document, operation),
  };
}
