import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv, { type ValidateFunction } from 'ajv';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 3: the OpenAPI document describes each node's ok answer member by member, its
// failure causes, the scope it needs and every refusal status. Checked here as a client developer
// would use it: the document validates, its examples make valid requests ("Try it out"), real
// answers match it, and a client generated from it type-checks.

const run = promisify(execFile);
const ADMIN = { name: 'openapi-admin', token: `admin-${randomBytes(12).toString('hex')}`, scope: 'admin' as const };

type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  example?: unknown;
  schema?: Json;
}
interface Operation {
  'x-scope': string;
  'x-causes': { failed: Record<string, string>; invalid: Record<string, string> };
  security: Json[];
  parameters?: (Parameter | { $ref: string })[];
  requestBody?: { content: Record<string, { example?: Json }> };
  responses: Record<string, Json>;
}

let gateway: TestGateway;
let document: { paths: Record<string, Record<'get' | 'post', Operation>>; components: Json & { schemas: Record<string, Json>; responses: Record<string, Json> } };

function call(node: string, params: Record<string, string | number | boolean> = {}): request.Test {
  return request(gateway.app).get(`/api/${node}`).query(params).set('Authorization', `Bearer ${ADMIN.token}`);
}

beforeAll(async () => {
  gateway = await startTestGateway({ authDisabled: false, apiTokens: [ADMIN] });
  const served = await request(gateway.app).get('/api/openapi.json');
  expect(served.status).toBe(200);
  document = served.body;
});

afterAll(async () => {
  await gateway.close();
});

function okSchemaRef(node: string): string {
  const schema = document.paths[`/api/${node}`].get.responses[200].content as Record<string, { schema: { discriminator: { mapping: Record<string, string> } } }>;
  return schema['application/json'].schema.discriminator.mapping.ok;
}

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.0 document (swagger-parser)', async () => {
    // In a process of its own: swagger-parser's dependencies are ES modules, which jest's loader does not take.
    const directory = await mkdtemp(path.join(os.tmpdir(), 'pbxgw-openapi-'));
    try {
      await writeFile(path.join(directory, 'openapi.json'), JSON.stringify(document));
      const check = "require('@apidevtools/swagger-parser').validate(process.argv[1]).then(() => console.log('valid'))";
      const { stdout } = await run(process.execPath, ['-e', check, path.join(directory, 'openapi.json')], { cwd: path.resolve(__dirname, '../..') });
      expect(stdout.trim()).toBe('valid');
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  }, 30_000);

  it('gives every node GET and POST, its scope, the security schemes and every refusal status', () => {
    expect(document.components.securitySchemes).toEqual({
      bearer: expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      apiKey: expect.objectContaining({ type: 'apiKey', in: 'header', name: 'X-API-Key' }),
      pbxEvents: expect.objectContaining({ type: 'http', scheme: 'basic' }),
    });
    for (const node of gateway.container.nodes) {
      for (const method of ['get', 'post'] as const) {
        const operation = document.paths[`/api/${node.path}`]?.[method];
        expect({ node: node.path, method, scope: operation?.['x-scope'] }).toEqual({ node: node.path, method, scope: node.scope });
        expect(operation.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
        expect(Object.keys(operation.responses).sort()).toEqual(['200', '400', '401', '403', '404', '405', '413', '429']);
        expect(String(operation.responses[403].description)).toContain(node.scope);
      }
    }
    const tooMany = document.components.responses.TooManyRequests as { headers: Record<string, Json> };
    expect(tooMany.headers['Retry-After']).toMatchObject({ required: true, schema: { type: 'integer' } });
    const refusals: Record<string, [string, string]> = {
      BadBody: ['invalid', 'body'],
      Unauthorized: ['invalid', 'auth'],
      NoNode: ['invalid', 'node'],
      MethodNotAllowed: ['invalid', 'method'],
      TooLarge: ['invalid', 'body'],
      TooManyRequests: ['failed', 'rate'],
    };
    for (const [name, [outcome, cause]] of Object.entries(refusals)) {
      const ref = (document.components.responses[name] as { content: Record<string, { schema: { $ref: string } }> }).content['application/json'].schema.$ref;
      const schema = document.components.schemas[ref.split('/').pop() as string] as { properties: Record<string, { enum: string[] }> };
      expect({ name, outcome: schema.properties.response.enum, cause: schema.properties.cause.enum }).toEqual({ name, outcome: [outcome], cause: [cause] });
    }
  });

  it("tells each node's outcomes apart by response, its failed causes as an enum", () => {
    for (const node of gateway.container.nodes) {
      if (node.plainText) continue;
      const content = document.paths[`/api/${node.path}`].get.responses[200].content as Record<string, { schema: Json }>;
      const { oneOf, discriminator } = content['application/json'].schema as { oneOf: Json[]; discriminator: { propertyName: string; mapping: Record<string, string> } };
      const failed = Object.entries(node.failures ?? {})
        .filter(([, meaning]) => typeof meaning === 'string')
        .map(([cause]) => cause);
      expect(discriminator.propertyName).toBe('response');
      expect(Object.keys(discriminator.mapping)).toEqual(['ok', 'invalid', ...(failed.length > 0 ? ['failed'] : []), 'error']);
      expect(oneOf).toHaveLength(Object.keys(discriminator.mapping).length);
      if (failed.length > 0) {
        const failedSchema = document.components.schemas[discriminator.mapping.failed.split('/').pop() as string] as { properties: { cause: { enum: string[] } } };
        expect({ node: node.path, causes: failedSchema.properties.cause.enum }).toEqual({ node: node.path, causes: failed });
      }
      // x-causes (what pbxgw help reads): the same failed causes, and the node's own invalid ones.
      const invalid = Object.entries(node.failures ?? {}).filter(([, meaning]) => typeof meaning !== 'string').map(([cause]) => cause);
      const declared = document.paths[`/api/${node.path}`].post['x-causes'];
      expect({ node: node.path, failed: Object.keys(declared.failed), invalid: Object.keys(declared.invalid) }).toEqual({ node: node.path, failed, invalid });
    }
    const genpw = document.paths['/api/user/genpw'].get.responses[200].content as Record<string, { schema: Json }>;
    expect(genpw['text/plain'].schema).toMatchObject({ type: 'string', pattern: expect.any(String) });
  });

  it('documents the value patterns of the parameters', () => {
    const parameter = (node: string, name: string) =>
      (document.paths[`/api/${node}`].get.parameters as Parameter[]).find((candidate) => candidate.name === name)?.schema?.pattern;
    expect(parameter('numbers/add', 'number')).toBe('^\\+[1-9][0-9]{1,14}$');
    expect(new RegExp(parameter('phone/add', 'mac') as string).test('00-1A-2b-3c-4d-5e')).toBe(true);
    expect(new RegExp(parameter('user/get', 'user') as string).test('1001@PBX.local')).toBe(true);
    expect(new RegExp(parameter('user/change_pw', 'password') as string).test('has space1')).toBe(false);
  });
});

