import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { startPbxSimulator, type PbxSimulator } from '../../src/pbx/simulator';
import { MYSQL_SERVER } from '../helpers/gateway';
import { dropDatabase, newDatabaseName, pbxEnvironment, spawnGateway, type GatewayProcess } from '../helpers/gateway-process';
import { chromiumOrSkip, launchChromium, openConsole } from './console-browser';

// The console as `npm start` serves it: the built gateway (dist/src) finds the built console
// (dist/console) that `npm run build` made (jest's global setup runs the same build check first).

const database = newDatabaseName();
const token = randomBytes(32).toString('base64url');
let simulator: PbxSimulator;
let gateway: GatewayProcess;

beforeAll(async () => {
  simulator = await startPbxSimulator();
  gateway = await spawnGateway({ MYSQL_URL: `${MYSQL_SERVER}/${database}`, AUTH_DISABLED: 'false', API_TOKENS: `built-admin:${token}:admin`, ...pbxEnvironment(simulator) });
}, 60_000);

afterAll(async () => {
  await gateway?.kill();
  await simulator?.close();
  await dropDatabase(database);
});

it('serves the built console with its policy, its page and its scripts', async () => {
  const page = await fetch(`${gateway.url}/console/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'self';/);
  const html = await page.text();
  const scripts = [...html.matchAll(/(?:src|href)="([a-z-]+\.(?:js|css|svg))"/g)].map((match) => match[1]);
  expect(scripts).toEqual(expect.arrayContaining(['main.js', 'console.css', 'favicon.svg']));
  for (const file of scripts) expect({ file, status: (await fetch(`${gateway.url}/console/${file}`)).status }).toEqual({ file, status: 200 });
});

const withChromium = chromiumOrSkip('console-built') ? it : it.skip;

withChromium('signs in and lists the users in Chromium', async () => {
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const session = await openConsole(browser, gateway.url, token);
    await session.page.getByText('Signed in with an admin token.').waitFor();
    await session.page.getByText('Done: No user found.').waitFor();
    await session.finish();
  } finally {
    await browser?.close();
  }
}, 60_000);
