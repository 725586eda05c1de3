import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RowDataPacket } from 'mysql2/promise';
import { mysqlUrlFor, type ClusterRun, type Gateway } from '../cluster-run';
import type { GaleraNode } from '../galera';
import { outcomeSummary, type Answer } from '../gateways';
import { DATABASE, LOCAL_DOMAIN } from '../invariants';

// Scenario e: the node a gateway prefers is killed (SIGKILL of its mariadbd) under a steady load of
// writes through that gateway, whose MYSQL_URL names all three nodes, killed one first; then it is
// brought back and rejoins (IST, or SST). CONTRACT section 11: the gateway moves to another node,
// requests in flight are settled as section 7 says, nothing acknowledged is lost.

const VICTIM = 2;
const WORKERS = 4;
const BEFORE_KILL_MS = 4000;
/** Long enough for Galera to leave the dead node out (5 to 10 s seen) and for writes to go on before it is back. */
const NODE_DOWN_MS = 14_000;
/** What the gateway's own failover may add to the cluster's pause in commits. */
const FAILOVER_MARGIN_MS = 2000;
const AFTER_REJOIN_MS = 4000;
const REJOIN_TIMEOUT_MS = 180_000;
const NUMBER_BASE = 4960000000;
const LOCAL_BASE = 80000;
/** An `error` whose detail says this may have changed something (CONTRACT section 7). */
const UNKNOWN_OUTCOME = /unknown/i;
const PROBE_DATABASE = 'pbxgw_cluster_probe';

type WriteKind = 'numbers/add' | 'user/add_remote' | 'user/add_local';

interface Write {
  readonly kind: WriteKind;
  /** The number's digits or the user's username (in REMOTE_DOMAIN or the local domain). */
  readonly key: string;
  readonly answer: Answer;
}

const REMOTE_DOMAIN = 'remote.example';

/** The k-th write of the load: numbers, remote users and local users (with their extension) in turn. */
function writeFor(sequence: number): { kind: WriteKind; key: string; params: Record<string, string> } {
  switch (sequence % 5) {
    case 0:
    case 1:
      return { kind: 'numbers/add', key: String(NUMBER_BASE + sequence), params: { number: `+${NUMBER_BASE + sequence}` } };
    case 2:
    case 3:
      return {
        kind: 'user/add_remote',
        key: `fo${sequence}`,
        params: { user: `fo${sequence}@${REMOTE_DOMAIN}`, password: `Pw${randomBytes(9).toString('base64url')}`, displayname: `Failover ${sequence}`, registrar: 'sip.remote.example' },
      };
    default:
      return { kind: 'user/add_local', key: String(LOCAL_BASE + sequence), params: { user: `${LOCAL_BASE + sequence}@${LOCAL_DOMAIN}`, displayname: `Failover ${sequence}` } };
  }
}

/** Workers writing through the gateway until stop() is called; every write and its answer is kept. */
function startLoad(gateway: Gateway): { writes: Write[]; stop: () => Promise<void> } {
  const writes: Write[] = [];
  let sequence = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      const { kind, key, params } = writeFor(sequence++);
      const answer = await gateway.client.call(kind, params, 45_000);
      writes.push({ kind, key, answer });
      // A gateway that answers at once without a database must not spin the machine.
      if (answer.outcome !== 'ok') await sleep(50);
    }
  };
  const workers = Array.from({ length: WORKERS }, worker);
  return {
    writes,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/**
 * Commits straight to a node that stays up, into a scratch database, every few milliseconds: how
 * long the cluster itself accepts no commit after the kill (Galera waits evs.suspect_timeout before
 * it leaves a silent node out), to tell that from the gateway's own failover time.
 */
function startCommitProbe(node: GaleraNode): { stop: () => Promise<number[]> } {
  const commits: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        await node.withConnection(async (connection) => {
          await connection.query(`CREATE DATABASE IF NOT EXISTS \`${PROBE_DATABASE}\``);
          await connection.query(`CREATE TABLE IF NOT EXISTS \`${PROBE_DATABASE}\`.commits (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP(6) NOT NULL)`);
          while (running) {
            await connection.query(`INSERT INTO \`${PROBE_DATABASE}\`.commits (at) VALUES (NOW(6))`);
            commits.push(performance.now());
            await sleep(20);
          }
        });
      } catch {
        await sleep(100);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await node.withConnection((connection) => connection.query(`DROP DATABASE IF EXISTS \`${PROBE_DATABASE}\``)).catch(() => undefined);
      return commits;
    },
  };
}

