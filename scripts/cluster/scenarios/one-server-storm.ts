import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ClusterRun } from '../cluster-run';
import { GaleraCluster } from '../galera';
import { checkInvariants } from '../invariants';
import { SimulatorProcess } from '../simulator-control';
import { conflictStorm } from './conflict-storm';

// Scenario f: scenario b's storm with its three gateways on one standalone MariaDB server (no
// wsrep, port 3414, a datadir of its own) and a fresh simulator, so that the README can put the
// cluster's figures beside one server's, measured on the same machine in the same run. The
// cluster's gateways are stopped first; its nodes stay up, idle.

export async function oneServerStorm(run: ClusterRun): Promise<void> {
  const { report } = run;
  await run.stopAllGateways();
  const server = new GaleraCluster({ root: path.join(run.cluster.root, 'one-server'), standalone: true, log: (line) => report.note(line) });
  let simulator: SimulatorProcess | null = null;
  let single: ClusterRun | null = null;
  try {
    await server.start();
    simulator = await SimulatorProcess.start(run.simulator.credentials, 2 * run.settings.pbxTimeoutMs);
    single = new ClusterRun(server, simulator, run.secrets, report, { ...run.settings, pbxUrl: simulator.url });
    const started = performance.now();
    await conflictStorm(single, 'f');
    report.note(`the storm on one server took ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await checkInvariants(single, 'f. one server:');
  } finally {
    await single?.stopAllGateways().catch(() => undefined);
    await simulator?.stop().catch(() => undefined);
    await server.stop().catch(() => undefined);
  }
}
