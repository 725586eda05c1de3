import request from 'supertest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

describe('HTTP conventions (CONTRACT section 3)', () => {
  it('answers an unknown node with 404 and an invalid/node envelope', async () => {
    const response = await gateway.get('user/nothing');
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ response: 'invalid', cause: 'node', detail: expect.any(String) });
  });

  it('answers a path outside /api with 404 and an envelope', async () => {
    const response = await request(gateway.app).get('/elsewhere');
    expect(response.status).toBe(404);
    expect(response.body.response).toBe('invalid');
  });

  it('rejects an unknown parameter with cause parameter', async () => {
    const response = await gateway.get('numbers/inpool', { number: '+4790000001', colour: 'blue' });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'parameter' });
    expect(response.body.detail).toContain('colour');
  });

  it('names the first offending parameter as the cause', async () => {
    const response = await gateway.get('numbers/add_range', { start: '4790000001', end: 'x' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'start' });
  });

  it('takes POST parameters as JSON and as a form, the same as GET', async () => {
    const json = await gateway.post('numbers/add', { number: '+4790000101' });
    expect(json.body).toEqual({ response: 'ok', detail: 'Added +4790000101' });
    const form = await request(gateway.app)
      .post('/api/numbers/inpool')
      .type('form')
      .send('number=%2B4790000101');
    expect(form.body).toEqual({ response: 'ok', number: '+4790000101' });
    const get = await gateway.get('numbers/inpool', { number: '+4790000101' });
    expect(get.body).toEqual(form.body);
  });

  it('refuses a parameter given both in the query and in the body', async () => {
    const response = await request(gateway.app)
      .post('/api/numbers/inpool?number=%2B4790000101')
      .send({ number: '+4790000101' });
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'number' });
  });

  it('answers a body that does not parse with 400 invalid/body', async () => {
    const response = await request(gateway.app)
      .post('/api/numbers/add')
      .set('Content-Type', 'application/json')
      .send('{"number": ');
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'body' });
  });

  it('answers a JSON array body with invalid/body', async () => {
    const response = await gateway.post('numbers/add', ['+4790000102']);
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'body' });
  });

  it('answers a body over the limit with 413 and an envelope', async () => {
    const response = await gateway.post('user/list', { search: 'x'.repeat(70 * 1024) });
    expect(response.status).toBe(413);
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'body' });
  });

  it('refuses a repeated parameter instead of guessing', async () => {
    const response = await request(gateway.app).get('/api/numbers/inpool?number=%2B4790000101&number=%2B4790000102');
    expect(response.body).toMatchObject({ response: 'invalid', cause: 'number' });
  });

  describe('the two user forms', () => {
    it('refuses both forms at once with cause user', async () => {
      const response = await gateway.get('user/get', { user: 'a@b.example', username: 'a', domain: 'b.example' });
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'user' });
    });

    it('refuses neither form with cause user', async () => {
      const response = await gateway.get('user/get');
      expect(response.body).toMatchObject({ response: 'invalid', cause: 'user' });
    });

    it('names the missing half of username and domain', async () => {
      expect((await gateway.get('user/get', { username: 'a' })).body).toMatchObject({ response: 'invalid', cause: 'domain' });
      expect((await gateway.get('user/get', { domain: 'b.example' })).body).toMatchObject({ response: 'invalid', cause: 'username' });
    });

    it('accepts either form and lower-cases the domain', async () => {
      const one = await gateway.get('user/available', { user: 'Free.Name@B.Example' });
      const two = await gateway.get('user/available', { username: 'Free.Name', domain: 'b.example' });
      expect(one.body).toEqual({ response: 'ok', cause: 'nonexistant' });
      expect(two.body).toEqual(one.body);
    });
  });

  it('serves an OpenAPI document listing every node with GET and POST', async () => {
    const response = await request(gateway.app).get('/api/openapi.json');
    expect(response.status).toBe(200);
    expect(response.body.openapi).toMatch(/^3\./);
    const paths = Object.keys(response.body.paths);
    for (const node of gateway.container.nodes) {
      expect(paths).toContain(`/api/${node.path}`);
    }
    const addRange = response.body.paths['/api/numbers/add_range'].get;
    expect(addRange.parameters.map((p: { name: string }) => p.name)).toEqual(['start', 'end', 'dry_run']);
    expect(addRange.parameters.find((p: { name: string }) => p.name === 'start').required).toBe(true);
  });

  it('serves a browsable API page', async () => {
    const response = await request(gateway.app).get('/api/docs/');
    expect(response.status).toBe(200);
    expect(response.text).toContain('swagger');
  });

  it('answers /healthz and /readyz', async () => {
    expect((await request(gateway.app).get('/healthz')).body).toEqual({ status: 'ok' });
    const ready = await request(gateway.app).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', failing: [] });
  });
});
