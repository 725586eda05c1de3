import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { RowDataPacket } from 'mysql2/promise';
import type { FaultKind } from '../../../src/pbx/simulator';
import type { ClusterRun, Gateway } from '../cluster-run';
import { mapLimit, outcomeSummary, type Answer } from '../gateways';
import { DATABASE, LOCAL_DOMAIN, heldPassword, userOnNodes, waitForAgreement } from '../invariants';

// Scenario b: conflicting writes through three gateways on three nodes (CONTRACT section 11: a
// transaction refused at commit for a conflict with another node is run again; nothing is sent to
// the PBX twice blindly).

const ROUNDS = 10;
const CHANGES_PER_GATEWAY = 10;
/** Each round of the add_local race loses every users/add answer in one of these ways. */
const LOST_ANSWERS: readonly FaultKind[] = ['reset-after', 'timeout-after', 'delay-after'];
/** An `error` whose detail says this may have changed something (CONTRACT section 7). */
const UNKNOWN_OUTCOME = /unknown/i;

function newPassword(): string {
  return `Pw${randomBytes(12).toString('base64url')}`;
}

function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
}

function latencies(answers: readonly Answer[]): string {
  const times = answers.map((answer) => answer.endedAt - answer.startedAt);
  return `median ${percentile(times, 0.5).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`;
}

function failures(answers: readonly Answer[], label: (index: number) => string, accept: (answer: Answer) => boolean): string[] {
  return answers.flatMap((answer, index) => (accept(answer) ? [] : [`${label(index)}: ${answer.outcome}/${answer.cause}${answer.detail ? ` (${answer.detail.slice(0, 160)})` : ''}`]));
}

// ---------------------------------------------------------------------------------------------
// (i) change_pw storm on one local user

async function changePasswordStorm(run: ClusterRun, gateways: readonly Gateway[], id: string): Promise<void> {
  const { report } = run;
  const username = '7001';
  const user = `${username}@${LOCAL_DOMAIN}`;
  const created = await gateways[0].client.call('user/add_local', { user, displayname: 'Storm One' });
  if (created.outcome !== 'ok') {
    report.check(`${id}(i) change_pw storm: set-up`, false, `user/add_local ${user} answered ${created.outcome}/${created.cause} ${created.detail}`);
    return;
  }
  const all: Answer[] = [];
  const problems: string[] = [];
  const mismatches: string[] = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    const passwords = Array.from({ length: CHANGES_PER_GATEWAY * gateways.length }, newPassword);
    const answers = await Promise.all(passwords.map((password, index) => gateways[index % gateways.length].client.call('user/change_pw', { user, password })));
    all.push(...answers);
    problems.push(...failures(answers, (index) => `round ${round}, ${gateways[index % gateways.length].client.name}`, (answer) => answer.outcome === 'ok'));
    const accepted = new Set(passwords.filter((_, index) => answers[index].outcome === 'ok'));
    const inMysql = await heldPassword(run, username);
    const onPbx = (await run.simulator.extensions()).find((extension) => extension.number === username)?.secret;
    if (inMysql === undefined || onPbx === undefined) mismatches.push(`round ${round}: the user is ${inMysql === undefined ? 'gone from MySQL' : 'gone from the PBX'}`);
    else if (onPbx !== inMysql) mismatches.push(`round ${round}: the PBX secret is not MySQL's password`);
    else if (accepted.size > 0 && !accepted.has(inMysql)) mismatches.push(`round ${round}: the password both hold is not one answered ok`);
  }
  report.note(`change_pw: ${all.length} answers (${outcomeSummary(all)}), ${latencies(all)}`);
  report.check(
    `${id}(i) change_pw storm: every answer ok`,
    problems.length === 0,
    `${ROUNDS} rounds × ${CHANGES_PER_GATEWAY * gateways.length} concurrent changes of ${user} over 3 gateways: ${outcomeSummary(all)}`,
    problems,
  );
  report.check(
    `${id}(i) change_pw storm: PBX secret equals MySQL password after every round`,
    mismatches.length === 0,
    `${ROUNDS - mismatches.length} of ${ROUNDS} rounds agree, on a password answered ok`,
    mismatches,
  );
}