/** The longest stretch from `from` to `to` without one of `times`. */
function longestPause(times: readonly number[], from: number, to: number): number {
  let previous = from;
  let longest = 0;
  for (const time of [...times.filter((moment) => moment > from && moment < to).sort((a, b) => a - b), to]) {
    longest = Math.max(longest, time - previous);
    previous = time;
  }
  return longest;
}

/** The longest stretch, from `from` to `to`, with no answer ok completing in it. */
function longestGap(writes: readonly Write[], from: number, to: number): { gapMs: number; gapStartMs: number; firstOkAfterMs: number | null } {
  const times = writes
    .filter((write) => write.answer.outcome === 'ok' && write.answer.endedAt > from)
    .map((write) => write.answer.endedAt)
    .sort((a, b) => a - b);
  let previous = from;
  let gapMs = 0;
  let gapStartMs = 0;
  for (const time of [...times, to]) {
    if (time - previous > gapMs) {
      gapMs = time - previous;
      gapStartMs = previous - from;
    }
    previous = Math.max(previous, time);
  }
  // The first write sent after the kill and answered ok (one answered just after the kill may have committed before it).
  const firstSent = writes.filter((write) => write.answer.outcome === 'ok' && write.answer.startedAt > from).map((write) => write.answer.endedAt);
  return { gapMs, gapStartMs, firstOkAfterMs: firstSent.length > 0 ? Math.min(...firstSent) - from : null };
}

/** Which of the writes' keys each running node holds. */
async function presentKeys(run: ClusterRun, writes: readonly Write[]): Promise<Map<string, Set<string>>> {
  const present = new Map<string, Set<string>>();
  const numbers = writes.filter((write) => write.kind === 'numbers/add').map((write) => write.key);
  const users = writes.filter((write) => write.kind !== 'numbers/add');
  for (const node of run.cluster.nodes.filter((candidate) => candidate.running)) {
    const held = new Set<string>();
    await node.withConnection(async (connection) => {
      for (let offset = 0; offset < numbers.length; offset += 500) {
        const [rows] = await connection.query<RowDataPacket[]>('SELECT number FROM numbers WHERE number IN (?)', [numbers.slice(offset, offset + 500)]);
        for (const row of rows) held.add(`numbers/add ${String(row.number)}`);
      }
      for (let offset = 0; offset < users.length; offset += 500) {
        const names = users.slice(offset, offset + 500).map((write) => write.key);
        const [rows] = await connection.query<RowDataPacket[]>('SELECT username, domain, kind FROM users WHERE username IN (?)', [names]);
        for (const row of rows) held.add(`${row.kind === 'local' ? 'user/add_local' : 'user/add_remote'} ${String(row.username)}`);
      }
    }, DATABASE);
    present.set(node.name, held);
  }
  return present;
}

