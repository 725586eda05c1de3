import type { RowDataPacket } from 'mysql2/promise';
import type { ClusterRun } from '../cluster-run';
import { mapLimit } from '../gateways';
import { DATABASE } from '../invariants';

// Scenario d: numbers/add_range of 1,000,000 numbers through one gateway (CONTRACT section 11: big
// writes fit the cluster's write-set limits, still all or nothing), the same count on every node,
// and numbers/list?random=true still uniform over the range afterwards.

const RANGE_START = 4950000000;
const SAMPLES = 200;
const SAMPLE_LIMIT = 100;
const BUCKETS = 10;
/** chi-square with 9 degrees of freedom at p = 0.001. */
const CHI_SQUARE_LIMIT = 27.88;
/** How unlikely, over the whole range, a uniform sampler must make the count that fails the check. */
const FALSE_ALARM = 1e-4;
const ADD_RANGE_TIMEOUT_MS = 15 * 60_000;

/** How often each number came back, over SAMPLES requests of SAMPLE_LIMIT each, spread over the gateways. */
async function sampleRandom(run: ClusterRun, size: number): Promise<{ inRange: number[]; outside: number; failures: string[] }> {
  const inRange: number[] = [];
  let outside = 0;
  const failures: string[] = [];
  const gateways = run.gateways;
  await mapLimit(
    Array.from({ length: SAMPLES }, (_, index) => index),
    6,
    async (index) => {
      const answer = await gateways[index % gateways.length].client.call('numbers/list', { random: 'true', limit: String(SAMPLE_LIMIT) }, 60_000);
      if (answer.outcome !== 'ok' || !Array.isArray(answer.body.numbers)) {
        failures.push(`sample ${index}: ${answer.outcome}/${answer.cause}`);
        return;
      }
      for (const text of answer.body.numbers as string[]) {
        const value = Number(text.replace('+', ''));
        if (value >= RANGE_START && value < RANGE_START + size) inRange.push(value - RANGE_START);
        else outside += 1;
      }
    },
  );
  return { inRange, outside, failures };
}

/**
 * The number of draws of one number from which a uniform sampler is ruled out: the smallest k with
 * size × P(Poisson(draws / size) ≥ k) below FALSE_ALARM (5 for 20,000 draws over 1,000,000 numbers).
 */
function tooManyDraws(draws: number, size: number): number {
  const mean = draws / size;
  let term = Math.exp(-mean);
  let below = 0;
  for (let k = 0; ; k += 1) {
    below += term;
    if (size * Math.max(0, 1 - below) < FALSE_ALARM) return k + 1;
    term *= mean / (k + 1);
  }
}

function chiSquare(offsets: readonly number[], size: number): { statistic: number; buckets: number[] } {
  const buckets = new Array<number>(BUCKETS).fill(0);
  for (const offset of offsets) buckets[Math.min(BUCKETS - 1, Math.floor((offset * BUCKETS) / size))] += 1;
  const expected = offsets.length / BUCKETS;
  const statistic = buckets.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0);
  return { statistic, buckets };
}

export async function bigRange(run: ClusterRun, size: number): Promise<void> {
  const { report } = run;
  const gateways = await run.ensureGateways();
  const start = `+${RANGE_START}`;
  const end = `+${RANGE_START + size - 1}`;
  const answer = await gateways[0].client.call('numbers/add_range', { start, end }, ADD_RANGE_TIMEOUT_MS);
  const seconds = (answer.endedAt - answer.startedAt) / 1000;
  const added = answer.outcome === 'ok' ? Number(answer.body.added) : 0;
  report.check(
    `d. numbers/add_range of ${size.toLocaleString('en-US')} through gateway1: ok`,
    answer.outcome === 'ok' && added === size,
    answer.outcome === 'ok'
      ? `ok in ${seconds.toFixed(1)} s, added ${added.toLocaleString('en-US')}, existing ${String(answer.body.existing)}`
      : `${answer.outcome}/${answer.cause} after ${seconds.toFixed(1)} s: ${answer.detail.slice(0, 200)}`,
  );
  const counts: { node: string; count: number }[] = [];
  for (const node of run.cluster.nodes) {
    const [rows] = await node.withConnection(
      (connection) => connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM numbers WHERE number BETWEEN ? AND ?', [RANGE_START, RANGE_START + size - 1]),
      DATABASE,
    );
    counts.push({ node: node.name, count: Number(rows[0].n) });
  }
  // All or nothing: the whole range (it was answered ok) on every node alike.
  const identical = counts.every(({ count }) => count === counts[0].count);
  report.check(
    'd. the range holds the same count on all three nodes',
    identical && counts[0].count === size,
    `${counts.map(({ node, count }) => `${node} ${count.toLocaleString('en-US')}`).join(', ')} (expected ${size.toLocaleString('en-US')})`,
  );

  const { inRange, outside, failures } = await sampleRandom(run, size);
  const perNumber = new Map<number, number>();
  for (const offset of inRange) perNumber.set(offset, (perNumber.get(offset) ?? 0) + 1);
  const most = Math.max(0, ...perNumber.values());
  const limit = tooManyDraws(inRange.length, size);
  const { statistic, buckets } = chiSquare(inRange, size);
  const often = [...perNumber].filter(([, count]) => count >= limit).map(([offset, count]) => `+${RANGE_START + offset} drawn ${count} times`);
  report.note(`random draws per tenth of the range: ${buckets.join(' ')} (chi-square ${statistic.toFixed(1)}, limit ${CHI_SQUARE_LIMIT})`);
  report.check(
    'd. numbers/list?random=true uniform-ish afterwards',
    failures.length === 0 && inRange.length > 0 && most < limit && statistic < CHI_SQUARE_LIMIT,
    `${SAMPLES} samples of ${SAMPLE_LIMIT}: ${inRange.length} draws in the range (${outside} outside it); most draws of one number ${most} (a uniform draw reaches ${limit} about once in ${Math.round(1 / FALSE_ALARM).toLocaleString('en-US')} runs); chi-square over ${BUCKETS} tenths ${statistic.toFixed(1)} (limit ${CHI_SQUARE_LIMIT})`,
    [...failures, ...often],
  );
}
