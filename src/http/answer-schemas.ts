import { CANONICAL_MAC } from '../values/mac';
import { E164 } from '../values/e164';
import { CANONICAL_DOMAIN, CANONICAL_SIP_ADDRESS, USERNAME } from '../values/sip-address';
import { GENERATED_PASSWORD } from '../values/password';

// The building blocks of the ok answers in the OpenAPI document (CONTRACT section 3: each node's ok
// answer member by member). A node declares its members with these; openapi.ts turns them into one
// schema per node. Values are described in their canonical form (CONTRACT section 4), as answered.

/** An OpenAPI 3.0 Schema Object (the document's dialect of JSON Schema). */
export type Schema = { readonly [keyword: string]: unknown };

/** A member the ok answer carries only sometimes (`dry_run`, `next`): the document does not require it. */
export class Optional {
  constructor(readonly schema: Schema) {}
}

/** One member of an ok answer: required unless wrapped in `optional()`. */
export type AnswerMember = Schema | Optional;

export function optional(schema: Schema): Optional {
  return new Optional(schema);
}

/** An object whose members are all required but those wrapped in `optional()`. */
export function objectOf(members: Record<string, AnswerMember>, description?: string): Schema {
  const required = Object.entries(members)
    .filter(([, member]) => !(member instanceof Optional))
    .map(([name]) => name);
  const properties = Object.fromEntries(Object.entries(members).map(([name, member]) => [name, member instanceof Optional ? member.schema : member]));
  return { type: 'object', ...(description ? { description } : {}), required, properties };
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const string = (description: string, more: Schema = {}): Schema => ({ type: 'string', description, ...more });
const arrayOf = (items: Schema, description: string): Schema => ({ type: 'array', description, items });

const sipAddress = (description: string): Schema => string(description, { pattern: CANONICAL_SIP_ADDRESS.source, example: '1001@pbx.local' });
const e164 = (description: string): Schema => string(description, { pattern: E164.source, example: '+4761123456' });
const mac = (description: string): Schema => string(description, { pattern: CANONICAL_MAC.source, example: '001a2b3c4d5e' });
const port = (description: string): Schema => ({ type: 'integer', minimum: 1, maximum: 65535, description });
const host = (description: string): Schema => string(`${description} Empty: none.`, { example: 'sip.example.com' });
const rate = (description: string): Schema => ({ type: 'integer', minimum: 1, nullable: true, description });
const dateTime = (description: string): Schema => string(description, { format: 'date-time', nullable: true });

const userFields = {
  user: sipAddress('The address, username@domain.'),
  username: string('The username (for a local user, the PBX extension number).', { pattern: USERNAME.source, example: '1001' }),
  domain: string('The domain, lower-cased.', { pattern: CANONICAL_DOMAIN.source, example: 'pbx.local' }),
  displayname: string('The display name.'),
  dialplan: string('The dial plan pattern.'),
  linetext: string('The text shown on the phone line key.'),
};

/** The named schemas the building blocks refer to, for the document's components. */
export const sharedSchemas: Record<string, Schema> = {
  LocalUser: objectOf(
    {
      ...userFields,
      kind: string('local: the SIP account lives on the PBX.', { enum: ['local'] }),
      email: string('The e-mail address (empty: none).'),
    },
    'A user in a local domain: an extension on the PBX.',
  ),
  RemoteUser: objectOf(
    {
      ...userFields,
      kind: string('remote: a SIP account hosted elsewhere.', { enum: ['remote'] }),
      email: string('Always empty: e-mail is kept for local users only.', { enum: [''] }),
      registrar: string('The registrar host.', { example: 'sip.example.com' }),
      r_port: port('The registrar port.'),
      proxy: host('The outbound proxy host.'),
      p_port: port('The proxy port.'),
      authid: string('The authentication id.', { pattern: USERNAME.source, example: 'bob' }),
    },
    'A provisioning record for a SIP account hosted elsewhere.',
  ),
  User: {
    description: 'The user object (CONTRACT section 5): never a password, no hardphones; `kind` tells the two apart.',
    oneOf: [ref('LocalUser'), ref('RemoteUser')],
    discriminator: { propertyName: 'kind', mapping: { local: '#/components/schemas/LocalUser', remote: '#/components/schemas/RemoteUser' } },
  },
  UserEntry: objectOf({ user: userFields.user, displayname: userFields.displayname }, 'A user as user/list gives it.'),
  Forward: objectOf(
    {
      busy: string('Where calls go when the line is busy (empty: nowhere).'),
      no_answer: string('Where calls go when nobody answers.'),
      unavailable: string('Where calls go when the phone is not registered.'),
      all: string('Where every call goes.'),
    },
    "A local user's call forwards as the PBX has them.",
  ),
  Alias: objectOf({ alias: sipAddress('The alias address.'), destination: sipAddress('Where it points.') }, 'An alias.'),
  Domain: objectOf(
    {
      domain: string('The domain.', { pattern: CANONICAL_DOMAIN.source, example: 'pbx.local' }),
      local: { type: 'boolean', description: 'true: the SIP accounts of this domain live on the PBX.' },
      registrar: host('The default registrar host for remote users.'),
      proxy: host('The default proxy host for remote users.'),
      r_port: port('The default registrar port.'),
      p_port: port('The default proxy port.'),
    },
    'A domain and its server defaults.',
  ),
  Token: objectOf(
    {
      name: string('The token\'s name.'),
      scope: string('What the token may do.', { enum: ['read', 'write', 'admin'] }),
      source: string('config: from API_TOKENS; api: made with tokens/add.', { enum: ['config', 'api'] }),
      created: dateTime('When it was made (ISO 8601, UTC); null for a token of API_TOKENS.'),
      expires: dateTime('When it stops working; null: never.'),
      last_used: dateTime('When this gateway last saw it; null: not since it started.'),
      rate_per_minute: rate('Its own limit of requests a minute; null: the default.'),
    },
    'A client token, never the token itself.',
  ),
  AuditEntry: objectOf(
    {
      id: { type: 'integer', minimum: 1, description: "The entry's place in the trail: newer entries have greater ids (audit/list's after)." },
      time: string('When the request was answered (ISO 8601, UTC).', { format: 'date-time' }),
      token: string("The token's name; null when auth is off.", { nullable: true }),
      node: string('The node, e.g. user/add_local.'),
      params: { type: 'object', description: 'The parameters, every secret removed.', additionalProperties: true },
      response: string('The outcome.', { enum: ['ok', 'invalid', 'failed', 'error'] }),
      cause: string('The cause of an outcome other than ok; null for ok.', { nullable: true }),
      duration_ms: { type: 'number', minimum: 0, description: 'How long the request took, in milliseconds.' },
    },
    'One change or refused change.',
  ),
};

/** The members nodes answer with. */
export const answer = {
  text: (description: string, more: Schema = {}): Schema => string(description, more),
  sipAddress,
  sipAddresses: (description: string): Schema => arrayOf(sipAddress('An address.'), description),
  e164,
  e164s: (description: string): Schema => arrayOf(e164('A number.'), description),
  mac,
  macs: (description: string): Schema => arrayOf(mac('A MAC.'), description),
  domainName: (description: string): Schema => string(description, { pattern: CANONICAL_DOMAIN.source, example: 'pbx.local' }),
  count: (description: string): Schema => ({ type: 'integer', minimum: 0, description }),
  auditId: (description: string): Schema => ({ type: 'integer', minimum: 1, description }),
  /** The user object: the members of either kind (CONTRACT section 5). */
  user: ref('User'),
  userEntries: (description: string): Schema => arrayOf(ref('UserEntry'), description),
  forward: ref('Forward'),
  aliases: (description: string): Schema => arrayOf(ref('Alias'), description),
  domain: ref('Domain'),
  domains: (description: string): Schema => arrayOf(ref('Domain'), description),
  tokens: (description: string): Schema => arrayOf(ref('Token'), description),
  auditEntries: (description: string): Schema => arrayOf(ref('AuditEntry'), description),
  scope: (description: string): Schema => string(description, { enum: ['read', 'write', 'admin'] }),
  dateTime,
  rate,
  /** A password made by the gateway (user/add_local, user/genpw). */
  generatedPassword: (description: string): Schema => string(description, { pattern: GENERATED_PASSWORD.source, example: 'Hx7kPq3ZmW9a' }),
  /** The member of every change that takes dry_run. */
  dryRun: optional({ type: 'boolean', enum: [true], description: 'Present (true) when dry_run=true: every check ran, nothing was changed.' }),
  /** A list's paging member (CONTRACT section 5, Paging): the `after` of the following page, while more items follow. */
  next: (key: Schema): Optional =>
    optional({ ...key, description: `${String(key.description ?? '')} Present only with limit, while more items follow.`.trim() }),
  /** A constant keyword, e.g. user/available's `cause`. */
  keyword: (value: string, description: string): Schema => string(description, { enum: [value] }),
};
