import type { Metric, Registry } from 'prom-client';

/** One sample as prom-client's registry formats it. */
interface Sample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

/** What prom-client's Registry reads from a registered metric when it is scraped. */
interface CollectedMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'histogram';
  readonly aggregator: 'sum';
  get(): { name: string; help: string; type: 'counter' | 'histogram'; aggregator: 'sum'; values: Sample[] };
}

interface CounterSeries {
  readonly labels: { node: string; outcome: string; status: string };
  value: number;
}

interface HistogramSeries {
  /** Non-cumulative counts per bucket; the last one is +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * `pbxgw_requests_total{node,outcome,status}` and `pbxgw_request_duration_seconds{node}`, kept in
 * plain maps and turned into samples only when Prometheus scrapes. prom-client checks and hashes
 * every label set on every `inc` and `observe`; on a primary-key read that was the largest piece of
 * the gateway's own CPU a request under load (docs/decisions/005). The text is the same as
 * prom-client's Counter and Histogram write.
 */
export class RequestSeries {
  private readonly counts = new Map<string, CounterSeries>();
  private readonly durations = new Map<string, HistogramSeries>();

  constructor(
    registry: Registry,
    private readonly buckets: readonly number[],
  ) {
    // prom-client's typings name only its own classes; its Registry reads name, help, type and get().
    const register = (metric: CollectedMetric) => registry.registerMetric(metric as unknown as Metric);
    register(this.metric('pbxgw_requests_total', "Requests by node, outcome and HTTP status (401, 403 and 429 are refusals, 200 the contract's outcomes)", 'counter', () => this.counterSamples()));
    register(this.metric('pbxgw_request_duration_seconds', 'Node request latency', 'histogram', () => this.histogramSamples()));
  }

  record(node: string, outcome: string, status: string, seconds: number): void {
    const key = `${node}\n${outcome}\n${status}`;
    const counted = this.counts.get(key);
    if (counted === undefined) this.counts.set(key, { labels: { node, outcome, status }, value: 1 });
    else counted.value += 1;

    let timed = this.durations.get(node);
    if (timed === undefined) {
      timed = { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
      this.durations.set(node, timed);
    }
    let bucket = 0;
    while (bucket < this.buckets.length && seconds > this.buckets[bucket]) bucket += 1;
    timed.counts[bucket] += 1;
    timed.sum += seconds;
    timed.count += 1;
  }

  private metric(name: string, help: string, type: 'counter' | 'histogram', values: () => Sample[]): CollectedMetric {
    return { name, help, type, aggregator: 'sum', get: () => ({ name, help, type, aggregator: 'sum', values: values() }) };
  }

  private counterSamples(): Sample[] {
    return [...this.counts.values()].map(({ labels, value }) => ({ labels, value }));
  }

  private histogramSamples(): Sample[] {
    const samples: Sample[] = [];
    for (const [node, timed] of this.durations) {
      let cumulative = 0;
      timed.counts.forEach((count, index) => {
        cumulative += count;
        const le = index < this.buckets.length ? this.buckets[index] : '+Inf';
        samples.push({ labels: { le, node }, value: cumulative, metricName: 'pbxgw_request_duration_seconds_bucket' });
      });
      samples.push({ labels: { node }, value: timed.sum, metricName: 'pbxgw_request_duration_seconds_sum' });
      samples.push({ labels: { node }, value: timed.count, metricName: 'pbxgw_request_duration_seconds_count' });
    }
    return samples;
  }
}
