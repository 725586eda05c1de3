// The number pool: the free numbers a page at a time (numbers/list with limit and after: a page deep
// in 1,000,000 numbers costs what the first does), with a search, and adding a range.

import { call, okMembers, type ConsoleContext } from './api.js';
import { announce, busy, button, byId, clear, focusOn, h } from './dom.js';
import { readFailure, showOutcome, showWorking } from './outcome.js';
import { writtenNumber } from './search-terms.js';

const PAGE = 50;

export class NumberPool {
  private readonly list = byId('numbers-list');
  private search = '';
  /** The `after` of each page shown so far: the first page has none. */
  private pages: (string | null)[] = [null];
  private shown = false;

  constructor(context: ConsoleContext) {
    const searchForm = byId<HTMLFormElement>('numbers-search-form');
    searchForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.search = byId<HTMLInputElement>('numbers-search').value.trim();
      this.pages = [null];
      void this.load();
    });
    if (context.canChange) {
      const rangeForm = byId<HTMLFormElement>('range-form');
      rangeForm.addEventListener('submit', (event) => {
        event.preventDefault();
        void busy(rangeForm.querySelector<HTMLButtonElement>('button[type="submit"]'), () => this.addRange());
      });
    }
  }

  ensureShown(): void {
    if (!this.shown) void this.load();
  }

  private async load(focusList = false): Promise<void> {
    this.shown = true;
    const after = this.pages[this.pages.length - 1];
    const answer = await call('numbers/list', { search: this.search || undefined, limit: PAGE, after: after ?? undefined });
    clear(this.list);
    const members = okMembers(answer);
    if (members === null) {
      this.list.append(readFailure('the number pool', answer));
      return;
    }
    const numbers = members.numbers as string[];
    const first = (this.pages.length - 1) * PAGE + 1;
    const what = this.search === '' ? 'Free numbers' : `Free numbers matching “${this.search}”`;
    const caption = numbers.length === 0 ? `${what}: none${this.pages.length > 1 ? ' after the last page' : ''}.` : `${what}, ${first} to ${first + numbers.length - 1}`;
    const heading = h('h2', {}, caption);
    const columns = h('ul', { class: 'number-columns', 'aria-label': caption }, ...numbers.map((number) => h('li', { class: 'mono' }, number)));
    const nav = h('div', { class: 'row', role: 'group', 'aria-label': 'Pages of numbers' });
    if (this.pages.length > 1) {
      nav.append(
        button('Previous page', () => {
          this.pages.pop();
          void this.load(true);
        }, { className: 'secondary' }),
      );
    }
    const next = members.next as string | undefined;
    if (next !== undefined) {
      nav.append(
        button('Next page', () => {
          this.pages.push(next);
          void this.load(true);
        }, { className: 'secondary' }),
      );
    }
    this.list.append(heading, columns, nav);
    if (focusList) {
      focusOn(heading);
      announce(caption);
    }
  }

  private async addRange(): Promise<void> {
    const outcome = byId('range-outcome');
    const startText = byId<HTMLInputElement>('range-start').value;
    const endText = byId<HTMLInputElement>('range-end').value;
    // Spaces and dashes people write in numbers are dropped; anything else goes as typed, for the gateway to judge.
    const start = writtenNumber(startText) ?? startText.trim();
    const end = writtenNumber(endText) ?? endText.trim();
    const dryRun = byId<HTMLInputElement>('range-dry-run').checked;
    showWorking(outcome, `${dryRun ? 'checking' : 'adding'} ${start} to ${end}.`);
    const answer = await call('numbers/add_range', { start, end, dry_run: dryRun || undefined });
    const members = okMembers(answer);
    const added = Number(members?.added ?? 0).toLocaleString('en');
    const existing = Number(members?.existing ?? 0).toLocaleString('en');
    const done = dryRun
      ? `checked only (dry run): ${start} to ${end} would add ${added} numbers; ${existing} are in the pool already. Nothing was added.`
      : `${start} to ${end}: ${added} numbers added; ${existing} were in the pool already and are left as they were.`;
    if (showOutcome(outcome, answer, done) && !dryRun) {
      this.pages = [null];
      await this.load();
    }
  }
}
