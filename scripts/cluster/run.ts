// `npm run test:cluster` (CONTRACT section 11, issue 12): starts a three-node MariaDB Galera cluster
// on this machine (galera.ts), one Simotel simulator process shared by every gateway
// (simulator-process.ts) and gateways as child processes on different nodes, runs conflicting and
// faulty workloads (scenarios/), checks the invariants after each, and stops and removes everything
// at the end, also after a failure or SIGINT. The last line is `N passed, N failed`; the exit status
// is 0 only when none failed.
//
// Scenario f runs b's storm again on one standalone server, for figures beside the cluster's.
//
// Environment (optional, for shorter or longer runs): CLUSTER_SCENARIOS (default a,b,c,d,e,f),
// CLUSTER_STARTUP_ROUNDS (scenario a's rounds, default 5),
// CLUSTER_BIG_RANGE (numbers in scenario d's range, default 1000000), CLUSTER_KEEP_DIR=true (keep
// the run's directory, with the nodes' logs, after the processes are stopped).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomCredentials } from '../../src/pbx/simulator';
import { openKeyFile } from '../../src/secrets/key-file';
import { killAllNow } from './children';
import { ClusterRun } from './cluster-run';
import { GaleraCluster, ensureGaleraInstalled, nodePorts } from './galera';
import { checkInvariants, LOCAL_DOMAIN } from './invariants';
import { Report } from './report';
import { bigRange } from './scenarios/big-range';
import { conflictStorm } from './scenarios/conflict-storm';
import { nodeFailover } from './scenarios/node-failover';
import { oneServerStorm } from './scenarios/one-server-storm';
import { readAfterWrite } from './scenarios/read-after-write';
import { startupRace } from './scenarios/startup-race';
import { SimulatorProcess } from './simulator-control';

const PBX_TIMEOUT_MS = 1000;

interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly run: (run: ClusterRun) => Promise<void>;
  /** It checks the invariants on its own servers (the cluster's are not its). */
  readonly ownInvariants?: boolean;
}

function bigRangeSize(): number {
  const size = Number(process.env.CLUSTER_BIG_RANGE ?? 1_000_000);
  if (!Number.isInteger(size) || size < 1000 || size > 1_000_000) throw new Error('CLUSTER_BIG_RANGE must be an integer from 1000 to 1000000');
  return size;
}