// ---------------------------------------------------------------------------------------------
// (ii) add_local of one extension raced from three gateways while the PBX loses answers

interface RaceRound {
  readonly round: number;
  readonly username: string;
  readonly fault: FaultKind;
  readonly answers: Answer[];
}

function describeRound(race: RaceRound, inMysql: boolean, onPbx: boolean): string {
  const outcomes = race.answers.map((answer) => (answer.outcome === 'ok' ? 'ok' : `${answer.outcome}/${answer.cause}`)).join(', ');
  return `round ${race.round} (${race.fault}): ${outcomes}; user in MySQL ${inMysql ? 'yes' : 'no'}, extension on PBX ${onPbx ? 'yes' : 'no'}`;
}

/** What is wrong with one round's outcomes given the final state; null when they are consistent. */
function inconsistency(race: RaceRound, inMysql: boolean): string | null {
  const ok = race.answers.filter((answer) => answer.outcome === 'ok').length;
  const unknown = race.answers.some((answer) => answer.outcome === 'transport' || (answer.outcome === 'error' && UNKNOWN_OUTCOME.test(answer.detail)));
  const strange = race.answers.filter((answer) => answer.outcome !== 'ok' && answer.outcome !== 'error' && !(answer.outcome === 'failed' && answer.cause === 'exists'));
  if (ok > 1) return `${ok} answers ok for one extension`;
  if (strange.length > 0) return `unexpected ${strange.map((answer) => `${answer.outcome}/${answer.cause}`).join(', ')}`;
  if (ok === 1 && !inMysql) return 'answered ok, but MySQL has no such user';
  if (ok === 0 && inMysql && !unknown) return 'no answer ok (none with an unknown outcome), yet MySQL has the user';
  if (ok === 0 && !inMysql && race.answers.some((answer) => answer.outcome === 'failed')) return 'failed/exists answered, yet nobody holds the user';
  return null;
}

async function addLocalRace(run: ClusterRun, gateways: readonly Gateway[], id: string): Promise<void> {
  const { report } = run;
  const races: RaceRound[] = [];
  const before = await run.simulator.stats();
  for (let round = 1; round <= ROUNDS; round += 1) {
    const username = String(7200 + round);
    const fault = LOST_ANSWERS[(round - 1) % LOST_ANSWERS.length];
    // Every users/add of the round is applied by the PBX and its answer lost.
    await run.simulator.setRandomFaults({ rate: 1, seed: round, paths: ['/pbx/users/add'], kinds: [fault] });
    try {
      const answers = await Promise.all(gateways.map((gateway) => gateway.client.call('user/add_local', { user: `${username}@${LOCAL_DOMAIN}`, displayname: `Race ${round}` })));
      races.push({ round, username, fault, answers });
    } finally {
      await run.simulator.setRandomFaults(null);
    }
  }
  const after = await run.simulator.stats();
  const lost = LOST_ANSWERS.map((kind) => `${kind} ${after.faults[kind] - before.faults[kind]}`).join(', ');
  report.note(`users/add answers the simulator lost: ${lost}`);
  // Extensions in doubt are repaired within 30 s (CONTRACT section 7): judge the settled state.
  const agreement = await waitForAgreement(run);
  const extensions = new Set((await run.simulator.extensions()).map((extension) => extension.number));
  const inconsistent: string[] = [];
  const split: string[] = [];
  for (const race of races) {
    const held = await userOnNodes(run.cluster, race.username, LOCAL_DOMAIN);
    const inMysql = [...held.values()].every(Boolean);
    const onPbx = extensions.has(race.username);
    report.note(describeRound(race, inMysql, onPbx));
    if ([...held.values()].some(Boolean) !== inMysql) split.push(`${race.username}: the nodes disagree (${[...held].map(([node, has]) => `${node} ${has ? 'has' : 'lacks'}`).join(', ')})`);
    if (inMysql !== onPbx) split.push(`${race.username}: ${inMysql ? 'in MySQL but not on the PBX' : 'on the PBX but not in MySQL'}`);
    const wrong = inconsistency(race, inMysql);
    if (wrong) inconsistent.push(`round ${race.round} (${race.fault}): ${wrong}`);
  }
  const answers = races.flatMap((race) => race.answers);
  const oks = races.filter((race) => race.answers.some((answer) => answer.outcome === 'ok')).length;
  report.check(
    `${id}(ii) add_local race with lost PBX answers: one ok or consistent outcomes`,
    inconsistent.length === 0,
    `${ROUNDS} rounds × 3 gateways: ${outcomeSummary(answers)}; ${oks} rounds with exactly one ok`,
    inconsistent,
  );
  report.check(
    `${id}(ii) add_local race: the PBX has the extension iff MySQL has the user`,
    split.length === 0,
    `${ROUNDS - split.length} of ${ROUNDS} extensions consistent${agreement.agreed ? ` (stores settled after ${(agreement.waitedMs / 1000).toFixed(1)} s)` : ', stores not settled'}`,
    split,
  );
}

