import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MYSQL_SERVER } from '../helpers/gateway';
import { dropDatabase, killAllGateways, newDatabaseName, spawnGateway, waitFor, type GatewayProcess } from '../helpers/gateway-process';

// README "Two commands": with no API_TOKENS, `npm start` makes one admin token for the run and writes
// it to START_TOKEN_FILE (mode 0600, in a directory made 0700); stderr says where, and the token
// itself appears nowhere in what the process prints (a supervisor keeps that in a log).

const database = newDatabaseName();
const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'pbxgw-start-token-'));
const tokenFile = path.join(directory, 'secrets', 'start-token');
let gateway: GatewayProcess;

beforeAll(async () => {
  gateway = await spawnGateway({ MYSQL_URL: `${MYSQL_SERVER}/${database}`, AUTH_DISABLED: 'false', START_TOKEN_FILE: tokenFile });
});

afterAll(async () => {
  await killAllGateways();
  await dropDatabase(database);
  fs.rmSync(directory, { recursive: true, force: true });
});

async function status(token: string | null): Promise<number> {
  const response = await fetch(`${gateway.url}/api/domains/list`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  await response.arrayBuffer();
  return response.status;
}

it('writes the token to START_TOKEN_FILE with mode 0600, says only where on stderr, and the token works', async () => {
  expect(fs.statSync(tokenFile).mode & 0o777).toBe(0o600);
  expect(fs.statSync(path.dirname(tokenFile)).mode & 0o777).toBe(0o700);
  const token = fs.readFileSync(tokenFile, 'utf8').trim();
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

  expect(await status(null)).toBe(401);
  expect(await status(token)).toBe(200);

  // Let the request lines reach stdout before looking at everything the process printed.
  await waitFor(() => gateway.output().includes('"node":"domains/list"'), 2000);
  expect(gateway.output()).toContain(`pbx-gateway: no API_TOKENS configured; this run's admin token is in ${tokenFile} (mode 0600)`);
  expect(gateway.output()).not.toContain(token);
  expect(gateway.output()).not.toContain('Bearer');
});
