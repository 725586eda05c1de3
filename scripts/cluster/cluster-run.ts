import type { SecretBox } from '../../src/secrets/secret-box';
import type { GaleraCluster, GaleraNode } from './galera';
import { GatewayClient, GatewayProcess, type GatewaySettings } from './gateways';
import { DATABASE, type InvariantContext } from './invariants';
import type { Report } from './report';
import type { SimulatorProcess } from './simulator-control';

// What every scenario works with: the cluster, the shared simulator, the report, and the gateways
// it starts (each stopped at the end, whatever happens).

const READY_TIMEOUT_MS = 60_000;

export interface Gateway {
  readonly process: GatewayProcess;
  readonly client: GatewayClient;
}

/** A MYSQL_URL naming these nodes, in this order (the first is the one the gateway prefers). */
export function mysqlUrlFor(nodes: readonly GaleraNode[]): string {
  return `mysql://root@${nodes.map((node) => node.address).join(',')}/${DATABASE}`;
}

export class ClusterRun implements InvariantContext {
  private readonly started = new Set<Gateway>();
  /** The three long-lived gateways of scenarios b to d: gateway n on node n (all three on a standalone server). */
  gateways: Gateway[] = [];

  constructor(
    readonly cluster: GaleraCluster,
    readonly simulator: SimulatorProcess,
    readonly secrets: SecretBox,
    readonly report: Report,
    readonly settings: GatewaySettings,
  ) {}

  async startGateway(name: string, mysqlUrl: string): Promise<Gateway> {
    const process = await GatewayProcess.start(name, mysqlUrl, this.settings);
    const gateway = { process, client: new GatewayClient(name, process.url, this.settings.apiToken) };
    this.started.add(gateway);
    return gateway;
  }

  async stopGateway(gateway: Gateway): Promise<void> {
    gateway.client.close();
    await gateway.process.stop();
    this.started.delete(gateway);
  }

  /** Gateways 1 to 3, gateway n on node n (on a standalone server, all on it), each with a URL naming its own node only. */
  async startGatewayPerNode(): Promise<Gateway[]> {
    const { nodes } = this.cluster;
    return Promise.all([1, 2, 3].map((n) => this.startGateway(`gateway${n}`, mysqlUrlFor([nodes[(n - 1) % nodes.length]]))));
  }

  /** The three long-lived gateways, started (and ready) when they are not running. */
  async ensureGateways(): Promise<Gateway[]> {
    if (this.gateways.length === 3 && this.gateways.every((gateway) => gateway.process.running)) return this.gateways;
    await Promise.all(this.gateways.map((gateway) => this.stopGateway(gateway)));
    this.gateways = await this.startGatewayPerNode();
    for (const gateway of this.gateways) {
      if ((await gateway.client.waitReady(READY_TIMEOUT_MS)) === null) {
        throw new Error(`${gateway.client.name} is not ready (/readyz) within ${READY_TIMEOUT_MS / 1000} s; ${gateway.process.lastErrors()}`);
      }
    }
    return this.gateways;
  }

  async stopAllGateways(): Promise<void> {
    await Promise.all([...this.started].map((gateway) => this.stopGateway(gateway)));
    this.gateways = [];
  }
}