// ---------------------------------------------------------------------------------------------
// (iii) disjoint add_range, and numbers/add and phone/add storms, from all three gateways at once

const RANGE_BASE = 4930000000;
const RANGE_SIZE = 2000;
const RANGES_PER_GATEWAY = 3;
/** Numbers the three gateways' ranges cover together. */
const RANGES_TOTAL = 3 * RANGES_PER_GATEWAY * RANGE_SIZE;
const STORM_NUMBER_BASE = 4931000000;
const STORM_NUMBERS = 60;
const STORM_MACS = 20;
const PHONE_USER = `storm-phone@remote.example`;
/** Requests in flight per gateway (the contract lets a token keep 32). */
const IN_FLIGHT = 12;

interface Call {
  readonly node: string;
  readonly params: Record<string, string>;
  /** The key contended by the three gateways, or null for a range. */
  readonly key: string | null;
}

function callsFor(gatewayIndex: number): Call[] {
  const calls: Call[] = [];
  for (let k = 0; k < RANGES_PER_GATEWAY; k += 1) {
    const start = RANGE_BASE + (gatewayIndex * RANGES_PER_GATEWAY + k) * RANGE_SIZE;
    calls.push({ node: 'numbers/add_range', params: { start: `+${start}`, end: `+${start + RANGE_SIZE - 1}` }, key: null });
  }
  // The same order on every gateway, so that each key is asked for by all three at about the same moment.
  for (let index = 0; index < Math.max(STORM_NUMBERS, STORM_MACS); index += 1) {
    if (index < STORM_NUMBERS) calls.push({ node: 'numbers/add', params: { number: `+${STORM_NUMBER_BASE + index}` }, key: `number +${STORM_NUMBER_BASE + index}` });
    if (index < STORM_MACS) {
      const mac = `0004f2c0${index.toString(16).padStart(4, '0')}`;
      calls.push({ node: 'phone/add', params: { mac, user: PHONE_USER }, key: `phone ${mac}` });
    }
  }
  return calls;
}

async function poolCounts(run: ClusterRun): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const ranges = [
    [RANGE_BASE, RANGE_BASE + RANGES_TOTAL - 1],
    [STORM_NUMBER_BASE, STORM_NUMBER_BASE + STORM_NUMBERS - 1],
  ];
  for (const node of run.cluster.nodes.filter((candidate) => candidate.running)) {
    let total = 0;
    for (const [low, high] of ranges) {
      const [rows] = await node.withConnection((connection) => connection.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM numbers WHERE number BETWEEN ? AND ?', [low, high]), DATABASE);
      total += Number(rows[0].n);
    }
    counts.set(node.name, total);
  }
  return counts;
}

