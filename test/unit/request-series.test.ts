import { Counter, Histogram, Registry } from 'prom-client';
import { RequestSeries } from '../../src/http/request-series';

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// The same answers, recorded by the plain-map series and by prom-client's own Counter and Histogram.
const ANSWERS: [string, string, string, number][] = [
  ['user/get', 'ok', '200', 0.0004],
  ['user/get', 'ok', '200', 0.001],
  ['user/get', 'failed', '200', 0.0031],
  ['numbers/list', 'invalid', '401', 0.02],
  ['unknown', 'invalid', '404', 12],
  ['user/get', 'ok', '200', 2.5],
];

describe('RequestSeries', () => {
  it('scrapes as the same text as prom-client Counter and Histogram fed the same answers', async () => {
    const ours = new Registry();
    const series = new RequestSeries(ours, BUCKETS);
    const reference = new Registry();
    const counter = new Counter({ name: 'pbxgw_requests_total', help: "Requests by node, outcome and HTTP status (401, 403 and 429 are refusals, 200 the contract's outcomes)", labelNames: ['node', 'outcome', 'status'], registers: [reference] });
    const histogram = new Histogram({ name: 'pbxgw_request_duration_seconds', help: 'Node request latency', labelNames: ['node'], buckets: BUCKETS, registers: [reference] });
    for (const [node, outcome, status, seconds] of ANSWERS) {
      series.record(node, outcome, status, seconds);
      counter.inc({ node, outcome, status });
      histogram.observe({ node }, seconds);
    }
    const text = await ours.metrics();
    expect(text).toBe(await reference.metrics());
    expect(text).toContain('pbxgw_requests_total{node="user/get",outcome="ok",status="200"} 3');
    expect(text).toContain('pbxgw_request_duration_seconds_bucket{le="0.001",node="user/get"} 2');
    expect(text).toContain('pbxgw_request_duration_seconds_bucket{le="+Inf",node="unknown"} 1');
    expect(text).toContain('pbxgw_request_duration_seconds_bucket{le="10",node="unknown"} 0');
  });

  it('reads as JSON too (getMetricsAsJSON), with the counter type and every series', async () => {
    const registry = new Registry();
    const series = new RequestSeries(registry, BUCKETS);
    series.record('user/get', 'ok', '200', 0.002);
    const json = await registry.getMetricsAsJSON();
    const requests = json.find((metric) => metric.name === 'pbxgw_requests_total');
    expect(requests?.type).toBe('counter');
    expect(requests?.values).toEqual([{ labels: { node: 'user/get', outcome: 'ok', status: '200' }, value: 1 }]);
  });
});