function startupRounds(): number {
  const rounds = Number(process.env.CLUSTER_STARTUP_ROUNDS ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error('CLUSTER_STARTUP_ROUNDS must be an integer from 1 to 100');
  return rounds;
}

function scenarios(): Scenario[] {
  const size = bigRangeSize();
  const rounds = startupRounds();
  const all: Scenario[] = [
    { id: 'a', title: `a. start-up race: three gateways at once on a fresh database, one per node, ${rounds} rounds`, run: (run) => startupRace(run, rounds) },
    { id: 'b', title: 'b. conflict storm over three gateways on three nodes', run: conflictStorm },
    { id: 'c', title: 'c. read-after-write through another node', run: readAfterWrite },
    { id: 'd', title: `d. numbers/add_range of ${size.toLocaleString('en-US')} through one gateway`, run: (run) => bigRange(run, size) },
    { id: 'e', title: 'e. a node killed under load and brought back', run: nodeFailover },
    { id: 'f', title: "f. b's storm again, its three gateways on one standalone server (for comparison)", run: oneServerStorm, ownInvariants: true },
  ];
  const wanted = (process.env.CLUSTER_SCENARIOS ?? 'a,b,c,d,e,f').split(',').map((id) => id.trim().toLowerCase());
  const unknown = wanted.filter((id) => !all.some((scenario) => scenario.id === id));
  if (unknown.length > 0) throw new Error(`CLUSTER_SCENARIOS: unknown scenario ${unknown.join(', ')} (known: a, b, c, d, e, f)`);
  return all.filter((scenario) => wanted.includes(scenario.id));
}

function seconds(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)} s`;
}

/** Everything the run holds, stopped in reverse order by teardown(); safe to call more than once. */
class Resources {
  cluster: GaleraCluster | null = null;
  simulator: SimulatorProcess | null = null;
  run: ClusterRun | null = null;
  private tearing: Promise<void> | null = null;

  constructor(readonly root: string) {}

  teardown(): Promise<void> {
    this.tearing ??= (async () => {
      await this.run?.stopAllGateways().catch(() => undefined);
      await this.simulator?.stop().catch(() => undefined);
      await this.cluster?.stop().catch(() => undefined);
      killAllNow();
      if (process.env.CLUSTER_KEEP_DIR !== 'true') fs.rmSync(this.root, { recursive: true, force: true });
    })();
    return this.tearing;
  }
}

async function runScenario(scenario: Scenario, run: ClusterRun): Promise<void> {
  const { report } = run;
  report.section(scenario.title);
  const started = performance.now();
  try {
    await scenario.run(run);
  } catch (error) {
    report.check(`${scenario.id}. scenario ran to its end`, false, (error as Error).message.split('\n').slice(0, 3).join(' | '));
  }
  try {
    if (!scenario.ownInvariants) await checkInvariants(run, `${scenario.id}.`);
  } catch (error) {
    report.check(`${scenario.id}. invariants could be checked`, false, (error as Error).message.split('\n')[0]);
  }
  report.note(`(${scenario.id} took ${seconds(started)})`);
}

/** The teardown left nothing: no node process, its ports free, the directory gone (unless kept). */
async function checkTeardown(report: Report, cluster: GaleraCluster, root: string): Promise<void> {
  const running = cluster.nodes.filter((node) => node.running).map((node) => node.name);
  let portsFree = true;
  try {
    await new GaleraCluster({ root, log: () => undefined }).checkPorts();
    await new GaleraCluster({ root, log: () => undefined, standalone: true }).checkPorts();
  } catch {
    portsFree = false;
  }
  const kept = process.env.CLUSTER_KEEP_DIR === 'true';
  const removed = kept || !fs.existsSync(root);
  report.check(
    'teardown: every node stopped, its ports free, its directory removed',
    running.length === 0 && portsFree && removed,
    `${running.length === 0 ? 'no node runs' : `still running: ${running.join(', ')}`}; ports ${portsFree ? 'free' : 'still taken'}; ${kept ? `directory kept: ${root}` : removed ? 'directory removed' : 'directory left'}`,
  );
}

async function main(): Promise<number> {
  const begun = performance.now();
  const report = new Report();
  const selected = scenarios();
  const root = path.join(os.tmpdir(), `pbxgw-cluster-${process.pid}`);
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(root, 0o755);
  const resources = new Resources(root);
  const interrupted = (signal: NodeJS.Signals) => {
    process.stdout.write(`\n${signal}: stopping the gateways, the simulator and the cluster ...\n`);
    void resources.teardown().finally(() => {
      report.check('the run was not interrupted', false, `${signal}: stopped and removed everything before the end`);
      process.stdout.write(`${report.tally()}\n`);
      process.exit(130);
    });
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  // Whatever else ends the process: no child left behind, nothing left in /tmp.
  process.once('exit', () => {
    killAllNow();
    if (process.env.CLUSTER_KEEP_DIR !== 'true') fs.rmSync(root, { recursive: true, force: true });
  });

  try {
    ensureGaleraInstalled((line) => report.note(line));
    report.section(`cluster: three MariaDB Galera nodes under ${root}`);
    report.note(`SQL ports ${[1, 2, 3].map((index) => nodePorts(index).sql).join(', ')}; wsrep ${[1, 2, 3].map((index) => nodePorts(index).group).join(', ')}; IST ${[1, 2, 3].map((index) => nodePorts(index).ist).join(', ')}; SST (rsync) ${[1, 2, 3].map((index) => nodePorts(index).sst).join(', ')}`);
    // One key for every gateway (they share the database), made here so no start races to make it.
    const gatewayDirectory = path.join(root, 'gateway');
    fs.mkdirSync(gatewayDirectory, { mode: 0o700 });
    const keyFile = openKeyFile(path.join(gatewayDirectory, 'secrets.key'));
    const credentials = randomCredentials();
    resources.simulator = await SimulatorProcess.start(credentials, 2 * PBX_TIMEOUT_MS);
    report.note(`Simotel simulator process on ${resources.simulator.url}`);

    const cluster = new GaleraCluster({ root, log: (line) => report.note(line) });
    resources.cluster = cluster;
    const clusterStarted = performance.now();
    try {
      await cluster.start();
      const states = await cluster.waitAllSynced(10_000);
      report.check('cluster: three nodes Synced', true, `${states.map((state, index) => `node${index + 1} ${state.state}, size ${state.clusterSize}`).join('; ')} (${seconds(clusterStarted)})`);
    } catch (error) {
      report.check('cluster: three nodes Synced', false, (error as Error).message);
      throw error;
    }

    const run = new ClusterRun(cluster, resources.simulator, keyFile.box, report, {
      pbxUrl: resources.simulator.url,
      pbxApiKey: credentials.apiKey,
      pbxUsername: credentials.username,
      pbxPassword: credentials.password,
      pbxTimeoutMs: PBX_TIMEOUT_MS,
      apiToken: randomBytes(32).toString('base64url'),
      secretsKeyFile: keyFile.path,
      localDomains: [LOCAL_DOMAIN],
    });
    resources.run = run;
    for (const scenario of selected) await runScenario(scenario, run);
  } catch (error) {
    report.note(`the run stopped: ${(error as Error).message.split('\n')[0]}`);
    if (report.failed === 0) report.check('the run reached its end', false, (error as Error).message.split('\n')[0]);
  } finally {
    report.section('teardown');
    const stopping = performance.now();
    await resources.teardown();
    if (resources.cluster) await checkTeardown(report, resources.cluster, root);
    report.note(`teardown took ${seconds(stopping)}; whole run ${seconds(begun)}`);
  }
  process.stdout.write(`${report.tally()}\n`);
  return report.failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`test:cluster: ${(error as Error).message}\n`);
    process.stdout.write('0 passed, 1 failed\n');
    process.exit(1);
  },
);
