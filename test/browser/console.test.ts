import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { CONSOLE_POLICY } from '../../src/console/console-route';
import { axeViolations, chromiumOrSkip, eventually, inPage, launchChromium, openConsole, screenshot, startConsoleGateway, type ConsoleGateway } from './console-browser';

// CONTRACT section 13: the helpdesk console at /console/, in Debian's Chromium against a real
// gateway (auth on), real MariaDB and the PBX simulator. Each test signs in afresh, in a browser
// context of its own, and checks that the page asked nothing of any other origin and showed no error.

let served: ConsoleGateway;

beforeAll(async () => {
  served = await startConsoleGateway();
}, 60_000);

afterAll(async () => {
  await served?.close();
});

let sequence = 0;
/** A fresh extension number per use: 2 digits of the run, then a counter. */
function extension(): string {
  sequence += 1;
  return `7${String(process.pid % 100).padStart(2, '0')}${String(sequence).padStart(3, '0')}`;
}

async function addLocal(displayname: string): Promise<string> {
  const username = extension();
  const answer = await served.api('user/add_local', { user: `${username}@pbx.local`, displayname });
  expect(answer.response).toBe('ok');
  return username;
}

describe('/console/ over HTTP', () => {
  it('serves the page under its own policy: everything from the gateway, no inline script or style', async () => {
    const page = await request(served.gateway.app).get('/console/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(CONSOLE_POLICY);
    expect(CONSOLE_POLICY.split(';')[0]).toBe("default-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.text).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.text).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(page.text).not.toMatch(/(src|href)="(https?:)?\/\//);

    const script = await request(served.gateway.app).get('/console/main.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(script.headers['content-security-policy']).toBe(CONSOLE_POLICY);
    const again = await request(served.gateway.app).get('/console/main.js').set('If-None-Match', script.headers.etag);
    expect(again.status).toBe(304);

    expect(await request(served.gateway.app).get('/console')).toMatchObject({ status: 301, headers: { location: '/console/' } });
    expect((await request(served.gateway.app).get('/console/nothing.js')).status).toBe(404);
    expect((await request(served.gateway.app).post('/console/')).status).toBe(405);
    // The nodes keep their own headers.
    const node = await request(served.gateway.app).get('/api/user/list').set('Authorization', `Bearer ${served.tokens.read}`);
    expect(node.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it("learns a token's scope from what the nodes answer, leaving no trace for a write token", async () => {
    const probe = (token: string) =>
      request(served.gateway.app).post('/api/user/forward').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{');
    const before = await served.gateway.query<{ count: number }>('SELECT COUNT(*) AS count FROM audit_log');
    expect((await probe(served.tokens.write)).body).toMatchObject({ response: 'invalid', cause: 'body' });
    expect((await probe(served.tokens.write)).status).toBe(400);
    expect(await served.gateway.query('SELECT COUNT(*) AS count FROM audit_log')).toEqual(before);
    expect((await probe(served.tokens.read)).status).toBe(403);
  });
});

const withChromium = chromiumOrSkip('console') ? describe : describe.skip;

withChromium('the console in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** The search box's text, submitted; resolves when the search has finished. */
  async function search(page: Page, text: string): Promise<void> {
    await page.getByLabel('Find a user by').fill(text);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#search-outcome .word', { hasText: /^(Done|Not done):$/ }).waitFor();
  }

  function resultRow(page: Page, address: string) {
    return page.locator('#search-results tr', { has: page.getByRole('link', { name: address, exact: true }) });
  }

  it('signs in with a token, says so in words when the token is unknown, and logs out', async () => {
    const session = await openConsole(browser, served.origin, null);
    const { page } = session;
    await page.getByLabel('Token').fill('not-a-token-of-this-gateway');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#login-outcome', { hasText: 'Not done' }).waitFor();
    expect(await page.locator('#login-outcome').textContent()).toMatch(/^Not done: the gateway does not know this token \(auth\)/);
    // Before sign-in the page offers nothing but signing in.
    expect(await page.getByRole('button').allTextContents()).toEqual(['Sign in']);
    expect(await page.getByRole('navigation').count()).toBe(0);
    await screenshot(page, 'login');

    await page.getByLabel('Token').fill(served.tokens.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Signed in with an admin token.').waitFor();
    // The token is kept for the tab only: sessionStorage, never localStorage, a cookie or the address.
    expect(await inPage<string[]>(page, 'Object.values(sessionStorage)')).toContain(served.tokens.admin);
    expect(await inPage<number>(page, 'localStorage.length')).toBe(0);
    expect(await session.context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(served.tokens.admin);
    // The token is sent as a header, never in a URL.
    expect(session.requests.filter((url) => url.includes(served.tokens.admin))).toEqual([]);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#login-outcome', { hasText: 'logged out' }).waitFor();
    expect(await page.locator('#login-outcome').textContent()).toBe('Done: logged out; this tab has forgotten the token.');
    expect(await inPage<string[]>(page, 'Object.values(sessionStorage)')).not.toContain(served.tokens.admin);
    await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    await session.finish();
  }, 60_000);

  it('goes back to sign-in, saying why, when the gateway stops taking the token', async () => {
    const made = await served.api('tokens/add', { name: `console-revoked-${process.pid}`, scope: 'write' });
    const session = await openConsole(browser, served.origin, made.token as string);
    const { page } = session;
    await page.getByText('Signed in with a write token.').waitFor();
    expect((await served.api('tokens/revoke', { name: made.name as string })).response).toBe('ok');
    await page.getByLabel('Find a user by').fill('anyone');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByText(/^Not done: the gateway no longer takes the token \(.+\): sign in again\.$/).waitFor();
    expect(await inPage<number>(page, 'sessionStorage.length')).toBe(0);
    await session.finish();
  }, 60_000);

  it('finds a user by address, display name, extension, number, MAC and alias from one search box', async () => {
    const username = await addLocal('Zebulon Quärtermaine');
    const address = `${username}@pbx.local`;
    const number = `+4791${username}`;
    const mac = `00a1b2${username.slice(-6)}`.padEnd(12, '0').slice(0, 12);
    expect((await served.api('phone/add', { mac, user: address })).response).toBe('ok');
    expect((await served.api('alias/add', { alias: `${number}@pbx.local`, destination: address })).response).toBe('ok');
    expect((await served.api('alias/add', { alias: `helpdesk-${username}@pbx.local`, destination: address })).response).toBe('ok');

    const session = await openConsole(browser, served.origin, served.tokens.write);
    const { page } = session;
    const spacedNumber = `${number.slice(0, 3)} ${number.slice(3, 6)} ${number.slice(6)}`;
    const dashedMac = mac.toUpperCase().match(/../g)?.join('-') as string;
    const ways: [string, string][] = [
      [address, 'address'],
      ['zebulon quartermaine', 'display name'],
      [username, 'address'],
      [spacedNumber, `alias ${number}@pbx.local`],
      [dashedMac, `phone ${mac}`],
      [`helpdesk-${username}`, `alias helpdesk-${username}@pbx.local`],
    ];
    for (const [text, reason] of ways) {
      await search(page, text);
      const row = resultRow(page, address);
      await row.waitFor();
      expect({ text, row: await row.textContent() }).toEqual({ text, row: expect.stringContaining(reason) });
      expect(await row.textContent()).toContain('Zebulon Quärtermaine');
    }
    // The number's own lookup also says when a number is free in the pool.
    expect((await served.api('numbers/add', { number: '+4799000000' })).response).toBe('ok');
    await search(page, '+4799000000');
    await page.getByText('+4799000000 is a free number in the pool').waitFor();
    await session.finish();
  }, 90_000);

  it('adds a local user and copies its generated password, shown once', async () => {
    const username = extension();
    const session = await openConsole(browser, served.origin, served.tokens.write, { clipboard: true });
    const { page } = session;
    await page.getByRole('link', { name: 'Add a user' }).click();
    const form = page.locator('#add-form');
    await form.getByLabel('Username', { exact: true }).fill(username);
    await expect(form.getByLabel('Domain', { exact: true }).inputValue()).resolves.toBe('pbx.local');
    await form.getByLabel('Display name').fill('Ada Lovelace');
    await form.getByLabel('E-mail (optional)').fill('ada@example.org');
    await form.getByRole('button', { name: 'Add the user' }).click();
    await page.locator('#add-outcome', { hasText: 'Done:' }).waitFor();
    expect(await page.locator('#add-outcome').textContent()).toBe(`Done: ${username}@pbx.local added as a local user, with its extension on the PBX.`);

    const shown = page.getByLabel(`SIP password of ${username}@pbx.local`);
    const password = await shown.inputValue();
    expect(password).toMatch(/^[A-HJ-NP-Za-km-z2-9]{12}$/);
    // The PBX's extension has that password.
    expect(served.gateway.pbx.extension(username)?.secret).toBe(password);
    await page.getByRole('button', { name: 'Copy the password' }).click();
    await page.locator('#add-result .outcome', { hasText: 'Done: the password is on the clipboard.' }).waitFor();
    expect(await inPage<string>(page, 'navigator.clipboard.readText()')).toBe(password);
    await screenshot(page, 'add-user');

    // Shown once: leaving the view forgets it.
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('link', { name: 'Add a user' }).click();
    expect(await page.getByText(password).count()).toBe(0);
    expect(await page.locator(`input[value="${password}"]`).count()).toBe(0);
    await session.finish();
  }, 60_000);

  it('adds a remote user with the server settings given', async () => {
    const session = await openConsole(browser, served.origin, served.tokens.write);
    const { page } = session;
    await page.getByRole('link', { name: 'Add a user' }).click();
    const form = page.locator('#add-form');
    await form.getByLabel('Remote: a SIP account hosted elsewhere').check();
    await form.getByLabel('Username', { exact: true }).fill('grace');
    await form.getByLabel('Domain', { exact: true }).fill('partner.example');
    await form.getByLabel('Display name').fill('Grace Hopper');
    await form.getByRole('button', { name: 'Generate a password' }).click();
    await eventually(() => form.getByLabel('SIP password').inputValue(), (value) => expect(value).toMatch(/^\S{12}$/));
    await form.getByLabel('Registrar (empty: the domain\'s default)').fill('sip.partner.example');
    await form.getByRole('button', { name: 'Add the user' }).click();
    await page.locator('#add-outcome', { hasText: 'Done:' }).waitFor();
    expect(await page.locator('#add-outcome').textContent()).toBe('Done: grace@partner.example added as a remote user.');
    expect(await page.locator('#add-result input').count()).toBe(0);
    expect((await served.api('user/get', { user: 'grace@partner.example' })).user).toMatchObject({ kind: 'remote', registrar: 'sip.partner.example', displayname: 'Grace Hopper' });
    await session.finish();
  }, 60_000);

  it('changes the forwards and shows them as the PBX has them', async () => {
    const username = await addLocal('Forward Tester');
    const session = await openConsole(browser, served.origin, served.tokens.write, { hash: `#/user/${username}@pbx.local` });
    const { page } = session;
    const panel = page.locator('#user-panel');
    await panel.getByLabel('When busy: forward to').waitFor();
    await eventually(() => panel.getByLabel('When busy: forward to').isEditable(), (value) => expect(value).toBe(true));
    await panel.getByLabel('When busy: forward to').fill('+4722334455');
    await panel.getByLabel('When not answered: forward to').fill('90001');
    await panel.getByRole('button', { name: 'Save the forwards' }).click();
    await panel.getByText('Done: the PBX now has the forwards shown above.').waitFor();
    const policy = served.gateway.pbx.extension(username)?.forward_policy;
    expect(policy).toMatchObject({ Busy: '+4722334455', 'No Answer': '90001' });
    const shown = async () => panel.locator('section', { hasText: 'Call forwards' }).locator('dl').textContent();
    expect(await shown()).toContain('When busy+4722334455');

    // Changed on the PBX by hand: the view reads what the PBX has.
    const { _id: _ignored, ...extension } = served.gateway.pbx.extension(username) as NonNullable<ReturnType<typeof served.gateway.pbx.extension>>;
    served.gateway.pbx.seed({ ...extension, forward_policy: { ...extension.forward_policy, All: '+4799887766' } });
    await page.reload();
    await panel.getByLabel('All calls: forward to').waitFor();
    await eventually(shown, (value) => expect(value).toContain('All calls+4799887766'));
    await session.finish();
  }, 60_000);

  it('changes display name, e-mail, password and permissions from the user view', async () => {
    const username = await addLocal('Before Change');
    const address = `${username}@pbx.local`;
    const session = await openConsole(browser, served.origin, served.tokens.write, { hash: `#/user/${address}` });
    const panel = session.page.locator('#user-panel');
    await panel.getByLabel('Display name').fill('After Change');
    await panel.getByRole('button', { name: 'Save the changes' }).click();
    await panel.getByText(`Done: saved displayname of ${address}.`).waitFor();
    await panel.getByLabel('E-mail').fill('after@example.org');
    await panel.getByRole('button', { name: 'Change the e-mail' }).click();
    await panel.getByText(`Done: the e-mail of ${address} is now after@example.org.`).waitFor();
    await panel.getByLabel('New SIP password').fill('Correct-Horse-42');
    await panel.getByRole('button', { name: 'Change the password' }).click();
    await panel.getByText(`Done: the password of ${address} is changed on the PBX and in provisioning.`).waitFor();
    await panel.getByLabel('Permissions to grant').fill('local, ld');
    await panel.getByRole('button', { name: 'Grant' }).click();
    await panel.getByText(`Done: ${address} now holds ld, local.`).waitFor();
    await panel.getByRole('button', { name: 'Revoke ld' }).click();
    await panel.getByText(`Done: ld revoked from ${address}.`).waitFor();
    // A name not in PERMISSIONS: the gateway's refusal, in words, next to the form.
    await panel.getByLabel('Permissions to grant').fill('nosuch');
    await panel.getByRole('button', { name: 'Grant' }).click();
    await panel.getByText(/^Not done: invalid grant: nosuch is not a permission/).waitFor();

    expect((await served.api('user/get', { user: address })).user).toMatchObject({ displayname: 'After Change', email: 'after@example.org' });
    expect(served.gateway.pbx.extension(username)).toMatchObject({ name: 'After Change', email: 'after@example.org', secret: 'Correct-Horse-42' });
    expect((await served.api('user/permissions', { user: address })).permissions).toEqual(['local']);
    await session.finish();
  }, 60_000);

  it('adds a phone by a MAC typed with colons and takes a free number as the E.164 alias', async () => {
    const username = await addLocal('Phone And Number');
    const address = `${username}@pbx.local`;
    const free = `+4793${username}`;
    expect((await served.api('numbers/add', { number: free })).response).toBe('ok');
    const session = await openConsole(browser, served.origin, served.tokens.write, { hash: `#/user/${address}` });
    const panel = session.page.locator('#user-panel');
    const mac = `0a:1b:2c:${username.slice(-6).match(/../g)?.join(':')}`.toUpperCase();
    const canonical = mac.replace(/:/g, '').toLowerCase();
    await panel.getByLabel('MAC address of a phone to add').fill(mac);
    await panel.getByRole('button', { name: 'Add the phone' }).click();
    await panel.getByText(`Done: phone ${canonical} added to ${address}.`).waitFor();
    await panel.getByRole('button', { name: `Remove phone ${canonical}` }).waitFor();
    expect((await served.api('phone/get', { user: address })).macs).toEqual([canonical]);

    // The pool holds other numbers too: draw until this test's own one comes (each draw is random).
    await panel.getByLabel('Alias to add').fill(`desk-${username}`);
    await panel.getByRole('button', { name: 'Add the alias' }).click();
    await panel.getByText(`Done: desk-${username}@pbx.local now points at ${address}.`).waitFor();
    await panel.getByRole('button', { name: 'Take a free number' }).click();
    const taken = panel.getByText(/^Done: took \+\d+ from the pool: \+\d+@pbx\.local now points at/);
    await taken.waitFor();
    const number = /took (\+\d+)/.exec((await taken.textContent()) ?? '')?.[1] as string;
    // E.164 first in the list, marked in words.
    const items = panel.locator('section', { hasText: 'Aliases' }).locator('ul.items li');
    expect(await items.first().textContent()).toContain(`${number}@pbx.localE.164 number`);
    expect(await items.nth(1).textContent()).toContain(`desk-${username}@pbx.local`);
    expect((await served.api('alias/list', { destination: address, e164: true })).aliases).toEqual([{ alias: `${number}@pbx.local`, destination: address }]);
    expect((await served.api('numbers/inpool', { number })).response).toBe('failed');
    await screenshot(session.page, 'user-view');
    await session.finish();
  }, 60_000);

  it('refuses to remove a user in use, lists what points at it, and removes those and then the user', async () => {
    const username = await addLocal('Soon Gone');
    const address = `${username}@pbx.local`;
    const mac = `0c${username.padStart(10, '0')}`;
    expect((await served.api('phone/add', { mac, user: address })).response).toBe('ok');
    expect((await served.api('alias/add', { alias: `+4794${username}@pbx.local`, destination: address })).response).toBe('ok');
    const session = await openConsole(browser, served.origin, served.tokens.write, { hash: `#/user/${address}` });
    const { page } = session;
    const panel = page.locator('#user-panel');
    await panel.getByRole('button', { name: `Remove ${address}…` }).click();
    await panel.getByRole('button', { name: `Yes, remove ${address}` }).click();
    const refusal = panel.getByText(/^Not done: failed, inuse: /);
    await refusal.waitFor();
    const still = panel.getByRole('list', { name: `What still points at ${address}` });
    expect(await still.locator('li').allTextContents()).toEqual([expect.stringContaining(`phone ${mac}`), expect.stringContaining(`alias +4794${username}@pbx.local`)]);
    // Focus lands on the confirmation's outcome area; keyboard only from here.
    await still.getByRole('button', { name: `Remove phone ${mac}` }).focus();
    await page.keyboard.press('Enter');
    await still.getByText(`Done: phone ${mac} removed from ${address}.`).waitFor();
    await eventually(() => inPage<string | null>(page, "document.activeElement?.getAttribute('aria-label')"), (value) => expect(value).toBe(`Remove alias +4794${username}@pbx.local`));
    await page.keyboard.press('Enter');
    await still.getByText(`Done: alias +4794${username}@pbx.local removed.`).waitFor();
    // An E.164 alias's number may go back to the pool.
    await still.getByRole('button', { name: `Put +4794${username} back in the number pool` }).click();
    await still.getByText(`Done: +4794${username} is back in the number pool.`).waitFor();

    await panel.getByRole('button', { name: `Remove ${address}…` }).click();
    await panel.getByRole('button', { name: `Yes, remove ${address}` }).click();
    await panel.getByRole('heading', { name: `${address} is removed` }).waitFor();
    expect(await panel.getByText(`Done: ${address} removed, with its extension on the PBX.`).count()).toBe(1);
    expect((await served.api('user/get', { user: address })).cause).toBe('nonexistant');
    expect(served.gateway.pbx.extension(username)).toBeUndefined();
    await session.finish();
  }, 60_000);

  it('shows a read token no control that would change anything', async () => {
    const username = await addLocal('Read Only Visit');
    const address = `${username}@pbx.local`;
    expect((await served.api('phone/add', { mac: `0d${username.padStart(10, '0')}`, user: address })).response).toBe('ok');
    expect((await served.api('alias/add', { alias: `+4795${username}@pbx.local`, destination: address })).response).toBe('ok');
    expect((await served.api('user/change_permissions', { user: address, grant: 'local' })).response).toBe('ok');
    const changeWords = /add|remove|save|grant|revoke|change|take|generate|put .* back/i;

    const reader = await openConsole(browser, served.origin, served.tokens.read, { hash: `#/user/${address}` });
    const { page } = reader;
    await page.getByText('Signed in with a read token: you can look, not change.').waitFor();
    const panel = page.locator('#user-panel');
    await panel.locator('section', { hasText: 'Phones' }).getByText(`0d${username.padStart(10, '0')}`).waitFor();
    await panel.getByText('Reading the forwards needs a token with scope write').waitFor();
    const controls = async () => ({
      changeMarked: await page.locator('[data-change], [data-needs]').count(),
      buttons: (await page.getByRole('button').allTextContents()).filter((name) => changeWords.test(name)),
      forms: await page.locator('form:not([role="search"]):not(#login-form)').count(),
      addLink: await page.getByRole('link', { name: 'Add a user' }).count(),
    });
    const none = { changeMarked: 0, buttons: [], forms: 0, addLink: 0 };
    expect(await controls()).toEqual(none);
    await page.getByRole('link', { name: 'Number pool' }).click();
    await page.getByRole('heading', { name: /^Free numbers/ }).waitFor();
    expect(await controls()).toEqual(none);
    // The address of the add view shows the users view instead.
    await inPage(page, "window.location.hash = '#/add'");
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    expect(await controls()).toEqual(none);
    await reader.finish();

    // The same user, seen with a write token, has them.
    const writer = await openConsole(browser, served.origin, served.tokens.write, { hash: `#/user/${address}` });
    await writer.page.locator('#user-panel').getByRole('button', { name: 'Save the forwards' }).waitFor();
    expect(await writer.page.locator('[data-change]').count()).toBeGreaterThan(10);
    await writer.finish();
  }, 60_000);

  it('shows an admin the user’s recent audit entries', async () => {
    const username = await addLocal('Audited Person');
    const address = `${username}@pbx.local`;
    expect((await served.api('user/update', { user: address, linetext: 'Desk 4' })).response).toBe('ok');
    const session = await openConsole(browser, served.origin, served.tokens.admin, { hash: `#/user/${address}` });
    const audit = session.page.locator('#user-panel section', { hasText: 'Recent changes (audit trail)' });
    await audit.getByRole('cell', { name: 'user/update' }).waitFor();
    expect(await audit.locator('tbody tr').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringMatching(/user\/updateokconsole-adminlinetext=Desk 4/), expect.stringMatching(/user\/add_localokconsole-admin/)]),
    );
    await session.finish();
  }, 60_000);

  it('browses and searches the number pool a page at a time, and adds a range', async () => {
    const session = await openConsole(browser, served.origin, served.tokens.write, { hash: '#/numbers' });
    const { page } = session;
    const view = page.locator('#numbers-view');
    await view.getByLabel('First number').fill('+47 5500 0000');
    await view.getByLabel('Last number').fill('+4755000119');
    await view.getByLabel('Only check, add nothing (dry run)').check();
    await view.getByRole('button', { name: 'Add the range' }).click();
    await view.getByText('Done: checked only (dry run): +4755000000 to +4755000119 would add 120 numbers; 0 are in the pool already. Nothing was added.').waitFor();
    await view.getByLabel('Only check, add nothing (dry run)').uncheck();
    await view.getByRole('button', { name: 'Add the range' }).click();
    await view.getByText('Done: +4755000000 to +4755000119: 120 numbers added; 0 were in the pool already and are left as they were.').waitFor();
    await view.getByLabel('First number').fill('+4755000119');
    await view.getByLabel('Last number').fill('+4655000119');
    await view.getByRole('button', { name: 'Add the range' }).click();
    await view.getByText(/^Not done: invalid range: /).waitFor();

    await view.getByLabel('Search the free numbers').fill('4755000');
    await view.getByRole('button', { name: 'Search numbers' }).click();
    await view.getByRole('heading', { name: 'Free numbers matching “4755000”, 1 to 50' }).waitFor();
    expect(await view.locator('ul.number-columns li').first().textContent()).toBe('+4755000000');
    await screenshot(page, 'number-pool');
    await view.getByRole('button', { name: 'Next page' }).click();
    await view.getByRole('heading', { name: 'Free numbers matching “4755000”, 51 to 100' }).waitFor();
    expect(await view.locator('ul.number-columns li').first().textContent()).toBe('+4755000050');
    await view.getByRole('button', { name: 'Next page' }).click();
    await view.getByRole('heading', { name: 'Free numbers matching “4755000”, 101 to 120' }).waitFor();
    expect(await view.getByRole('button', { name: 'Next page' }).count()).toBe(0);
    await view.getByRole('button', { name: 'Previous page' }).click();
    await view.getByRole('heading', { name: 'Free numbers matching “4755000”, 51 to 100' }).waitFor();
    await session.finish();
  }, 60_000);

  it('lists every user a page at a time, and is usable by keyboard alone', async () => {
    for (let index = 0; index < 30; index += 1) await addLocal(`Paged Person ${index}`);
    const session = await openConsole(browser, served.origin, null);
    const { page } = session;
    // Sign in, search and open a user with the keyboard only.
    await page.keyboard.type(served.tokens.write);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Log out' }).waitFor();
    await eventually(() => inPage<string>(page, 'document.activeElement?.id'), (value) => expect(value).toBe('search-text'));
    await page.getByRole('caption').filter({ hasText: 'Every user, by address' }).waitFor();
    expect(await page.locator('#search-results tbody tr').count()).toBe(25);
    await page.getByRole('button', { name: 'Show more users' }).focus();
    await page.keyboard.press('Enter');
    await eventually(() => page.locator('#search-results tbody tr').count(), (value) => expect(value).toBeGreaterThan(25));
    // Focus is on the first new row's link: Enter opens that user.
    const focused = await inPage<string>(page, "document.activeElement?.textContent ?? ''");
    expect(focused).toMatch(/@/);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 2, name: new RegExp(focused.replace(/[.+]/g, '\\$&')) }).waitFor();
    await eventually(() => inPage<string>(page, 'document.activeElement?.tagName'), (value) => expect(value).toBe('H2'));
    // Tab goes on from the heading to the view's first control, once the view is read.
    await page.locator('#user-panel').getByRole('button', { name: 'Save the forwards' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await inPage<string>(page, 'document.activeElement?.textContent')).toBe('Back to the search');
    await session.finish();
  }, 90_000);

  it('passes an axe-core scan of each view with no serious or critical violation', async () => {
    const username = await addLocal('Axe Scanned');
    const address = `${username}@pbx.local`;
    expect((await served.api('phone/add', { mac: `0e${username.padStart(10, '0')}`, user: address })).response).toBe('ok');
    expect((await served.api('alias/add', { alias: `+4796${username}@pbx.local`, destination: address })).response).toBe('ok');
    // axe's script is injected into the page: only this context lets it past the page's policy.
    const session = await openConsole(browser, served.origin, null, { bypassCSP: true });
    const { page } = session;
    const found: Record<string, string[]> = {};
    found.login = await axeViolations(page);
    await page.getByLabel('Token').fill(served.tokens.admin);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('caption').filter({ hasText: 'Every user, by address' }).waitFor();
    await search(page, 'Axe Scanned');
    found.search = await axeViolations(page);
    await page.getByRole('link', { name: address }).click();
    await page.locator('#user-panel').getByRole('cell', { name: 'user/add_local' }).waitFor();
    found.user = await axeViolations(page);
    await page.locator('#user-panel').getByRole('button', { name: `Remove ${address}…` }).click();
    await page.locator('#user-panel').getByRole('button', { name: `Yes, remove ${address}` }).click();
    await page.locator('#user-panel').getByText(/^Not done: failed, inuse/).waitFor();
    found.inUse = await axeViolations(page);
    await page.getByRole('link', { name: 'Add a user' }).click();
    found.add = await axeViolations(page);
    await page.getByRole('link', { name: 'Number pool' }).click();
    await page.getByRole('heading', { name: /^Free numbers/ }).waitFor();
    found.numbers = await axeViolations(page);
    expect(found).toEqual({ login: [], search: [], user: [], inUse: [], add: [], numbers: [] });
    await session.finish();
  }, 90_000);

  it('shows the main views for the README (screenshots)', async () => {
    const people: [string, string][] = [
      ['Alice Andersen', '+4790000101'],
      ['Alan Turing', '+4790000102'],
      ['Alicia Keyes', ''],
    ];
    for (const [name, number] of people) {
      const username = await addLocal(name);
      if (number) expect((await served.api('alias/add', { alias: `${number}@pbx.local`, destination: `${username}@pbx.local` })).response).toBe('ok');
    }
    const session = await openConsole(browser, served.origin, served.tokens.admin);
    await search(session.page, 'ali');
    await screenshot(session.page, 'search-results');
    await session.finish();
  }, 60_000);
});