describe('"Try it out" on the docs page', () => {
  // A gateway of its own: the default requests change things (domains/remove removes its example domain).
  let tried: TestGateway;

  beforeAll(async () => {
    tried = await startTestGateway({ authDisabled: false, apiTokens: [ADMIN] });
  });

  afterAll(async () => {
    await tried.close();
  });

  /** The request swagger-ui makes by default: every parameter with an example; a required one without any cannot be sent. */
  function defaultQuery(operation: Operation, unfilled: string[]): Record<string, string> {
    const query: Record<string, string> = {};
    for (const parameter of (operation.parameters ?? []) as Parameter[]) {
      if (parameter.in !== 'query') continue;
      const example = parameter.example ?? parameter.schema?.example ?? parameter.schema?.default;
      if (example !== undefined) query[parameter.name] = String(example);
      else if (parameter.required) unfilled.push(parameter.name);
    }
    return query;
  }

  it('makes a valid request of every node with the filled-in examples, GET and POST (JSON and form)', async () => {
    const refused: Json[] = [];
    for (const [route, operations] of Object.entries(document.paths)) {
      // POST /pbx/events is Simotel's, not a node (its own tests: pbx-events.test.ts).
      if (!route.startsWith('/api/')) continue;
      const node = route.slice('/api/'.length);
      const unfilled: string[] = [];
      const query = defaultQuery(operations.get, unfilled);
      if (unfilled.length > 0) refused.push({ node, 'required without an example': unfilled });
      const get = await request(tried.app).get(route).query(query).set('Authorization', `Bearer ${ADMIN.token}`);
      if (node !== 'user/genpw' && get.body.response !== 'ok' && get.body.response !== 'failed') refused.push({ node, method: 'GET', query, answer: get.body });
      const body = operations.post.requestBody?.content['application/json'].example ?? {};
      expect({ node, body }).toEqual({ node, body: query });
      for (const type of ['json', 'form'] as const) {
        const post = await request(tried.app).post(route).set('Authorization', `Bearer ${ADMIN.token}`).type(type).send(body);
        if (node !== 'user/genpw' && post.body.response !== 'ok' && post.body.response !== 'failed') refused.push({ node, method: `POST ${type}`, body, answer: post.body });
      }
    }
    expect(refused).toEqual([]);
  }, 60_000);
});

