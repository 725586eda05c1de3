// The users view's one search box. The text's form decides which nodes are asked (search-terms.ts);
// every lookup is the server's (a search, a key lookup or a page: user/list?name= for display
// names), so a page is as quick with 100,000 users as with ten (docs/decisions/013-console.md).

import { call, okMembers, type Answer, type ConsoleContext } from './api.js';
import { announce, busy, button, byId, clear, h } from './dom.js';
import { refusalWords, showNote, showWorking } from './outcome.js';
import { planSearch, type SearchPlan } from './search-terms.js';

/** Rows shown at once, and asked for per page. */
const PAGE = 25;

interface Found {
  readonly address: string;
  displayname: string | null;
  /** Why it is listed: "address", "display name", "phone 001a2b3c4d5e", "alias +4790000001@pbx.local". */
  readonly reasons: string[];
  /** False for an alias's destination with no user record (an outside address). */
  isUser: boolean;
}

interface UserEntry {
  readonly user: string;
  readonly displayname: string;
}

export function userLink(address: string, text = address): HTMLAnchorElement {
  return h('a', { href: `#/user/${encodeURIComponent(address)}` }, text);
}

/** The users view's search: the form, the status line and the results table. */
export class UserSearch {
  private generation = 0;
  private found = new Map<string, Found>();
  /** The rows in the table, by address. */
  private rows = new Map<string, HTMLTableRowElement>();
  /** Lookups that did not answer ok, in words. */
  private failures: string[] = [];
  private readonly outcome = byId('search-outcome');
  private readonly results = byId('search-results');
  private body: HTMLTableSectionElement | null = null;
  private more: HTMLDivElement | null = null;
  private notes: HTMLUListElement | null = null;
  private ran = false;