async function numbersAndPhonesStorm(run: ClusterRun, gateways: readonly Gateway[], id: string): Promise<void> {
  const { report } = run;
  const owner = await gateways[0].client.call('user/add_remote', { user: PHONE_USER, password: newPassword(), displayname: 'Phone Storm', registrar: 'sip.remote.example' });
  if (owner.outcome !== 'ok') {
    report.check(`${id}(iii) numbers and phones storm: set-up`, false, `user/add_remote answered ${owner.outcome}/${owner.cause} ${owner.detail}`);
    return;
  }
  const perGateway = gateways.map((_, index) => callsFor(index));
  const results = await Promise.all(
    gateways.map((gateway, index) => mapLimit(perGateway[index], IN_FLIGHT, async (call) => ({ call, answer: await gateway.client.call(call.node, call.params) }))),
  );
  const flat = results.flat();
  const problems = failures(
    flat.map(({ answer }) => answer),
    (index) => `${flat[index].call.node} ${JSON.stringify(flat[index].call.params)}`,
    (answer) => answer.outcome === 'ok' || answer.outcome === 'failed',
  );
  const okPerKey = new Map<string, number>();
  for (const { call, answer } of flat) if (call.key) okPerKey.set(call.key, (okPerKey.get(call.key) ?? 0) + (answer.outcome === 'ok' ? 1 : 0));
  const notOnce = [...okPerKey].filter(([, count]) => count !== 1).map(([key, count]) => `${key}: ${count} answers ok`);
  const rangeAnswers = flat.filter(({ call }) => call.key === null).map(({ answer }) => answer);
  const rangesAdded = rangeAnswers.reduce((sum, answer) => sum + (answer.outcome === 'ok' ? Number(answer.body.added) : 0), 0);
  const expected = RANGES_TOTAL + STORM_NUMBERS;
  const counts = await poolCounts(run);
  const countProblems = [...counts].filter(([, count]) => count !== expected).map(([node, count]) => `${node}: ${count} numbers, ${expected} expected`);
  report.note(`add_range: ${outcomeSummary(rangeAnswers)}, ${rangesAdded} numbers added; ${latencies(rangeAnswers)}`);
  report.check(
    `${id}(iii) add_range/numbers/add/phone/add storm: every answer ok or failed, never error`,
    problems.length === 0,
    `${flat.length} requests over 3 gateways: ${outcomeSummary(flat.map(({ answer }) => answer))}`,
    problems,
  );
  report.check(
    `${id}(iii) contended numbers/add and phone/add: exactly one ok per key`,
    notOnce.length === 0,
    `${okPerKey.size} keys each asked by 3 gateways at once; ${okPerKey.size - notOnce.length} with exactly one ok`,
    notOnce,
  );
  report.check(
    `${id}(iii) the pool holds every range and storm number, on every node`,
    countProblems.length === 0 && rangesAdded === RANGES_TOTAL,
    `${[...counts].map(([node, count]) => `${node} ${count}`).join(', ')} (expected ${expected}); ranges answered added ${rangesAdded} of ${RANGES_TOTAL}`,
    countProblems,
  );
}

/** The storm over the run's three gateways; `id` names its checks (b on the cluster, f on one server). */
export async function conflictStorm(run: ClusterRun, id = 'b'): Promise<void> {
  const gateways = await run.ensureGateways();
  const parts: readonly [string, (run: ClusterRun, gateways: readonly Gateway[], id: string) => Promise<void>][] = [
    ['(i) change_pw of one local user, 30 at once over three gateways', changePasswordStorm],
    ['(ii) add_local of one extension from three gateways at once, the PBX losing every users/add answer', addLocalRace],
    ['(iii) disjoint add_range, numbers/add and phone/add storms from all three gateways', numbersAndPhonesStorm],
  ];
  for (const [title, part] of parts) {
    run.report.note(title);
    const started = performance.now();
    await part(run, gateways, id);
    run.report.note(`${title.split(' ')[0]} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
}
