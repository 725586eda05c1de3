import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import request from 'supertest';
import type { Browser } from 'playwright-core';
import { chromiumOrSkip, launchChromium } from '../helpers/chromium';
import { createApp } from '../../src/app';
import { appDeps } from '../../src/start';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// The browsable docs page (/api/docs) as a person sees it: over plain HTTP, on a host name other
// than localhost. helmet's default policy has `upgrade-insecure-requests`, which makes a browser
// fetch the page's scripts over https: the page stayed blank (swagger-ui-express issues 212, 346).

// A name that is not localhost, so the browser treats the page as any remote host; the browser maps
// it to the loopback address, where the test gateway listens (no traffic leaves the machine).
const HOST = 'pbx-gateway.test';

let gateway: TestGateway;
let server: Server;
let port: number;

beforeAll(async () => {
  gateway = await startTestGateway();
  server = gateway.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await gateway.close();
});

function policyOf(header: string | undefined): Map<string, string> {
  return new Map(
    (header ?? '')
      .split(';')
      .map((directive) => directive.trim())
      .filter(Boolean)
      .map((directive) => {
        const [name, ...values] = directive.split(/\s+/);
        return [name, values.join(' ')];
      }),
  );
}

describe('/api/docs', () => {
  it('over plain HTTP, does not ask the browser to upgrade its requests to https, nor send HSTS', async () => {
    const page = await request(gateway.app).get('/api/docs/');
    expect(page.status).toBe(200);
    const policy = policyOf(page.headers['content-security-policy']);
    expect(policy.has('upgrade-insecure-requests')).toBe(false);
    expect(page.headers['strict-transport-security']).toBeUndefined();
    // What swagger-ui needs: its scripts from this origin (no inline script), inline styles, data: images.
    expect(page.text).not.toMatch(/<script>(?!\s*<\/script>)/);
    expect(policy.get('script-src')).toBe("'self'");
    expect(policy.get('style-src')).toContain("'unsafe-inline'");
    expect(policy.get('img-src')).toContain('data:');
    expect(policy.get('default-src')).toBe("'self'");
  });

  it('over HTTPS, keeps upgrade-insecure-requests and sends HSTS', async () => {
    const app = createApp({ ...appDeps(gateway.container, 'test'), tls: true });
    const page = await request(app).get('/api/docs/');
    expect(page.status).toBe(200);
    expect(policyOf(page.headers['content-security-policy']).has('upgrade-insecure-requests')).toBe(true);
    expect(page.headers['strict-transport-security']).toMatch(/^max-age=\d+/);
  });

  it('serves the page whose scripts the policy allows: swagger-ui-init.js from this origin', async () => {
    const init = await request(gateway.app).get('/api/docs/swagger-ui-init.js');
    expect(init.status).toBe(200);
    expect(init.headers['content-type']).toMatch(/javascript/);
  });

  // CI installs chromium (.ci/run): there the browser checks run, never skipped.
  const withBrowser = chromiumOrSkip('docs-page') ? describe : describe.skip;

  withBrowser('in Chromium, over plain HTTP on a host that is not localhost', () => {
    let browser: Browser;

    beforeAll(async () => {
      // Every name but HOST resolves nowhere: the page can reach nothing but the test gateway.
      browser = await launchChromium(`MAP ${HOST} 127.0.0.1, MAP * ~NOTFOUND`);
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
    });

    it('renders every operation and runs "Try it out" with the filled-in examples, GET and POST', async () => {
      // The example user of the document (1001@pbx.local), so that user/get answers ok.
      expect((await gateway.post('user/add_local', { user: '1001@pbx.local', displayname: 'Docs Example' })).body.response).toBe('ok');
      const page = await browser.newPage();
      const refused: string[] = [];
      page.on('console', (message) => {
        if (/Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text());
      });
      page.on('requestfailed', (failed) => refused.push(`${failed.url()}: ${failed.failure()?.errorText ?? ''}`));
      await page.goto(`http://${HOST}:${port}/api/docs/`);
      await page.waitForSelector('.opblock', { timeout: 20_000 });
      // Every node's GET and POST, and POST /pbx/events (always documented, CONTRACT section 12).
      expect(await page.locator('.opblock').count()).toBe(2 * gateway.container.nodes.length + 1);

      for (const method of ['get', 'post']) {
        const operation = page.locator(`#operations-user-${method}_user_get`);
        await operation.locator('.opblock-summary').first().click();
        await operation.locator('.try-out__btn').click();
        await operation.locator('.execute').click();
        const body = operation.locator('.live-responses-table .response-col_description pre').first();
        await body.waitFor({ timeout: 20_000 });
        const answer = JSON.parse((await body.textContent()) ?? '') as { response: string; user?: { displayname?: string } };
        expect({ method, response: answer.response, displayname: answer.user?.displayname }).toEqual({ method, response: 'ok', displayname: 'Docs Example' });
      }
      expect(refused).toEqual([]);
      await page.close();
    }, 60_000);
  });
});