describe('real answers match the document', () => {
  let validators: Map<string, ValidateFunction>;

  /** Every object schema closed (additionalProperties false unless said): an undocumented member fails. */
  function closed(schema: unknown): unknown {
    if (Array.isArray(schema)) return schema.map(closed);
    if (schema === null || typeof schema !== 'object') return schema;
    const copy = Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, closed(value)]));
    if ('properties' in copy && !('additionalProperties' in copy)) copy.additionalProperties = false;
    return copy;
  }

  function expectValid(ref: string, answer: unknown, what: string): void {
    let validate = validators.get(ref);
    if (!validate) {
      validate = ajv.compile({ $ref: `openapi.json${ref}` });
      validators.set(ref, validate);
    }
    const valid = validate(answer);
    expect({ what, errors: valid ? null : validate.errors, answer: valid ? null : answer }).toEqual({ what, errors: null, answer: null });
  }

  /** GET a node and check its answer against the node's ok schema. */
  async function expectOk(node: string, params: Record<string, string | number | boolean> = {}): Promise<Json> {
    const answer = await call(node, params);
    expect({ node, response: answer.body.response, detail: answer.body.detail }).toEqual({ node, response: 'ok', detail: undefined });
    expectValid(okSchemaRef(node), answer.body, `${node} ${JSON.stringify(params)}`);
    return answer.body;
  }

  let ajv: Ajv;
  const local = `2${String(Date.now()).slice(-6)}@pbx.local`;
  const remote = 'bob@remote.example';
  const mac = '00:1A:2B:3C:4D:5F';

  beforeAll(async () => {
    // The document's keywords beyond JSON Schema (discriminator, example, nullable as OpenAPI 3.0 has it) are allowed.
    ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    ajv.addSchema({ components: closed(document.components) }, 'openapi.json');
    validators = new Map();
    const setup: [string, Record<string, string>][] = [
      ['user/add_local', { user: local, displayname: 'Ada Local', email: 'ada@example.com' }],
      ['domains/add', { domain: 'remote.example', registrar: 'sip.remote.example' }],
      ['user/add_remote', { user: remote, password: 'S3cr3t-pass', displayname: 'Bob Remote' }],
      ['phone/add', { mac, user: local }],
      ['alias/add', { alias: 'sales@pbx.local', destination: local }],
      ['alias/add', { alias: '+4761000001@pbx.local', destination: local }],
      ['numbers/add_range', { start: '+4761000010', end: '+4761000020' }],
      ['user/change_permissions', { user: local, grant: 'local' }],
    ];
    for (const [node, params] of setup) {
      const answer = await call(node, params);
      expect({ node, answer: answer.body.response, detail: answer.body.detail }).toEqual({ node, answer: 'ok', detail: answer.body.detail });
      expectValid(okSchemaRef(node), answer.body, node);
    }
  });

  it('user/get of a local and of a remote user', async () => {
    const answer = await expectOk('user/get', { user: local });
    expect(answer.user).toMatchObject({ kind: 'local', displayname: 'Ada Local' });
    // The check can fail: a member the document does not name, or a remote user without its settings.
    const validate = ajv.compile({ $ref: `openapi.json${okSchemaRef('user/get')}` });
    expect(validate({ ...answer, user: { ...(answer.user as Json), nope: 1 } })).toBe(false);
    expect(validate({ ...answer, user: { ...(answer.user as Json), kind: 'remote' } })).toBe(false);
    expect(validate({ ...answer, user: { ...(answer.user as Json), user: 'not an address' } })).toBe(false);
    expect((await expectOk('user/get', { user: remote })).user).toMatchObject({ kind: 'remote', registrar: 'sip.remote.example', r_port: 5060 });
  });

  it('the lists, whole and paged: user/list, numbers/list, phone/list, alias/list', async () => {
    await expectOk('user/list');
    expect(await expectOk('user/list', { limit: 1 })).toHaveProperty('next');
    expect((await expectOk('numbers/list')).numbers).toContain('+4761000010');
    expect(await expectOk('numbers/list', { limit: 2 })).toHaveProperty('next', '+4761000011');
    await expectOk('numbers/list', { random: true, limit: 3 });
    await expectOk('phone/list');
    expect((await expectOk('alias/list')).aliases).toHaveLength(2);
    expect(await expectOk('alias/list', { limit: 1 })).toHaveProperty('next');
  });

  it('phone/get by MAC and by user, domains/list, audit/list, tokens/list and tokens/add', async () => {
    expect((await expectOk('phone/get', { mac })).users).toEqual([local]);
    expect((await expectOk('phone/get', { user: local })).macs).toEqual(['001a2b3c4d5f']);
    expect((await expectOk('domains/list')).domains).toEqual(expect.arrayContaining([expect.objectContaining({ domain: 'remote.example' })]));
    expect(await expectOk('audit/list', { limit: 2 })).toHaveProperty('next');
    await expectOk('tokens/add', { name: 'openapi-ci', scope: 'read', expires: '2999-01-01T00:00:00Z' });
    const tokens = (await expectOk('tokens/list')).tokens as Json[];
    expect(tokens.map((token) => token.source).sort()).toEqual(['api', 'config']);
  });

  it('the other ok answers: forward, permissions, available, dry runs, sync', async () => {
    await expectOk('user/forward', { user: local });
    expect((await expectOk('user/permissions', { user: local })).permissions).toEqual(['local']);
    await expectOk('user/available', { user: 'free@pbx.local' });
    await expectOk('user/add_local', { user: '3999@pbx.local', displayname: 'Dry', dry_run: true });
    await expectOk('numbers/add_range', { start: '+4761000030', end: '+4761000031', dry_run: true });
    await expectOk('pbx/sync', { domain: 'pbx.local', dry_run: true });
    const password = await call('user/genpw');
    expect(password.headers['content-type']).toMatch(/^text\/plain/);
    const genpw = document.paths['/api/user/genpw'].get.responses[200].content as Record<string, { schema: { pattern: string } }>;
    expect(password.text).toMatch(new RegExp(genpw['text/plain'].schema.pattern));
  });

  it('failed, invalid and refused answers match their schemas too', async () => {
    const failed = await call('user/get', { user: 'nobody@pbx.local' });
    expectValid('#/components/schemas/UserGetFailed', failed.body, 'user/get failed');
    const invalid = await call('user/get', { user: local, colour: 'blue' });
    expectValid('#/components/schemas/Invalid', invalid.body, 'user/get invalid');
    const noNode = await call('user/nothing');
    expect(noNode.status).toBe(404);
    expectValid('#/components/schemas/NodeRefusal', noNode.body, '404');
    const method = await request(gateway.app).delete('/api/user/get').set('Authorization', `Bearer ${ADMIN.token}`);
    expect(method.status).toBe(405);
    expectValid('#/components/schemas/MethodRefusal', method.body, '405');
    const anonymous = await request(gateway.app).get('/api/user/get');
    expect(anonymous.status).toBe(401);
    expectValid('#/components/schemas/AuthRefusal', anonymous.body, '401');
  });
});

