import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { startTestGateway, type TestGateway } from '../helpers/gateway';

// CONTRACT section 5, Paging (README, Paging): user/list, phone/list, alias/list, numbers/list and
// audit/list take `limit` and `after`, and answer `next` while more items follow. Pages are read by
// keyset (`after` is a key of the list's order, not a count), so the walk of a list that changes
// between pages neither repeats nor skips what was there, and `after` need not be in the list.

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});

afterAll(async () => {
  await gateway.close();
});

type Params = Record<string, string | number | boolean>;
type Key = string | number;
type Item = unknown;

interface List {
  readonly node: string;
  readonly member: string;
  /** The key of an item in the list's order: what `after` and `next` name. */
  key(item: Item): Key;
}

const USERS: List = { node: 'user/list', member: 'users', key: (item) => (item as { user: string }).user };
const PHONES: List = { node: 'phone/list', member: 'macs', key: (item) => item as string };
const ALIASES: List = { node: 'alias/list', member: 'aliases', key: (item) => (item as { alias: string }).alias };
const NUMBERS: List = { node: 'numbers/list', member: 'numbers', key: (item) => item as string };
const AUDIT: List = { node: 'audit/list', member: 'entries', key: (item) => (item as { id: number }).id };

function tag(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

async function ok(node: string, params: Params = {}): Promise<Record<string, unknown>> {
  const response = await gateway.get(node, params);
  expect(response.status).toBe(200);
  expect(response.body).toMatchObject({ response: 'ok' });
  return response.body;
}

/** The list without limit and after: whole, as before paging. */
async function whole(list: List, params: Params = {}): Promise<Item[]> {
  const body = await ok(list.node, params);
  expect(body).not.toHaveProperty('next');
  return body[list.member] as Item[];
}

/**
 * Walks every page of `limit` items, checking each answer on the way: at most `limit` items, `next`
 * the key of the last one while more follow, no `next` member at all on the last page.
 * `between(page, next)` runs after each page but the last (changes made between pages).
 */
async function walk(list: List, limit: number, params: Params = {}, between?: (page: number, next: Key) => Promise<void>): Promise<Item[]> {
  const items: Item[] = [];
  let after: Key | undefined;
  for (let page = 0; ; page += 1) {
    expect(page).toBeLessThan(10_000);
    const body = await ok(list.node, { ...params, limit, ...(after === undefined ? {} : { after }) });
    const got = body[list.member] as Item[];
    expect(got.length).toBeLessThanOrEqual(limit);
    items.push(...got);
    if (!('next' in body)) break;
    expect(got).toHaveLength(limit);
    expect(body.next).toEqual(list.key(got[got.length - 1]));
    after = body.next as Key;
    if (between) await between(page, after);
  }
  return items;
}

function keys(list: List, items: Item[]): Key[] {
  return items.map((item) => list.key(item));
}

function expectNoDuplicates(list: List, items: Item[]): void {
  const seen = keys(list, items);
  expect(new Set(seen).size).toBe(seen.length);
}

/** Every limit from one item a page to more than the whole list, a divisor of its length among them. */
function limitsFor(length: number): number[] {
  const divisor = [4, 5, 3, 2].find((candidate) => length % candidate === 0) ?? 1;
  return [...new Set([1, 2, divisor, 7, length - 1, length, length + 1].filter((limit) => limit >= 1))];
}

/** Walks with every limit of limitsFor and expects the whole list, in order, each time. */
async function expectWalksMatch(list: List, params: Params = {}): Promise<Item[]> {
  const all = await whole(list, params);
  expect(all.length).toBeGreaterThan(5);
  for (const limit of limitsFor(all.length)) {
    const walked = await walk(list, limit, params);
    expect(walked).toEqual(all);
    expectNoDuplicates(list, walked);
  }
  return all;
}

async function expectInvalidAfter(node: string, params: Params): Promise<void> {
  const response = await gateway.get(node, params);
  expect(response.status).toBe(200);
  expect(response.body).toMatchObject({ response: 'invalid', cause: 'after' });
}

async function addRemote(user: string, displayname = 'Paged'): Promise<void> {
  await ok('user/add_remote', { user, password: 'Paging-Secret1', displayname, registrar: 'sip.provider.example' });
}

/** A fresh canonical MAC: 12 lower-case hex digits. */
function newMac(): string {
  return randomBytes(6).toString('hex');
}

describe('user/list', () => {
  // Usernames that order differently by address and by (username, domain): '1', '+', '-' and '.'
  // sort before '@', so `${t}a1@…` comes before `${t}a@…` in the list's order (by address).
  const t = tag();
  const usernames = ['a', 'a1', 'a.b', 'a+', 'a-b', 'a_b', 'A', 'ab', 'b', 'z9'].map((name) => `${t}${name}`);
  const domains = [`b-${t}.example`, `a-${t}.example`];
  const addresses = usernames.flatMap((username) => domains.map((domain) => `${username}@${domain}`));

  beforeAll(async () => {
    for (const address of addresses) await addRemote(address, `User ${address}`);
  });

  it('walks to exactly the whole list, in order and once each, whatever the limit', async () => {
    const all = await expectWalksMatch(USERS);
    const ours = keys(USERS, all).filter((address) => String(address).startsWith(t));
    // Ordered by the address as written, byte by byte: `${t}a1@` before `${t}a@`.
    expect(ours).toEqual([...addresses].sort());
    expect(ours.indexOf(`${t}a1@${domains[0]}`)).toBeLessThan(ours.indexOf(`${t}a@${domains[1]}`));
  });

  it('pages a search', async () => {
    const found = await expectWalksMatch(USERS, { search: `${t}a*@` });
    expect(keys(USERS, found)).toEqual(addresses.filter((address) => address.startsWith(`${t}a`)).sort());
  });

  it('answers `next` only while more users follow', async () => {
    const first = await ok('user/list', { search: t, limit: addresses.length - 1 });
    expect(first.next).toBe((first.users as { user: string }[])[addresses.length - 2].user);
    const exact = await ok('user/list', { search: t, limit: addresses.length });
    expect(exact).not.toHaveProperty('next');
    expect(exact.users).toHaveLength(addresses.length);
    const last = await ok('user/list', { search: t, limit: 5, after: first.next as string });
    expect(last).toEqual({ response: 'ok', users: [{ user: [...addresses].sort()[addresses.length - 1], displayname: expect.any(String) }] });
  });

  it('takes an `after` that is no user: the users after that address', async () => {
    const sorted = [...addresses].sort();
    // Between `${t}a+@…` and `${t}a-b@…`; no such user.
    const gap = `${t}a+x@example.com`;
    expect(sorted).not.toContain(gap);
    const page = await ok('user/list', { search: t, after: gap, limit: 3 });
    expect(keys(USERS, page.users as Item[])).toEqual(sorted.filter((address) => address > gap).slice(0, 3));
  });

  it('answers the rest of the list after `after` when no limit is given, without next', async () => {
    const sorted = [...addresses].sort();
    const rest = await ok('user/list', { search: t, after: sorted[4] });
    expect(rest).not.toHaveProperty('next');
    expect(keys(USERS, rest.users as Item[])).toEqual(sorted.slice(5));
  });

  it('refuses an `after` that is not a SIP address', async () => {
    for (const after of ['nobody', '@example.com', 'a@', 'a b@example.com', '']) await expectInvalidAfter('user/list', { after, limit: 2 });
  });

  it('neither repeats nor skips users when the list changes between pages', async () => {
    const s = tag();
    const domain = `${s}.example`;
    const initial = ['b', 'd', 'f', 'h', 'j', 'l', 'n'].map((name) => `${s}${name}@${domain}`);
    for (const address of initial) await addRemote(address);
    const before = `${s}a@${domain}`;
    const after = `${s}m@${domain}`;
    const removed = `${s}l@${domain}`;
    const walked = await walk(USERS, 2, { search: s }, async (page) => {
      if (page !== 0) return;
      await addRemote(before);
      await addRemote(after);
      await ok('user/remove', { user: removed });
    });
    expectNoDuplicates(USERS, walked);
    expect(keys(USERS, walked)).toEqual([...initial.filter((address) => address !== removed), after].sort());
  });
});

describe('phone/list', () => {
  const owners = [`${tag()}@${tag()}.example`, `${tag()}@${tag()}.example`];
  // Ten of them share a run of hex digits, for the search.
  const marker = randomBytes(2).toString('hex');
  const macs = Array.from({ length: 17 }, (_, index) => (index < 10 ? `${newMac().slice(0, 4)}${marker}${newMac().slice(0, 4)}` : newMac()));

  beforeAll(async () => {
    for (const owner of owners) await addRemote(owner);
    for (const [index, mac] of macs.entries()) {
      await ok('phone/add', { mac, user: owners[0] });
      // Some phones carry both users: each MAC is listed once all the same.
      if (index % 3 === 0) await ok('phone/add', { mac, user: owners[1] });
    }
  });

  it('walks to exactly the whole list, in order and once each, whatever the limit', async () => {
    const all = await expectWalksMatch(PHONES);
    expect(all).toEqual([...macs].sort());
  });

  it('pages a search', async () => {
    const found = await expectWalksMatch(PHONES, { search: marker.toUpperCase() });
    expect(found).toEqual(macs.filter((mac) => mac.includes(marker)).sort());
  });

  it('takes `after` in any MAC spelling, and one that is no phone', async () => {
    const sorted = [...macs].sort();
    const spelled = (sorted[3].match(/../g) as string[]).join(':').toUpperCase();
    const page = await ok('phone/list', { after: spelled, limit: 4 });
    expect(page.macs).toEqual(sorted.slice(4, 8));
    const gap = (BigInt(`0x${sorted[5]}`) + 1n).toString(16).padStart(12, '0');
    if (!sorted.includes(gap)) {
      expect((await ok('phone/list', { after: gap, limit: 2 })).macs).toEqual(sorted.filter((mac) => mac > gap).slice(0, 2));
    }
  });

  it('refuses an `after` that is not a MAC', async () => {
    for (const after of ['00:1a:2b:3c:4d', '001a2b3c4d5g', 'phone', '']) await expectInvalidAfter('phone/list', { after, limit: 2 });
  });
});

describe('alias/list', () => {
  const t = tag();
  const second = `${t}.local`;
  const destination = `${tag()}@remote.example`;
  // Ordered by (alias username, alias domain): `${t}a@…` before `${t}a1@…`, unlike by address.
  const usernames = ['a', 'a1', 'a.b', 'a+', 'b', 'B', 'c_d'].map((name) => `${t}${name}`);
  const aliases = usernames.flatMap((username) => [`${username}@pbx.local`, `${username}@${second}`]);
  const byAliasKey = (a: string, b: string): number => {
    const [ua, da] = a.split('@');
    const [ub, db] = b.split('@');
    return ua === ub ? (da < db ? -1 : 1) : ua < ub ? -1 : 1;
  };

  beforeAll(async () => {
    await ok('domains/add', { domain: second, local: true });
    for (const alias of aliases) await ok('alias/add', { alias, destination });
    await ok('alias/add', { alias: `+4799${Date.now() % 1_000_000}@pbx.local`, destination });
  });

  it('walks to exactly the whole list, in order and once each, whatever the limit', async () => {
    const all = await expectWalksMatch(ALIASES);
    const ours = keys(ALIASES, all).filter((alias) => String(alias).startsWith(t)) as string[];
    expect(ours).toEqual([...aliases].sort(byAliasKey));
    expect(ours.indexOf(`${t}a@${second}`)).toBeLessThan(ours.indexOf(`${t}a1@pbx.local`));
  });

  it('pages the aliases of one destination', async () => {
    const found = await expectWalksMatch(ALIASES, { destination });
    expect(found).toHaveLength(aliases.length + 1);
    const e164 = await ok('alias/list', { destination, e164: true, limit: 1 });
    expect(e164).not.toHaveProperty('next');
    expect(e164.aliases).toHaveLength(1);
  });

  it('takes an `after` that is no alias: the aliases after it in the list’s order', async () => {
    const sorted = [...aliases].sort(byAliasKey);
    const page = await ok('alias/list', { destination, after: `${t}a@zzz.example`, limit: 3 });
    expect(keys(ALIASES, page.aliases as Item[])).toEqual(sorted.filter((alias) => byAliasKey(alias, `${t}a@zzz.example`) > 0).slice(0, 3));
    const rest = await ok('alias/list', { destination, after: `${t}a@zzz.example` });
    expect(rest).not.toHaveProperty('next');
  });

  it('refuses an `after` that is not a SIP address', async () => {
    for (const after of ['alias', '+4761123456', '@pbx.local', '']) await expectInvalidAfter('alias/list', { after, limit: 2 });
  });

  it('neither repeats nor skips aliases when the list changes between pages', async () => {
    const s = tag();
    const target = `${tag()}@remote.example`;
    const initial = ['b', 'd', 'f', 'h', 'j'].map((name) => `${s}${name}@pbx.local`);
    for (const alias of initial) await ok('alias/add', { alias, destination: target });
    const walked = await walk(ALIASES, 2, { destination: target }, async (page) => {
      if (page !== 0) return;
      await ok('alias/add', { alias: `${s}a@pbx.local`, destination: target });
      await ok('alias/add', { alias: `${s}i@pbx.local`, destination: target });
      await ok('alias/remove', { alias: `${s}f@pbx.local` });
    });
    expect(keys(ALIASES, walked)).toEqual([`${s}b@pbx.local`, `${s}d@pbx.local`, `${s}h@pbx.local`, `${s}i@pbx.local`, `${s}j@pbx.local`]);
  });
});

describe('numbers/list', () => {
  // Numeric order across lengths: the 9-digit +86… first, the 12-digit +358… last.
  beforeAll(async () => {
    await ok('numbers/add_range', { start: '+861000100', end: '+861000149' });
    await ok('numbers/add_range', { start: '+4790000000', end: '+4790000099' });
    await ok('numbers/add_range', { start: '+358401000100', end: '+358401000149' });
    for (let number = 4790000001; number < 4790000100; number += 10) await ok('numbers/remove', { number: `+${number}` });
  });

  it('walks to exactly the whole pool, in ascending numeric order and once each, whatever the limit', async () => {
    const all = (await expectWalksMatch(NUMBERS)) as string[];
    expect(all).toHaveLength(190);
    expect(all[0]).toBe('+861000100');
    expect(all[all.length - 1]).toBe('+358401000149');
    expect(all.map((number) => BigInt(number.slice(1)))).toEqual([...all.map((number) => BigInt(number.slice(1)))].sort((a, b) => (a < b ? -1 : 1)));
  });

  it('pages a search', async () => {
    const found = (await expectWalksMatch(NUMBERS, { search: '47900000?5' })) as string[];
    expect(found).toEqual(Array.from({ length: 10 }, (_, index) => `+47900000${index}5`));
  });

  it('takes an `after` that is not in the pool: the numbers above it', async () => {
    const page = await ok('numbers/list', { after: '+4790000001', limit: 3 });
    expect(page).toEqual({ response: 'ok', numbers: ['+4790000002', '+4790000003', '+4790000004'], next: '+4790000004' });
    expect((await ok('numbers/list', { after: '+99', limit: 3 })).numbers).toEqual(['+861000100', '+861000101', '+861000102']);
    expect(await ok('numbers/list', { after: '+358401000149', limit: 3 })).toEqual({ response: 'ok', numbers: [] });
  });

  it('streams the rest of the pool after `after` when no limit is given, without next', async () => {
    expect(await ok('numbers/list', { after: '+358401000145' })).toEqual({
      response: 'ok',
      numbers: ['+358401000146', '+358401000147', '+358401000148', '+358401000149'],
    });
  });

  it('refuses an `after` that is not E.164, and `after` with random=true', async () => {
    for (const after of ['4790000000', '+0790000000', '+1', 'next', '']) await expectInvalidAfter('numbers/list', { after, limit: 2 });
    await expectInvalidAfter('numbers/list', { random: true, after: '+4790000000' });
    await expectInvalidAfter('numbers/list', { random: true, limit: 5, after: '+4790000000' });
  });

  it('keeps limit with random=true a random sample, without next', async () => {
    const sample = await ok('numbers/list', { random: true, limit: 5 });
    expect(sample.numbers).toHaveLength(5);
    expect(sample).not.toHaveProperty('next');
  });

  it('neither repeats nor skips numbers when the pool changes between pages', async () => {
    await ok('numbers/add_range', { start: '+4791000010', end: '+4791000019' });
    const walked = await walk(NUMBERS, 3, { search: '479100' }, async (page) => {
      if (page !== 1) return;
      await ok('numbers/add', { number: '+4791000001' });
      await ok('numbers/add', { number: '+4791000099' });
      await ok('numbers/remove', { number: '+4791000018' });
    });
    expect(walked).toEqual([...Array.from({ length: 8 }, (_, index) => `+47910000${10 + index}`), '+4791000019', '+4791000099']);
  });
});

describe('audit/list', () => {
  const user = `${tag()}@${tag()}.example`;

  beforeAll(async () => {
    await addRemote(user);
    for (let index = 0; index < 6; index += 1) await ok('user/update', { user, linetext: `line ${index}` });
    await ok('phone/add', { mac: newMac(), user });
    await gateway.get('user/change_email', { user, email: 'x@example.com' });
  });

  it('walks to exactly the whole trail of a user, newest first and once each, whatever the limit', async () => {
    // audit/list always has a limit (100 by default): the whole trail is a limit above its length.
    const trail = (await ok('audit/list', { user, limit: 1000 })).entries as { id: number }[];
    expect(trail).toHaveLength(9);
    const ids = trail.map((entry) => entry.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    for (const limit of [1, 2, 3, 4, 8, 9, 10]) expect(await walk(AUDIT, limit, { user })).toEqual(trail);
  });

  it('walks the whole trail, newest first', async () => {
    const trail = (await ok('audit/list', { limit: 100_000 })).entries as { id: number }[];
    expect(trail.length).toBeGreaterThan(100);
    for (const limit of [7, 50, 99]) {
      const walked = await walk(AUDIT, limit);
      expectNoDuplicates(AUDIT, walked);
      // Entries written since (by this walk itself: none, audit/list changes nothing) would be newer: not in the walk.
      expect(walked).toEqual(trail);
    }
  });

  it('answers pages of 100 with next by default, and carries each entry’s id', async () => {
    const page = await ok('audit/list');
    expect(page.entries).toHaveLength(100);
    const entries = page.entries as { id: number }[];
    expect(page.next).toBe(entries[99].id);
    for (const entry of entries) expect(Number.isInteger(entry.id)).toBe(true);
    const following = await ok('audit/list', { after: page.next as number });
    expect((following.entries as { id: number }[])[0].id).toBeLessThan(page.next as number);
  });

  it('takes an `after` that is no entry of the list: the entries older than it', async () => {
    const trail = (await ok('audit/list', { user, limit: 1000 })).entries as { id: number }[];
    const beyond = trail[0].id + 1000;
    expect(await ok('audit/list', { user, after: beyond, limit: 2 })).toEqual({ response: 'ok', entries: trail.slice(0, 2), next: trail[1].id });
    expect(await ok('audit/list', { user, after: 1 })).toEqual({ response: 'ok', entries: [] });
  });

  it('refuses an `after` that is not a positive integer', async () => {
    for (const after of ['0', '-3', '1.5', 'latest', '']) await expectInvalidAfter('audit/list', { after });
  });

  it('does not show entries written after the walk began: they are newer than its cursor', async () => {
    const s = `${tag()}@${tag()}.example`;
    await addRemote(s);
    for (let index = 0; index < 4; index += 1) await ok('user/update', { user: s, linetext: `line ${index}` });
    const trail = (await ok('audit/list', { user: s })).entries;
    const walked = await walk(AUDIT, 2, { user: s }, async () => {
      await ok('user/update', { user: s, linetext: 'between pages' });
    });
    expect(walked).toEqual(trail);
  });
});

describe('long work', () => {
  // A page reads `limit + 1` rows: short work, never waiting behind whole lists for a long-work slot.
  it('answers a page while a whole list holds the only long-work slot, where a whole list waits its turn', async () => {
    const narrow = await startTestGateway({ longWorkConnections: 1, requestTimeoutMs: 10_000 });
    const locker = await mysql.createConnection(narrow.config.mysqlUrl);
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      await narrow.get('numbers/add_range', { start: '+4792000000', end: '+4792000004' }).expect(200);
      // The whole user list waits for the table lock, holding the slot meanwhile.
      await locker.query('LOCK TABLES users WRITE');
      const held = narrow.get('user/list').then((response) => response.body);
      await pause(300);
      const started = performance.now();
      const page = await narrow.get('numbers/list', { limit: 3 });
      expect(page.body).toEqual({ response: 'ok', numbers: ['+4792000000', '+4792000001', '+4792000002'], next: '+4792000002' });
      expect(performance.now() - started).toBeLessThan(2000);
      let wholeDone = false;
      const wholeList = narrow.get('numbers/list').then((response) => {
        wholeDone = true;
        return response.body;
      });
      await pause(700);
      expect(wholeDone).toBe(false);
      await locker.query('UNLOCK TABLES');
      expect(await held).toMatchObject({ response: 'ok' });
      expect(await wholeList).toEqual({ response: 'ok', numbers: ['+4792000000', '+4792000001', '+4792000002', '+4792000003', '+4792000004'] });
    } finally {
      await locker.end();
      await narrow.close();
    }
  });
});
