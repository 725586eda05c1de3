import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { hasExited, register, signal, stopChild, waitExit } from './children';

// A three-node MariaDB Galera cluster on this machine, for `npm run test:cluster` (CONTRACT
// section 11): Debian's galera-4 provider under /usr/sbin/mariadbd, one datadir per node under the
// run's own temporary directory, ports of its own (never the server on 3306). Each node reads only
// the option file written here (--defaults-file), never /etc/mysql, so the machine's own server and
// its datadir are out of reach; the rsync SST script is handed the same file by mariadbd.
// The same class runs one standalone server too (no wsrep), to measure a workload on one server
// beside the cluster.

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_DB = '/usr/bin/mariadb-install-db';
const PROVIDER = '/usr/lib/galera/libgalera_smm.so';
const SST_SCRIPT = '/usr/bin/wsrep_sst_rsync';
const RSYNC = '/usr/bin/rsync';

export interface NodePorts {
  readonly sql: number;
  /** Group communication (gmcast). */
  readonly group: number;
  /** Incremental state transfer receiver. */
  readonly ist: number;
  /** State snapshot transfer receiver (the rsync daemon of a joiner). */
  readonly sst: number;
}

/** Node n (1-based) listens on 3410+n for SQL, 4570+n, 4580+n and 4590+n for Galera. */
export function nodePorts(index: number): NodePorts {
  return { sql: 3410 + index, group: 4570 + index, ist: 4580 + index, sst: 4590 + index };
}

export interface WsrepStatus {
  readonly state: string;
  readonly clusterSize: number;
  readonly clusterStatus: string;
}

/** What the (re)join of a node received, read off its error log: "IST (1347 write-sets)", "SST (full copy)", ... */
export type StateTransfer = string;

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Resolves whether something listens on 127.0.0.1:port (a port this run cannot use). */
function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(false)));
  });
}

/**
 * The packages the cluster needs, installed with apt-get when missing and running as root
 * (CONTRACT section 11: "installed when missing"); otherwise a clear refusal.
 */
export function ensureGaleraInstalled(log: (line: string) => void): void {
  const missingPackages = new Set<string>();
  if (!fs.existsSync(PROVIDER)) missingPackages.add('galera-4');
  if (!fs.existsSync(RSYNC)) missingPackages.add('rsync');
  if (!fs.existsSync(MARIADBD) || !fs.existsSync(INSTALL_DB) || !fs.existsSync(SST_SCRIPT)) missingPackages.add('mariadb-server');
  if (missingPackages.size === 0) return;
  const names = [...missingPackages];
  if (process.getuid?.() !== 0) throw new Error(`missing packages: ${names.join(', ')} (run: sudo apt-get install -y ${names.join(' ')})`);
  log(`installing ${names.join(', ')} with apt-get ...`);
  const aptGet = (...args: string[]) =>
    spawnSync('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  const install = () => aptGet('install', '-y', '--no-install-recommends', ...names);
  // A machine whose package lists were never fetched knows no galera-4 until apt-get update.
  if (!install() && !(aptGet('update') && install())) throw new Error(`apt-get install -y ${names.join(' ')} failed`);
}

/** The system user mariadbd runs as when the run is root (mariadbd refuses root without --user=root). */
function mysqlAccount(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('mysql:'));
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function chownTree(directory: string, account: { uid: number; gid: number }): void {
  fs.chownSync(directory, account.uid, account.gid);
  for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) chownTree(full, account);
    else fs.chownSync(full, account.uid, account.gid);
  }
}

export class GaleraNode {
  readonly name: string;
  readonly ports: NodePorts;
  readonly directory: string;
  readonly dataDirectory: string;
  readonly optionFile: string;
  readonly errorLog: string;
  private process: ChildProcess | null = null;
  /** Bytes of the error log already read, so that a rejoin's state transfer is read from its own lines. */
  private logMark = 0;

  constructor(
    readonly index: number,
    root: string,
    private readonly account: { uid: number; gid: number } | null,
    /** False for a standalone server: no wsrep provider, no cluster. */
    readonly wsrep = true,
  ) {
    this.name = `node${index}`;
    this.ports = nodePorts(index);
    this.directory = path.join(root, this.name);
    this.dataDirectory = path.join(this.directory, 'data');
    this.optionFile = path.join(this.directory, 'my.cnf');
    this.errorLog = path.join(this.directory, 'error.log');
  }

  /** host:port of its SQL listener. */
  get address(): string {
    return `127.0.0.1:${this.ports.sql}`;
  }

