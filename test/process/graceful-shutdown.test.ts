import http from 'node:http';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';
import { MYSQL_SERVER } from '../helpers/gateway';
import {
  callNode,
  dropDatabase,
  httpGet,
  killAllGateways,
  newDatabaseName,
  pbxEnvironment,
  spawnGateway,
  waitFor,
  withServer,
  type Exit,
  type GatewayProcess,
} from '../helpers/gateway-process';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';

// README "Operations": on SIGTERM the gateway stops accepting connections, lets the requests in
// flight finish, closes the MySQL pool and exits 0. The PBX is reached through a proxy that holds
// each chunk back, so a user/add_local is surely in flight when the signal comes.

const PBX_DELAY_MS = 700;

let simulator: PbxSimulator;
let pbxLine: TcpProxy;
let gateway: GatewayProcess;
const database = newDatabaseName();
const keepAlive = new http.Agent({ keepAlive: true });

beforeAll(async () => {
  simulator = await startPbxSimulator();
  pbxLine = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(simulator.url).port) });
  gateway = await spawnGateway({
    MYSQL_URL: `${MYSQL_SERVER}/${database}`,
    ...pbxEnvironment(simulator, `http://127.0.0.1:${pbxLine.port}/api/v4`),
    PBX_TIMEOUT_MS: '5000',
  });
});

afterAll(async () => {
  keepAlive.destroy();
  await killAllGateways();
  await pbxLine?.close();
  await simulator?.close();
  await dropDatabase(database);
});

function within<T>(promise: Promise<T>, milliseconds: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${milliseconds} ms`)), milliseconds);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function refusesConnections(url: string): Promise<boolean> {
  try {
    await httpGet(`${url}/healthz`, { timeoutMs: 1000 });
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

describe('SIGTERM', () => {
  it('lets a user/add_local in flight finish ok, refuses new connections meanwhile, and exits 0', async () => {
    // An idle keep-alive connection must not hold the shutdown up.
    expect((await httpGet(`${gateway.url}/healthz`, { agent: keepAlive })).status).toBe(200);
    expect((await httpGet(`${gateway.url}/readyz`)).status).toBe(200);

    pbxLine.delayMs = PBX_DELAY_MS;
    const reached = pbxLine.chunksIn;
    let settled = false;
    const inFlight = callNode(gateway.url, 'user/add_local', { user: '4101@pbx.local', displayname: 'Draining' }, { agent: keepAlive, timeoutMs: 15_000 });
    void inFlight.then(
      () => (settled = true),
      () => (settled = true),
    );
    // The gateway is talking to the PBX for this request: it is in flight.
    expect(await waitFor(() => pbxLine.chunksIn > reached, 5000, 10)).toBe(true);
    const signalled = performance.now();
    gateway.child.kill('SIGTERM');

    expect(await waitFor(() => refusesConnections(gateway.url), 3000)).toBe(true);
    expect(settled).toBe(false);

    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ response: 'ok', user: { user: '4101@pbx.local', kind: 'local', displayname: 'Draining' } });
    expect(typeof answer.body.password).toBe('string');

    const exit: Exit = await within(gateway.exited, 8000, 'the exit after SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(performance.now() - signalled).toBeLessThan(6000);
    expect(gateway.output()).toContain('"message":"shutting down"');

    // Both stores have the change, and so does its audit record (committed with it).
    const users = await withServer(async (connection) => {
      const [rows] = await connection.query(`SELECT username, domain, kind, displayname FROM \`${database}\`.users`);
      return rows;
    });
    expect(users).toEqual([{ username: '4101', domain: 'pbx.local', kind: 'local', displayname: 'Draining' }]);
    const audit = await withServer(async (connection) => {
      const [rows] = await connection.query(`SELECT node, response FROM \`${database}\`.audit_log`);
      return rows;
    });
    expect(audit).toEqual([{ node: 'user/add_local', response: 'ok' }]);
    expect(simulator.extension('4101')).toMatchObject({ number: '4101', name: 'Draining', secret: answer.body.password });
    expect(simulator.extensions()).toHaveLength(1);
  });
});