describe('a client generated from the document', () => {
  let directory: string;
  const repository = path.resolve(__dirname, '../..');

  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), 'pbxgw-openapi-client-'));
    await writeFile(path.join(directory, 'openapi.json'), JSON.stringify(document));
    // openapi-typescript as a client developer runs it: its command line, on the served document.
    await run(process.execPath, [path.join(repository, 'node_modules/openapi-typescript/bin/cli.js'), 'openapi.json', '-o', 'api.d.ts'], { cwd: directory });
  }, 60_000);

  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const program = (member: string) => `import type { paths } from './api';

type Answer = paths['/api/user/get']['get']['responses'][200]['content']['application/json'];

export function name(answer: Extract<Answer, { response: 'ok' }>): string {
  return answer.user.${member};
}

export function explain(answer: Answer): string {
  switch (answer.response) {
    case 'ok':
      return answer.user.kind === 'remote' ? answer.user.registrar : answer.user.email;
    case 'failed': {
      const cause: 'nonexistant' = answer.cause;
      return cause;
    }
    case 'invalid':
      return answer.cause;
    case 'error': {
      const cause: 'db' | 'pbx' | 'internal' = answer.cause;
      return cause;
    }
  }
}

type Numbers = paths['/api/numbers/list']['get'];
export const query: NonNullable<Numbers['parameters']['query']> = { limit: 10, search: '4761*' };
export const next = (answer: Extract<Numbers['responses'][200]['content']['application/json'], { response: 'ok' }>): string | undefined => answer.next;
`;

  /** tsc --strict --noEmit with the repository's TypeScript; resolves to its output, or rejects with it. */
  async function compile(file: string, source: string): Promise<string> {
    await writeFile(path.join(directory, file), source);
    const project = `tsconfig.${file}.json`;
    const options = { strict: true, noEmit: true, target: 'es2022', module: 'commonjs', types: [] };
    await writeFile(path.join(directory, project), JSON.stringify({ compilerOptions: options, files: [file, 'api.d.ts'] }));
    const tsc = path.join(repository, 'node_modules/typescript/bin/tsc');
    const { stdout } = await run(process.execPath, [tsc, '-p', project], { cwd: directory });
    return stdout;
  }

  it('type-checks a program that reads user.displayname from a user/get ok answer without a cast', async () => {
    await expect(compile('client.ts', program('displayname'))).resolves.toBe('');
  }, 60_000);

  it('refuses to compile the same program reading a member the user object does not have', async () => {
    const failure = (await compile('wrong.ts', program('nope')).then(
      () => null,
      (error: { stdout: string }) => error,
    )) as { stdout: string } | null;
    expect(failure?.stdout).toMatch(/Property 'nope' does not exist/);
  }, 60_000);
});