export async function nodeFailover(run: ClusterRun): Promise<void> {
  const { report, cluster } = run;
  const victim = cluster.node(VICTIM);
  const order = [victim, ...cluster.nodes.filter((node) => node !== victim)];
  let gateway: Gateway | null = null;
  try {
    gateway = await run.startGateway('failover-gateway', mysqlUrlFor(order));
    if ((await gateway.client.waitReady(60_000)) === null) throw new Error(`not ready (/readyz) within 60 s; ${gateway.process.lastErrors()}`);
    report.check('e. a gateway with MYSQL_URL naming all three nodes starts', true, `MYSQL_URL hosts ${order.map((node) => node.address).join(',')}`);
  } catch (error) {
    report.check('e. a gateway with MYSQL_URL naming all three nodes starts', false, (error as Error).message);
    if (gateway) await run.stopGateway(gateway);
    gateway = null;
  }

  const bystander = cluster.nodes.filter((node) => node !== victim).at(-1) as GaleraNode;
  const probe = startCommitProbe(bystander);
  const load = gateway ? startLoad(gateway) : null;
  await sleep(BEFORE_KILL_MS);
  const killedAt = performance.now();
  await victim.crash();
  report.note(`killed ${victim.name} (SIGKILL of mariadbd) with ${load?.writes.length ?? 0} writes answered so far`);
  await sleep(NODE_DOWN_MS);
  const rejoinStarted = performance.now();
  let rejoined = false;
  try {
    const { transfer, position } = await cluster.rejoin(victim, REJOIN_TIMEOUT_MS);
    rejoined = true;
    report.check(
      `e. ${victim.name} restarted and rejoined, all three Synced`,
      true,
      `rejoined by ${transfer} from position ${position} in ${((performance.now() - rejoinStarted) / 1000).toFixed(1)} s (down ${((rejoinStarted - killedAt) / 1000).toFixed(1)} s)`,
    );
  } catch (error) {
    report.check(`e. ${victim.name} restarted and rejoined, all three Synced`, false, (error as Error).message.split('\n')[0]);
  }
  const rejoinedAt = performance.now();
  await sleep(AFTER_REJOIN_MS);
  await load?.stop();
  const endedAt = performance.now();
  const clusterPause = longestPause(await probe.stop(), killedAt, endedAt);
  report.note(`the cluster itself: longest time without a commit on ${bystander.name} after the kill ${(clusterPause / 1000).toFixed(2)} s (direct SQL, every 20 ms)`);
  if (!load || !gateway) return;

  const writes = load.writes;
  const during = writes.filter((write) => write.answer.endedAt > killedAt && write.answer.startedAt < rejoinedAt);
  const { gapMs, gapStartMs, firstOkAfterMs } = longestGap(writes, killedAt, endedAt);
  report.note(`load: ${writes.length} writes by ${WORKERS} workers: ${outcomeSummary(writes.map((write) => write.answer))}`);
  report.note(`while ${victim.name} was down or rejoining: ${outcomeSummary(during.map((write) => write.answer))}`);
  const errorDetails = new Map<string, number>();
  for (const { kind, answer } of writes) {
    if (answer.outcome === 'ok') continue;
    const said = `${kind} ${answer.outcome}/${answer.cause}: ${answer.detail.slice(0, 140)}`;
    errorDetails.set(said, (errorDetails.get(said) ?? 0) + 1);
  }
  for (const [said, count] of errorDetails) report.note(`  ${count} × ${said}`);
  const okWhileDown = during.filter((write) => write.answer.outcome === 'ok' && write.answer.endedAt < rejoinStarted).length;
  // The gateway cannot commit while the cluster itself does not: what is judged is what it adds.
  report.check(
    'e. the gateway fails over and keeps acknowledging writes while the node is down',
    okWhileDown > 0 && gapMs <= clusterPause + FAILOVER_MARGIN_MS,
    `failover gap (longest time with no ok answer after the kill) ${(gapMs / 1000).toFixed(2)} s, from ${(gapStartMs / 1000).toFixed(1)} s after the kill ` +
      `(restart began at ${((rejoinStarted - killedAt) / 1000).toFixed(1)} s, Synced at ${((rejoinedAt - killedAt) / 1000).toFixed(1)} s); ` +
      `first ok to a write sent after the kill ${firstOkAfterMs === null ? 'never' : `${(firstOkAfterMs / 1000).toFixed(2)} s`} after it; ${okWhileDown} ok while the node was down; ` +
      `the cluster's own pause ${(clusterPause / 1000).toFixed(2)} s (the gateway may add ${FAILOVER_MARGIN_MS / 1000} s)`,
  );

  const present = await presentKeys(run, writes);
  const lost: string[] = [];
  const changedOnError: string[] = [];
  for (const write of writes) {
    const label = `${write.kind} ${write.key}`;
    const missingOn = [...present].filter(([, held]) => !held.has(label)).map(([node]) => node);
    if (write.answer.outcome === 'ok' && missingOn.length > 0) lost.push(`${label}: answered ok, missing on ${missingOn.join(', ')}`);
    const unknown = UNKNOWN_OUTCOME.test(write.answer.detail);
    if (write.answer.outcome === 'error' && !unknown && missingOn.length < present.size) changedOnError.push(`${label}: answered error/${write.answer.cause}, yet present on ${present.size - missingOn.length} nodes`);
  }
  const acknowledged = writes.filter((write) => write.answer.outcome === 'ok').length;
  report.check(
    'e. no acknowledged write lost: every ok write on every node',
    lost.length === 0 && rejoined,
    `${acknowledged - lost.length} of ${acknowledged} ok writes present on ${present.size} nodes${rejoined ? '' : ' (the killed node did not come back)'}`,
    lost,
  );
  const errors = writes.filter((write) => write.answer.outcome === 'error');
  report.check(
    'e. an error answer changed nothing (CONTRACT 7), unless it says the outcome is unknown',
    changedOnError.length === 0,
    `${errors.length} error answers (${errors.filter((write) => UNKNOWN_OUTCOME.test(write.answer.detail)).length} with an unknown outcome), ${changedOnError.length} of them committed anyway; ${writes.filter((write) => write.answer.outcome === 'transport').length} answers lost on the way`,
    changedOnError,
  );
  await run.stopGateway(gateway);
}
