import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumOrSkip, launchChromium as launchBrowser } from '../helpers/chromium';
export { chromiumOrSkip };
import { startTestGateway, type TestGateway, type TestOverrides } from '../helpers/gateway';

// What the console's browser tests share: Debian's Chromium driven by playwright-core, a gateway on a
// port of its own (auth on, one token per scope), and a page that records every request it makes.

export const ROOT = path.resolve(__dirname, '..', '..');
/**
 * Where the screenshots go: the README's docs/screenshots with UPDATE_SCREENSHOTS=true
 * (`npm run screenshots`), otherwise a folder under the system's temporary one, so that a test run
 * leaves the checkout as it was (the pictures are taken either way).
 */
export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === 'true' ? path.join(ROOT, 'docs', 'screenshots') : path.join(os.tmpdir(), 'pbxgw-console-screenshots');

/** Chromium in which no name resolves: the page can reach nothing but the gateway on 127.0.0.1. */
export function launchChromium(): Promise<Browser> {
  return launchBrowser('MAP * ~NOTFOUND, EXCLUDE 127.0.0.1');
}

export type Scope = 'read' | 'write' | 'admin';

export interface ConsoleGateway {
  readonly gateway: TestGateway;
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  readonly tokens: Record<Scope, string>;
  /** A node called with the admin token (to set up and to check what the page did). */
  api(node: string, params?: Record<string, string | number | boolean>): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A test gateway with auth on and a token per scope, listening on a port of its own. */
export async function startConsoleGateway(overrides: TestOverrides = {}): Promise<ConsoleGateway> {
  const tokens: Record<Scope, string> = { read: randomBytes(32).toString('base64url'), write: randomBytes(32).toString('base64url'), admin: randomBytes(32).toString('base64url') };
  const gateway = await startTestGateway({
    authDisabled: false,
    apiTokens: (Object.keys(tokens) as Scope[]).map((scope) => ({ name: `console-${scope}`, token: tokens[scope], scope })),
    ...overrides,
  });
  const server: Server = gateway.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    gateway,
    origin,
    tokens,
    async api(node, params = {}) {
      const answer = await request(gateway.app).post(`/api/${node}`).set('Authorization', `Bearer ${tokens.admin}`).send(params);
      return answer.body as Record<string, unknown>;
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.close();
    },
  };
}

export interface ConsolePage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Every URL the page asked for, in order. */
  readonly requests: string[];
  /** Errors the page's console showed (a refused script or style would be one) and uncaught exceptions. */
  readonly problems: string[];
  /** Asserts that every request went to the gateway's origin and nothing went wrong on the page, then closes it. */
  finish(): Promise<void>;
}

/** A fresh browser context (its own sessionStorage) on /console/<hash>, signed in with the token unless null. */
export async function openConsole(
  browser: Browser,
  origin: string,
  token: string | null,
  options: { hash?: string; bypassCSP?: boolean; clipboard?: boolean } = {},
): Promise<ConsolePage> {
  const context = await browser.newContext({ bypassCSP: options.bypassCSP ?? false, viewport: { width: 1280, height: 900 } });
  if (options.clipboard) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (sent) => requests.push(sent.url()));
  page.on('console', (message) => {
    // The browser logs every answer of a 4xx status as an error, and the nodes' refusals are such
    // answers on purpose (401, 403, 400 of the scope probe): the page's own files are checked below.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource: the server responded with a status of')) problems.push(message.text());
  });
  page.on('response', (answer) => {
    if (answer.status() >= 400 && !new URL(answer.url()).pathname.startsWith('/api/')) problems.push(`${answer.status()} for ${answer.url()}`);
  });
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(`${origin}/console/${options.hash ?? ''}`);
  if (token !== null) await signIn(page, token);
  return {
    page,
    context,
    requests,
    problems,
    async finish() {
      const foreign = requests.filter((url) => new URL(url).origin !== origin);
      await context.close();
      expect(foreign).toEqual([]);
      expect(problems).toEqual([]);
    },
  };
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

interface Axe {
  run(context: unknown, options: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }>;
}

/** The axe-core scan of what the page shows now: its serious and critical violations, in words. */
export async function axeViolations(page: Page): Promise<string[]> {
  const source = readFileSync(path.join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ content: source });
  // Runs in the page (its globals: axe, document); this file is compiled without the DOM's types.
  const violations = await page.evaluate(async () => {
    const { axe, document } = globalThis as unknown as { axe: Axe; document: unknown };
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => JSON.stringify(node.target)) }));
  });
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical').map((violation) => `${violation.impact} ${violation.id}: ${violation.help} (${violation.targets.join(', ')})`);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Evaluates an expression in the page (a string: this file is compiled without the DOM's types). */
export function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

/** Retries `read` until `check` passes (its last failure is thrown after `timeoutMs`). */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => void, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    try {
      check(value);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
