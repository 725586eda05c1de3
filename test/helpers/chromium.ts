import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium (.ci/run installs it); the machine has no internet and nothing is downloaded. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Chromium is needed: on CI (.ci/run installs it) a missing one fails the tests; elsewhere they are
 * skipped with a warning naming `what`. Returns whether they run.
 */
export function chromiumOrSkip(what: string): boolean {
  if (existsSync(CHROMIUM) || process.env.CI) return true;
  console.warn(`${what}: ${CHROMIUM} is missing (apt-get install chromium): the browser tests are skipped`);
  return false;
}

/**
 * Headless Chromium for the browser tests, with background networking off. `resolverRules` is
 * Chromium's --host-resolver-rules: what a name resolves to (the tests make every other name
 * resolve nowhere, so a page can reach nothing but the gateway).
 */
export async function launchChromium(resolverRules: string): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      `--host-resolver-rules=${resolverRules}`,
    ],
  });
}
