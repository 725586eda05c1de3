import { performance } from 'node:perf_hooks';
import type { RowDataPacket } from 'mysql2/promise';
import { migrations } from '../../../src/db/migrations';
import { mysqlUrlFor, type ClusterRun, type Gateway } from '../cluster-run';
import { DATABASE, databaseExists } from '../invariants';

// Scenario a: three gateways started at once on a fresh database, one on each node, some rounds
// (the database dropped before each): every gateway gets ready, and every node holds the complete
// list of migrations, the same on all of them.

const READY_TIMEOUT_MS = 60_000;

async function dropDatabase(run: ClusterRun): Promise<void> {
  // DDL is replicated to every node before it returns (total order isolation).
  await run.cluster.node(1).withConnection((connection) => connection.query(`DROP DATABASE IF EXISTS \`${DATABASE}\``));
  for (const node of run.cluster.nodes) {
    if (await databaseExists(node)) throw new Error(`${DATABASE} is still on ${node.name} after DROP DATABASE`);
  }
}

async function appliedMigrations(run: ClusterRun): Promise<Map<string, string[]>> {
  const applied = new Map<string, string[]>();
  for (const node of run.cluster.nodes) {
    const names = await node.withConnection(async (connection) => {
      const [rows] = await connection.query<RowDataPacket[]>(`SELECT name FROM \`${DATABASE}\`.schema_migrations ORDER BY name`);
      return rows.map((row) => String(row.name));
    });
    applied.set(node.name, names);
  }
  return applied;
}

/** Starts one gateway per node at once; returns the ready ones, and a line for each that was not. */
async function raceOnce(run: ClusterRun, round: number): Promise<{ gateways: Gateway[]; ready: number; problems: string[]; slowestMs: number }> {
  const started = performance.now();
  const attempts = await Promise.allSettled(
    run.cluster.nodes.map(async (node) => {
      const gateway = await run.startGateway(`race${round}-gateway${node.index}`, mysqlUrlFor([node]));
      const readyAfter = await gateway.client.waitReady(READY_TIMEOUT_MS);
      return { gateway, node, ready: readyAfter !== null };
    }),
  );
  const slowestMs = performance.now() - started;
  const gateways: Gateway[] = [];
  const problems: string[] = [];
  let ready = 0;
  for (const [offset, attempt] of attempts.entries()) {
    if (attempt.status === 'rejected') {
      problems.push(`round ${round}, gateway on node${offset + 1}: ${(attempt.reason as Error).message}`);
      continue;
    }
    gateways.push(attempt.value.gateway);
    if (attempt.value.ready) ready += 1;
    else {
      problems.push(`round ${round}, gateway on ${attempt.value.node.name}: /readyz not 200 within ${READY_TIMEOUT_MS / 1000} s; ${attempt.value.gateway.process.lastErrors()}`);
    }
  }
  return { gateways, ready, problems, slowestMs };
}

export async function startupRace(run: ClusterRun, rounds = 5): Promise<void> {
  const { report } = run;
  const expected = migrations.map((migration) => migration.name).sort();
  const readyProblems: string[] = [];
  const schemaProblems: string[] = [];
  const times: number[] = [];
  for (let round = 1; round <= rounds; round += 1) {
    await dropDatabase(run);
    const { gateways, ready, problems, slowestMs } = await raceOnce(run, round);
    readyProblems.push(...problems);
    times.push(slowestMs);
    let schemaLine = 'schema_migrations not readable';
    try {
      const applied = await appliedMigrations(run);
      const lists = [...applied.values()].map((names) => JSON.stringify(names));
      const complete = [...applied].filter(([, names]) => JSON.stringify(names) === JSON.stringify(expected));
      if (complete.length !== applied.size) {
        for (const [node, names] of applied) {
          const missing = expected.filter((name) => !names.includes(name));
          if (missing.length > 0) schemaProblems.push(`round ${round}, ${node}: missing ${missing.join(', ')}`);
        }
      }
      if (new Set(lists).size > 1) schemaProblems.push(`round ${round}: the nodes hold different lists`);
      schemaLine = `${complete.length} of ${applied.size} nodes hold all ${expected.length} migrations`;
    } catch (error) {
      schemaProblems.push(`round ${round}: ${(error as Error).message}`);
    }
    report.note(`round ${round}: ${ready} of 3 gateways ready (round took ${(slowestMs / 1000).toFixed(1)} s); ${schemaLine}`);
    await Promise.all(gateways.map((gateway) => run.stopGateway(gateway)));
  }
  report.check(
    'a. start-up race: every gateway reaches /readyz 200',
    readyProblems.length === 0,
    `${rounds} rounds × 3 gateways on 3 nodes, fresh database each round; slowest round ${(Math.max(...times) / 1000).toFixed(1)} s; ${readyProblems.length} problems`,
    readyProblems,
  );
  report.check(
    'a. start-up race: schema_migrations complete and identical on every node',
    schemaProblems.length === 0,
    `${rounds} rounds, ${expected.length} migrations expected; ${schemaProblems.length} problems`,
    schemaProblems,
  );
}