  get running(): boolean {
    return this.process !== null && !hasExited(this.process);
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  writeOptionFile(clusterAddress: string): void {
    fs.mkdirSync(path.join(this.directory, 'tmp'), { recursive: true });
    fs.mkdirSync(this.dataDirectory, { recursive: true });
    const provider = [
      `gmcast.listen_addr=tcp://127.0.0.1:${this.ports.group}`,
      `ist.recv_addr=127.0.0.1:${this.ports.ist}`,
      // Big enough that a node killed for a few seconds under load rejoins by IST, not a full copy.
      'gcache.size=512M',
    ].join(';');
    const options = [
      '[mysqld]',
      `datadir=${this.dataDirectory}`,
      `socket=${path.join(this.directory, 'mysqld.sock')}`,
      `pid-file=${path.join(this.directory, 'mysqld.pid')}`,
      `log-error=${this.errorLog}`,
      `tmpdir=${path.join(this.directory, 'tmp')}`,
      `port=${this.ports.sql}`,
      'bind-address=127.0.0.1',
      'skip-name-resolve',
      ...(this.account ? ['user=mysql'] : []),
      'character-set-server=utf8mb4',
      'collation-server=utf8mb4_general_ci',
      'max_connections=500',
      'default_storage_engine=InnoDB',
      'binlog_format=ROW',
      'innodb_autoinc_lock_mode=2',
      'innodb_buffer_pool_size=256M',
      // A SIGKILLed mariadbd loses nothing with 2 (the log is written at commit, flushed each second);
      // only a machine crash would, and the cluster holds every committed write-set on the other nodes.
      'innodb_flush_log_at_trx_commit=2',
      ...(this.wsrep
        ? [
            'wsrep_on=ON',
            `wsrep_provider=${PROVIDER}`,
            'wsrep_cluster_name=pbxgw_cluster',
            `wsrep_cluster_address=${clusterAddress}`,
            `wsrep_node_name=${this.name}`,
            `wsrep_node_address=127.0.0.1:${this.ports.group}`,
            `wsrep_node_incoming_address=127.0.0.1:${this.ports.sql}`,
            `wsrep_provider_options="${provider}"`,
            'wsrep_sst_method=rsync',
            `wsrep_sst_receive_address=127.0.0.1:${this.ports.sst}`,
            'wsrep_slave_threads=2',
          ]
        : []),
      '',
      '[client]',
      `socket=${path.join(this.directory, 'mysqld.sock')}`,
      '',
    ];
    fs.writeFileSync(this.optionFile, options.join('\n'));
  }

  /** The system tables (node 1 only: the others receive everything by SST when they join). */
  installSystemTables(): void {
    const install = spawnSync(
      INSTALL_DB,
      [
        `--defaults-file=${this.optionFile}`,
        ...(this.account ? ['--user=mysql'] : []),
        '--skip-test-db',
        // root with an empty password, also as root@127.0.0.1 for TCP (the gateways' MYSQL_URL).
        '--auth-root-authentication-method=normal',
      ],
      { encoding: 'utf8' },
    );
    if (install.status !== 0) throw new Error(`${this.name}: mariadb-install-db failed (exit ${install.status}):\n${(install.stderr || install.stdout).slice(-2000)}`);
  }

  giveToAccount(): void {
    if (this.account) chownTree(this.directory, this.account);
  }

  /** Starts mariadbd (in a process group of its own, with its SST helpers); does not wait for it. */
  start(extraArguments: readonly string[] = []): void {
    if (this.running) throw new Error(`${this.name} is running already`);
    this.logMark = fs.existsSync(this.errorLog) ? fs.statSync(this.errorLog).size : 0;
    const output = fs.openSync(path.join(this.directory, 'stdout.log'), 'a');
    try {
      this.process = spawn(MARIADBD, [`--defaults-file=${this.optionFile}`, ...extraArguments], { stdio: ['ignore', output, output], detached: true });
    } finally {
      fs.closeSync(output);
    }
    register(this.process, { group: true });
  }

  /**
   * Finds the last committed position after a crash (`mariadbd --wsrep-recover`, what Debian's
   * galera_recovery does before a start), so that the node can ask for IST instead of a full SST.
   * Returns `--wsrep-start-position=…` or nothing when it cannot tell.
   */
  async recoverPosition(): Promise<string[]> {
    const recoverLog = path.join(this.directory, 'recover.log');
    fs.rmSync(recoverLog, { force: true });
    const output = fs.openSync(path.join(this.directory, 'stdout.log'), 'a');
    let recovery: ChildProcess;
    try {
      recovery = spawn(MARIADBD, [`--defaults-file=${this.optionFile}`, '--wsrep-recover', `--log-error=${recoverLog}`], {
        stdio: ['ignore', output, output],
        detached: true,
      });
    } finally {
      fs.closeSync(output);
    }
    register(recovery, { group: true });
    if (!(await waitExit(recovery, 120_000))) {
      signal(recovery, 'SIGKILL');
      await waitExit(recovery, 5000);
      return [];
    }
    const found = /WSREP: Recovered position: ([0-9a-f-]{36}:-?\d+)/.exec(fs.existsSync(recoverLog) ? fs.readFileSync(recoverLog, 'utf8') : '');
    return found && !found[1].endsWith(':-1') ? [`--wsrep-start-position=${found[1]}`] : [];
  }

  /** SIGKILL of mariadbd alone (a crash); resolves once it is gone. */
  async crash(): Promise<void> {
    if (!this.process || hasExited(this.process)) return;
    try {
      process.kill(this.process.pid as number, 'SIGKILL');
    } catch {
      // gone already
    }
    await waitExit(this.process, 10_000);
    this.sweepGroup();
  }

  /** An orderly shutdown (SIGTERM), SIGKILL after `graceMs`; then whatever is left of its group. */
  async stop(graceMs = 20_000): Promise<void> {
    if (this.process) await stopChild(this.process, graceMs);
    this.sweepGroup();
  }

  /** SST helpers (rsync daemon, the SST script) outlive a killed mariadbd: they are in its group. */
  private sweepGroup(): void {
    if (this.process?.pid === undefined) return;
    try {
      process.kill(-this.process.pid, 'SIGKILL');
    } catch {
      // the group is empty
    }
  }

  /** A connection as root over TCP, with reads that wait for every write-set the cluster committed first. */
  async connect(database?: string): Promise<mysql.Connection> {
    const connection = await mysql.createConnection({
      host: '127.0.0.1',
      port: this.ports.sql,
      user: 'root',
      database,
      connectTimeout: 3000,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    try {
      await connection.query('SET SESSION wsrep_sync_wait = IF(@@wsrep_on, 1, 0)');
    } catch (error) {
      await connection.end().catch(() => undefined);
      throw error;
    }
    return connection;
  }

  async withConnection<T>(work: (connection: mysql.Connection) => Promise<T>, database?: string): Promise<T> {
    const connection = await this.connect(database);
    try {
      return await work(connection);
    } finally {
      await connection.end().catch(() => undefined);
    }
  }

  /** Its wsrep state (a standalone server that answers: Synced in a "cluster" of one), or null when it does not answer. */
  async status(): Promise<WsrepStatus | null> {
    if (!this.running) return null;
    try {
      return await this.withConnection(async (connection) => {
        if (!this.wsrep) {
          await connection.query('SELECT 1');
          return { state: 'Synced', clusterSize: 1, clusterStatus: 'Primary' };
        }
        const [rows] = await connection.query<RowDataPacket[]>(
          "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', 'wsrep_cluster_size', 'wsrep_cluster_status')",
        );
        const value = (name: string) => String(rows.find((row) => row.Variable_name === name)?.Value ?? '');
        return { state: value('wsrep_local_state_comment'), clusterSize: Number(value('wsrep_cluster_size')), clusterStatus: value('wsrep_cluster_status') };
      });
    } catch {
      return null;
    }
  }

  /** Waits until the node reports Synced in a primary component of `size` nodes. */
  async waitSynced(size: number, timeoutMs: number): Promise<WsrepStatus> {
    const deadline = performance.now() + timeoutMs;
    let last: WsrepStatus | null = null;
    for (;;) {
      if (this.process && hasExited(this.process)) {
        throw new Error(`${this.name}: mariadbd exited (${this.process.exitCode ?? this.process.signalCode}) while starting:\n${tail(this.errorLog, 25)}`);
      }
      last = await this.status();
      if (last && last.state === 'Synced' && last.clusterSize === size && last.clusterStatus === 'Primary') return last;
      if (performance.now() > deadline) {
        throw new Error(`${this.name}: not Synced in a cluster of ${size} within ${timeoutMs} ms (last: ${JSON.stringify(last)}):\n${tail(this.errorLog, 25)}`);
      }
      await sleep(250);
    }
  }

  /** Which state transfer the last start received, from the error log lines written since. */
  lastStateTransfer(): StateTransfer {
    let text = '';
    try {
      const descriptor = fs.openSync(this.errorLog, 'r');
      try {
        const size = fs.fstatSync(descriptor).size;
        const buffer = Buffer.alloc(Math.max(0, size - this.logMark));
        fs.readSync(descriptor, buffer, 0, buffer.length, this.logMark);
        text = buffer.toString('utf8');
      } finally {
        fs.closeSync(descriptor);
      }
    } catch {
      return 'unknown';
    }
    // The rsync script runs for an IST too ("rsync IST completed"), and mariadbd then logs "SST
    // received" either way: only the script's own line tells a full copy from write-sets alone.
    const writeSets = /Receiving IST: (\d+) writesets/.exec(text);
    const incremental = writeSets ? ` + IST of ${writeSets[1]} write-sets` : '';
    if (/rsync SST completed on joiner/.test(text)) return `SST (full copy)${incremental}`;
    if (/rsync IST completed on joiner/.test(text) || /WSREP: IST received/.test(text)) return `IST${writeSets ? ` (${writeSets[1]} write-sets)` : ''}`;
    if (/Synchronized with group/.test(text)) return 'no state transfer';
    return 'an unknown state transfer';
  }

  errorLogTail(lines = 25): string {
    return tail(this.errorLog, lines);
  }
}

export interface ClusterOptions {
  /** The run's own directory; each node gets a folder in it. */
  readonly root: string;
  readonly size?: number;
  readonly log: (line: string) => void;
  /** One standalone server instead of a cluster (node 4: ports 3414, 4574, 4584, 4594). */
  readonly standalone?: boolean;
}

export class GaleraCluster {
  readonly nodes: GaleraNode[];

  constructor(private readonly options: ClusterOptions) {
    const account = mysqlAccount();
    this.nodes = options.standalone
      ? [new GaleraNode(4, options.root, account, false)]
      : Array.from({ length: options.size ?? 3 }, (_, offset) => new GaleraNode(offset + 1, options.root, account));
  }

  get root(): string {
    return this.options.root;
  }

  get clusterAddress(): string {
    return `gcomm://${this.nodes.map((node) => `127.0.0.1:${node.ports.group}`).join(',')}`;
  }

  node(index: number): GaleraNode {
    return this.nodes[index - 1];
  }

  /** Refuses to start when a port is taken (a cluster left from a run that was killed, say). */
  async checkPorts(): Promise<void> {
    const taken: string[] = [];
    for (const node of this.nodes) {
      for (const [role, port] of Object.entries(node.ports)) if (await portTaken(port)) taken.push(`${node.name} ${role} ${port}`);
    }
    if (taken.length > 0) {
      throw new Error(`ports in use: ${taken.join(', ')} (a cluster left by an earlier run? see ${path.join(path.dirname(this.options.root), 'pbxgw-cluster-*')}/node*/mysqld.pid)`);
    }
  }

  /** Bootstraps node 1, then joins the others one at a time (each by SST from a Synced node). */
  async start(): Promise<void> {
    await this.checkPorts();
    for (const node of this.nodes) node.writeOptionFile(this.clusterAddress);
    const first = this.nodes[0];
    for (const node of this.nodes) node.giveToAccount();
    first.installSystemTables();
    const started = performance.now();
    first.start(first.wsrep ? ['--wsrep-new-cluster'] : []);
    await first.waitSynced(1, 60_000);
    if (!first.wsrep) {
      this.options.log(`${first.name} (standalone, no wsrep) answers on ${first.address} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
      return;
    }
    this.options.log(`${first.name} bootstrapped the cluster (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    for (const [offset, node] of this.nodes.slice(1).entries()) {
      const joining = performance.now();
      node.start();
      await node.waitSynced(offset + 2, 120_000);
      this.options.log(`${node.name} joined by ${node.lastStateTransfer()} (${((performance.now() - joining) / 1000).toFixed(1)} s)`);
    }
    await this.waitAllSynced(30_000);
  }

  /** Every node Synced in a primary component of all of them. */
  async waitAllSynced(timeoutMs: number): Promise<WsrepStatus[]> {
    return Promise.all(this.nodes.map((node) => node.waitSynced(this.nodes.length, timeoutMs)));
  }

  /** Restarts a crashed node as galera_recovery would, and waits until the whole cluster is Synced again. */
  async rejoin(node: GaleraNode, timeoutMs: number): Promise<{ transfer: StateTransfer; position: string }> {
    const position = await node.recoverPosition();
    node.start(position);
    await node.waitSynced(this.nodes.length, timeoutMs);
    await this.waitAllSynced(timeoutMs);
    return { transfer: node.lastStateTransfer(), position: position.length > 0 ? position[0].replace('--wsrep-start-position=', '') : '(none: full SST)' };
  }

  /** Stops every node, all at once (their data is thrown away); SIGKILL for one that does not stop in time. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}