  constructor(private readonly context: ConsoleContext) {
    const form = byId<HTMLFormElement>('search-form');
    const input = byId<HTMLInputElement>('search-text');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.run(input.value);
    });
  }

  /** Runs the search once (the first time the view is shown), unless it ran already. */
  ensureShown(): void {
    if (!this.ran) void this.run(byId<HTMLInputElement>('search-text').value);
  }

  async run(text: string): Promise<void> {
    this.ran = true;
    const generation = ++this.generation;
    const current = () => generation === this.generation;
    this.found = new Map();
    this.failures = [];
    const plan = planSearch(text);
    const shown = text.trim();
    showWorking(this.outcome, shown === '' ? 'listing the users.' : `looking for “${shown}”.`);
    this.startTable(plan.browse ? 'Every user, by address' : `Users found for “${shown}”`);

    const lookups: Promise<void>[] = [];
    if (plan.browse || plan.addressSearch !== null) lookups.push(this.addressPage(plan, null));
    if (plan.nameSearch !== null) lookups.push(this.byName(plan.nameSearch, null));
    if (plan.mac !== null) lookups.push(this.byMac(plan.mac));
    if (plan.macSearch !== null) lookups.push(this.byMacPart(plan.macSearch, null));
    if (plan.number !== null) lookups.push(this.inPool(plan.number));
    for (const alias of this.aliasAddresses(plan)) lookups.push(this.byAlias(alias));
    await Promise.all(lookups);
    if (!current()) return;
    await this.showNew();
    if (!current()) return;
    this.summarise();
  }

  private aliasAddresses(plan: SearchPlan): string[] {
    if (plan.aliasAddress !== null) return [plan.aliasAddress];
    const username = plan.number ?? plan.aliasUsername;
    return username === null ? [] : this.context.localDomains.map((domain) => `${username}@${domain}`);
  }

  /** The ok answer's members; a failure is kept, in words, for the summary. */
  private noted(what: string, answer: Answer): Readonly<Record<string, unknown>> | null {
    const members = okMembers(answer);
    if (members === null) this.failures.push(`${what}: ${refusalWords(answer)}`);
    return members;
  }

  private note(address: string, reason: string, displayname: string | null = null): void {
    const known = this.found.get(address);
    if (known) {
      if (!known.reasons.includes(reason)) known.reasons.push(reason);
      if (known.displayname === null) known.displayname = displayname;
      return;
    }
    this.found.set(address, { address, displayname, reasons: [reason], isUser: true });
  }

  /** user/list: a page of users whose address matches (or of all users, browsing). */
  private async addressPage(plan: SearchPlan, after: string | null): Promise<void> {
    const search = plan.browse ? undefined : (plan.addressSearch ?? undefined);
    const members = this.noted('user/list', await call('user/list', { search, limit: PAGE, after: after ?? undefined }));
    if (members === null) return;
    for (const entry of members.users as UserEntry[]) this.note(entry.user, plan.browse ? 'listed' : 'address', entry.displayname);
    const next = members.next as string | undefined;
    if (next !== undefined) this.addMore(plan.browse ? 'Show more users' : 'Show more users whose address matches', () => this.addressPage(plan, next));
  }

  private async byMac(mac: string): Promise<void> {
    const members = this.noted('phone/get', await call('phone/get', { mac }));
    if (members === null) return;
    for (const address of members.users as string[]) this.note(address, `phone ${mac}`);
  }

  /** phone/list?search=: the phones whose MAC holds the text, and who is on each (phone/get). */
  private async byMacPart(part: string, after: string | null): Promise<void> {
    const members = this.noted('phone/list', await call('phone/list', { search: part, limit: 10, after: after ?? undefined }));
    if (members === null) return;
    await Promise.all((members.macs as string[]).map((mac) => this.byMac(mac)));
    const next = members.next as string | undefined;
    if (next !== undefined) this.addMore('Show users of more phones whose MAC matches', () => this.byMacPart(part, next));
  }

  private async byAlias(alias: string): Promise<void> {
    const members = this.noted('alias/list', await call('alias/list', { alias }));
    if (members === null) return;
    for (const entry of members.aliases as { alias: string; destination: string }[]) this.note(entry.destination, `alias ${entry.alias}`);
  }

  private async inPool(number: string): Promise<void> {
    const answer = await call('numbers/inpool', { number });
    if (answer.envelope.response === 'failed' && answer.envelope.cause === 'nonexistant') return;
    if (this.noted('numbers/inpool', answer) !== null) this.addNote(`${number} is a free number in the pool: no one has it.`);
  }

  /** user/list?name=: a page of users whose display name matches (the server's search). */
  private async byName(text: string, after: string | null): Promise<void> {
    const members = this.noted('user/list (display names)', await call('user/list', { name: text, limit: PAGE, after: after ?? undefined }));
    if (members === null) return;
    for (const entry of members.users as UserEntry[]) this.note(entry.user, 'display name', entry.displayname);
    const next = members.next as string | undefined;
    if (next !== undefined) this.addMore(`Show more users named “${text}”`, () => this.byName(text, next));
  }

  /** Display names for users found by phone or alias (user/get each: a handful at most). */
  private async fillDisplaynames(): Promise<void> {
    const missing = [...this.found.values()].filter((found) => found.displayname === null && found.isUser);
    await Promise.all(
      missing.map(async (found) => {
        const answer = await call('user/get', { user: found.address });
        if (answer.envelope.response === 'failed' && answer.envelope.cause === 'nonexistant') found.isUser = false;
        else {
          const members = this.noted('user/get', answer);
          if (members !== null) found.displayname = (members.user as { displayname: string }).displayname;
        }
      }),
    );
  }

  /** Adds a row for each user found since the last call, and brings rows whose reasons grew up to date. */
  private async showNew(): Promise<void> {
    await this.fillDisplaynames();
    for (const found of this.found.values()) {
      const row = this.row(found);
      const old = this.rows.get(found.address);
      if (old === undefined) this.body?.append(row);
      else if (old.textContent !== row.textContent) old.replaceWith(row);
      else continue;
      this.rows.set(found.address, row);
    }
  }

  private startTable(caption: string): void {
    clear(this.results);
    this.rows = new Map();
    this.notes = null;
    this.body = h('tbody');
    const table = h(
      'table',
      {},
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Display name'), h('th', { scope: 'col' }, 'Found by'))),
      this.body,
    );
    this.more = h('div', { class: 'row' });
    this.results.append(table, this.more);
  }

  private row(found: Found): HTMLTableRowElement {
    const name = found.isUser ? (found.displayname ?? '') : 'no user here: the alias points at an address outside';
    return h(
      'tr',
      {},
      h('td', {}, found.isUser ? userLink(found.address) : h('span', { class: 'mono' }, found.address)),
      h('td', {}, name),
      h('td', {}, found.reasons.join('; ')),
    );
  }

  private addNote(text: string): void {
    if (this.notes === null) {
      this.notes = h('ul', { class: 'notes' });
      this.results.prepend(this.notes);
    }
    this.notes.append(h('li', {}, text));
  }

  /** A "show more" button: it runs `load`, shows the new rows, moves focus to the first of them, and goes. */
  private addMore(label: string, load: () => Promise<void>): void {
    const generation = this.generation;
    const control = button(
      label,
      () => {
        void busy(control, async () => {
          const before = new Set(this.rows.keys());
          await load();
          if (generation !== this.generation) return;
          await this.showNew();
          const added = [...this.rows.keys()].filter((address) => !before.has(address));
          const first = added.length > 0 ? this.rows.get(added[0])?.querySelector('a') : null;
          control.remove();
          if (first) first.focus();
          else this.more?.querySelector('button')?.focus();
          announce(`${added.length} more shown; ${this.found.size} in all.`);
          this.summarise();
        });
      },
      { className: 'secondary' },
    );
    this.more?.append(control);
  }

  private summary(): string {
    const count = this.found.size;
    const more = (this.more?.childElementCount ?? 0) > 0 ? ' so far; more below' : '';
    if (count === 0) return `No user found${more}.`;
    return `${count === 1 ? '1 user' : `${count} users`} found${more}.`;
  }

  private summarise(): void {
    if (this.failures.length === 0) {
      showNote(this.outcome, true, this.summary());
      return;
    }
    const list = h('ul', {}, ...this.failures.map((failure) => h('li', {}, failure)));
    showNote(this.outcome, false, `${this.summary()} Some lookups did not succeed:`, list);
  }
}
