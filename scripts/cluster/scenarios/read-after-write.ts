import { randomBytes } from 'node:crypto';
import type { ClusterRun, Gateway } from '../cluster-run';
import { mapLimit, outcomeSummary, type Answer } from '../gateways';

// Scenario c: a write answered ok through one gateway is seen by a read made right after through
// another gateway, on another node (Galera applies write-sets on the other nodes asynchronously:
// a gateway must make its reads wait for them, e.g. wsrep_sync_wait). Ranges are added in the
// background meanwhile, so that the nodes have write-sets to apply and a read that does not wait
// for them has a chance to show it.

const PAIRS = 300;
/** Pairs at once, each on another pair of nodes. */
const CONCURRENT_PAIRS = 3;
const NUMBER_BASE = 4940000000;
const BACKGROUND_BASE = 4945000000;
const BACKGROUND_RANGE = 5000;

interface Pair {
  readonly write: Answer;
  readonly read: Answer;
  readonly what: string;
}

async function writeThenRead(gateways: readonly Gateway[], index: number): Promise<Pair> {
  // Gateway n writes, gateway n+1 reads: every pair of nodes in turn.
  const writer = gateways[index % gateways.length].client;
  const reader = gateways[(index + 1) % gateways.length].client;
  if (index % 2 === 0) {
    const user = `raw${index}@remote.example`;
    const write = await writer.call('user/add_remote', { user, password: `Pw${randomBytes(9).toString('base64url')}`, displayname: `Read ${index}`, registrar: 'sip.remote.example' });
    const read = await reader.call('user/get', { user });
    return { write, read, what: `user/add_remote ${user} via ${writer.name}, user/get via ${reader.name}` };
  }
  const number = `+${NUMBER_BASE + index}`;
  const write = await writer.call('numbers/add', { number });
  const read = await reader.call('numbers/inpool', { number });
  return { write, read, what: `numbers/add ${number} via ${writer.name}, numbers/inpool via ${reader.name}` };
}

/** Adds ranges through each gateway in turn until stopped; resolves with their answers. */
function backgroundRanges(gateways: readonly Gateway[]): { stop: () => Promise<Answer[]> } {
  const answers: Answer[] = [];
  let running = true;
  const loop = (async () => {
    for (let k = 0; running; k += 1) {
      const start = BACKGROUND_BASE + k * BACKGROUND_RANGE;
      answers.push(await gateways[k % gateways.length].client.call('numbers/add_range', { start: `+${start}`, end: `+${start + BACKGROUND_RANGE - 1}` }));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return answers;
    },
  };
}

export async function readAfterWrite(run: ClusterRun): Promise<void> {
  const { report } = run;
  const gateways = await run.ensureGateways();
  const background = backgroundRanges(gateways);
  const pairs = await mapLimit(
    Array.from({ length: PAIRS }, (_, index) => index),
    CONCURRENT_PAIRS,
    (index) => writeThenRead(gateways, index),
  );
  const ranges = await background.stop();
  report.note(`background: ${ranges.length} ranges of ${BACKGROUND_RANGE} added meanwhile (${outcomeSummary(ranges)})`);
  const written = pairs.filter((pair) => pair.write.outcome === 'ok');
  const stale = written.filter((pair) => pair.read.outcome !== 'ok');
  const writeProblems = pairs.filter((pair) => pair.write.outcome !== 'ok').map((pair) => `${pair.what}: write ${pair.write.outcome}/${pair.write.cause}`);
  const readTimes = written.map((pair) => pair.read.endedAt - pair.read.startedAt).sort((a, b) => a - b);
  report.note(`writes: ${outcomeSummary(pairs.map((pair) => pair.write))}; reads: ${outcomeSummary(pairs.map((pair) => pair.read))}`);
  report.check('c. read-after-write: every write ok', writeProblems.length === 0, `${written.length} of ${PAIRS} writes ok`, writeProblems);
  report.check(
    'c. read-after-write through another node: 0 stale reads',
    stale.length === 0 && written.length > 0,
    `${stale.length} stale of ${written.length} reads right after an ok write (read median ${readTimes[Math.floor(readTimes.length / 2)]?.toFixed(1) ?? '-'} ms)`,
    stale.map((pair) => `${pair.what}: read ${pair.read.outcome}/${pair.read.cause}`),
  );
}
