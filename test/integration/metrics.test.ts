import { randomBytes, randomInt } from 'node:crypto';
import request from 'supertest';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 8 (GET /metrics, Prometheus text) and README "Metrics".

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[label[1]] = label[2];
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(): Promise<{ text: string; samples: Sample[] }> {
  const response = await request(gateway.app).get('/metrics');
  expect(response.status).toBe(200);
  return { text: response.text, samples: parseSamples(response.text) };
}

/** The value of the sample with exactly these labels (0 when the series does not exist yet). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  const found = samples.filter(
    (sample) => sample.name === name && Object.keys(sample.labels).length === wanted.length && wanted.every(([key, text]) => sample.labels[key] === text),
  );
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

function freshNumber(): string {
  return `+4795${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
}

function extensionNumber(): string {
  return `4${String(randomInt(0, 1_000_000_000)).padStart(9, '0')}`;
}

describe('GET /metrics', () => {
  it('answers Prometheus text', async () => {
    const response = await request(gateway.app).get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(response.text).toContain('# TYPE pbxgw_requests_total counter');
    expect(response.text).toContain('# TYPE pbxgw_request_duration_seconds histogram');
    expect(response.text).toContain('# TYPE pbxgw_pbx_calls_total counter');
    expect(() => parseSamples(response.text)).not.toThrow();
  });

  it('counts requests by node and outcome', async () => {
    const before = (await scrape()).samples;
    const number = freshNumber();
    for (let index = 0; index < 3; index += 1) expect((await gateway.get('numbers/inpool', { number })).body.cause).toBe('nonexistant');
    expect((await gateway.get('numbers/add', { number })).body.response).toBe('ok');
    expect((await gateway.get('numbers/add', { number: freshNumber() })).body.response).toBe('ok');
    expect((await gateway.get('numbers/add', { number: 'not-a-number' })).body.response).toBe('invalid');
    expect((await gateway.get('numbers/inpool', { number })).body.response).toBe('ok');
    const after = (await scrape()).samples;
    const delta = (labels: Record<string, string>) => value(after, 'pbxgw_requests_total', labels) - value(before, 'pbxgw_requests_total', labels);
    expect(delta({ node: 'numbers/inpool', outcome: 'failed', status: '200' })).toBe(3);
    expect(delta({ node: 'numbers/inpool', outcome: 'ok', status: '200' })).toBe(1);
    expect(delta({ node: 'numbers/add', outcome: 'ok', status: '200' })).toBe(2);
    expect(delta({ node: 'numbers/add', outcome: 'invalid', status: '200' })).toBe(1);
    expect(delta({ node: 'numbers/add', outcome: 'failed' })).toBe(0);
  });

  it('has a latency histogram per node whose buckets add up to its count', async () => {
    const before = (await scrape()).samples;
    for (let index = 0; index < 4; index += 1) expect((await gateway.get('domains/list')).body.response).toBe('ok');
    const after = (await scrape()).samples;
    const count = (samples: Sample[]) => value(samples, 'pbxgw_request_duration_seconds_count', { node: 'domains/list' });
    expect(count(after) - count(before)).toBe(4);
    expect(value(after, 'pbxgw_request_duration_seconds_sum', { node: 'domains/list' })).toBeGreaterThan(0);
    const buckets = after.filter((sample) => sample.name === 'pbxgw_request_duration_seconds_bucket' && sample.labels.node === 'domains/list');
    expect(buckets.map((bucket) => bucket.labels.le)).toEqual(['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
    for (let index = 1; index < buckets.length; index += 1) expect(buckets[index].value).toBeGreaterThanOrEqual(buckets[index - 1].value);
    expect(buckets[buckets.length - 1].value).toBe(count(after));
  });

  it('counts PBX calls by path and result (ok, refused, error)', async () => {
    const calls = (samples: Sample[], path: string, result: string) => value(samples, 'pbxgw_pbx_calls_total', { path, result });
    const before = (await scrape()).samples;

    const added = await gateway.get('user/add_local', { user: `${extensionNumber()}@pbx.local`, displayname: 'Counted' });
    expect(added.body.response).toBe('ok');
    gateway.pbx.fail('/pbx/users/add', 'refuse');
    const refused = await gateway.get('user/add_local', { user: `${extensionNumber()}@pbx.local`, displayname: 'Refused' });
    expect(refused.body).toMatchObject({ response: 'failed', cause: 'pbx' });
    gateway.pbx.fail('/pbx/users/search', 'http500');
    const broken = await gateway.get('user/add_local', { user: `${extensionNumber()}@pbx.local`, displayname: 'Broken' });
    expect(broken.body).toMatchObject({ response: 'error', cause: 'pbx' });

    const after = (await scrape()).samples;
    const delta = (path: string, result: string) => calls(after, path, result) - calls(before, path, result);
    // One search each before the add (the third one failing), one add that worked, one refused.
    expect(delta('/pbx/users/search', 'ok')).toBe(2);
    expect(delta('/pbx/users/search', 'error')).toBe(1);
    expect(delta('/pbx/users/add', 'ok')).toBe(1);
    expect(delta('/pbx/users/add', 'refused')).toBe(1);
    const addDurations = (samples: Sample[]) => value(samples, 'pbxgw_pbx_call_duration_seconds_count', { path: '/pbx/users/add' });
    expect(addDurations(after) - addDurations(before)).toBe(2);
    // And the requests by their outcome.
    const requests = (samples: Sample[], outcome: string) => value(samples, 'pbxgw_requests_total', { node: 'user/add_local', outcome, status: '200' });
    expect(requests(after, 'ok') - requests(before, 'ok')).toBe(1);
    expect(requests(after, 'failed') - requests(before, 'failed')).toBe(1);
    expect(requests(after, 'error') - requests(before, 'error')).toBe(1);
  });

  it('counts the readiness ping as a PBX call', async () => {
    const before = value((await scrape()).samples, 'pbxgw_pbx_calls_total', { path: '/setting/ping/act', result: 'ok' });
    expect((await request(gateway.app).get('/readyz')).status).toBe(200);
    const after = value((await scrape()).samples, 'pbxgw_pbx_calls_total', { path: '/setting/ping/act', result: 'ok' });
    expect(after - before).toBe(1);
  });

  it('reports the MySQL pool by state', async () => {
    expect((await gateway.get('numbers/list', { limit: 1 })).body.response).toBe('ok');
    const { samples } = await scrape();
    const open = value(samples, 'pbxgw_db_pool_connections', { state: 'open' });
    const idle = value(samples, 'pbxgw_db_pool_connections', { state: 'idle' });
    expect(open).toBeGreaterThanOrEqual(1);
    expect(open).toBeLessThanOrEqual(gateway.config.mysqlPoolSize);
    expect(idle).toBeGreaterThanOrEqual(0);
    expect(idle).toBeLessThanOrEqual(open);
    expect(value(samples, 'pbxgw_db_pool_connections', { state: 'waiting' })).toBe(0);
  });

  it("reports the process's own figures", async () => {
    const { samples } = await scrape();
    expect(value(samples, 'pbxgw_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(value(samples, 'pbxgw_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(value(samples, 'pbxgw_process_resident_memory_bytes')).toBeGreaterThan(1024 * 1024);
    expect(value(samples, 'pbxgw_process_start_time_seconds')).toBeGreaterThan(1_600_000_000);
    expect(samples.some((sample) => sample.name.startsWith('pbxgw_nodejs_'))).toBe(true);
  });

  it('counts requests to unknown nodes under node="unknown", never under their path', async () => {
    const before = value((await scrape()).samples, 'pbxgw_requests_total', { node: 'unknown', outcome: 'invalid', status: '404' });
    const junk = `probe${randomBytes(6).toString('hex')}`;
    for (const path of [`/api/${junk}/one`, `/api/user/${junk}`, `/api/${junk}`]) {
      const response = await request(gateway.app).get(path);
      expect(response.status).toBe(404);
    }
    const { text, samples } = await scrape();
    expect(value(samples, 'pbxgw_requests_total', { node: 'unknown', outcome: 'invalid', status: '404' }) - before).toBe(3);
    expect(text).not.toContain(junk);
  });
});

describe('GET /metrics with auth', () => {
  const reader = { name: 'prometheus', token: `prom-${randomBytes(12).toString('hex')}`, scope: 'read' as const };
  let secured: TestGateway;

  beforeAll(async () => {
    secured = await startTestGateway({ authDisabled: false, apiTokens: [reader] });
  });

  afterAll(async () => {
    await secured.close();
  });

  it('counts refused requests (401, 403) by node and outcome, and needs a read token to scrape', async () => {
    expect((await request(secured.app).get('/api/numbers/list')).status).toBe(401);
    expect((await request(secured.app).get('/api/numbers/add').query({ number: freshNumber() }).set('X-API-Key', reader.token)).status).toBe(403);
    expect((await request(secured.app).get('/metrics')).status).toBe(401);
    const response = await request(secured.app).get('/metrics').set('Authorization', `Bearer ${reader.token}`);
    expect(response.status).toBe(200);
    const samples = parseSamples(response.text);
    // 401 and 403 are told apart from the contract's outcomes (HTTP 200) by their status.
    expect(value(samples, 'pbxgw_requests_total', { node: 'numbers/list', outcome: 'invalid', status: '401' })).toBe(1);
    expect(value(samples, 'pbxgw_requests_total', { node: 'numbers/add', outcome: 'failed', status: '403' })).toBe(1);
    expect(value(samples, 'pbxgw_requests_total', { node: 'numbers/add', outcome: 'failed', status: '200' })).toBe(0);
    expect(response.text).not.toContain(reader.token);
  });
});
