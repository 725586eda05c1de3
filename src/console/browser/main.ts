// The console's entry: sign in with a token (kept in this tab's sessionStorage only), learn its
// scope, then the views by the address's hash: #/users, #/user/<address>, #/add, #/numbers.

import { call, learnScope, okMembers, session, whenTokenRefused, type ConsoleContext, type Scope } from './api.js';
import { byId, focusOn } from './dom.js';
import { refusalWords, showNote, showWorking } from './outcome.js';
import { AddUser } from './add-user.js';
import { NumberPool } from './number-pool.js';
import { UserSearch } from './user-search.js';
import { UserView } from './user-view.js';

type View = 'login' | 'users' | 'add' | 'numbers';
const VIEWS: readonly View[] = ['login', 'users', 'add', 'numbers'];

/** A sentence for the sign-in page after a reload (logged out, token refused). */
const NOTE_KEY = 'pbx-gateway-console-note';

const SCOPE_WORDS: Record<Scope, string> = {
  read: 'Signed in with a read token: you can look, not change.',
  write: 'Signed in with a write token.',
  admin: 'Signed in with an admin token.',
};

const TITLES: Record<View, string> = { login: 'Sign in', users: 'Users', add: 'Add a user', numbers: 'Number pool' };

function showView(view: View): void {
  document.title = `${TITLES[view]} · pbx-gateway console`;
  // A read token's page has no add view (taken out at sign-in).
  for (const name of VIEWS) {
    const section = document.getElementById(`${name}-view`);
    if (section !== null) section.hidden = name !== view;
  }
  for (const link of document.querySelectorAll<HTMLAnchorElement>('#views a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

/** Back to the sign-in page with a fresh page: nothing of the last session stays in memory. */
function signOut(ok: boolean, note: string): void {
  session.forget();
  sessionStorage.setItem(NOTE_KEY, JSON.stringify({ ok, note }));
  window.location.replace(window.location.pathname);
}

interface Views {
  readonly search: UserSearch;
  readonly user: UserView;
  readonly add: AddUser | null;
  readonly pool: NumberPool;
}

function route(views: Views, moved: boolean): void {
  const hash = window.location.hash;
  if (hash !== '#/add') views.add?.forget();
  if (hash.startsWith('#/user/')) {
    showView('users');
    views.search.ensureShown();
    void views.user.show(decodeURIComponent(hash.slice('#/user/'.length)));
    return;
  }
  views.user.close();
  const view: View = hash === '#/add' && views.add !== null ? 'add' : hash === '#/numbers' ? 'numbers' : 'users';
  showView(view);
  if (view === 'users') views.search.ensureShown();
  if (view === 'numbers') views.pool.ensureShown();
  if (moved) focusOn(byId(`${view}-heading`));
}

async function start(scope: Scope): Promise<void> {
  const domains = okMembers(await call('domains/list'));
  const localDomains = ((domains?.domains ?? []) as { domain: string; local: boolean }[]).filter((domain) => domain.local).map((domain) => domain.domain);
  const context: ConsoleContext = { scope, canChange: scope !== 'read', isAdmin: scope === 'admin', localDomains };
  // A read token gets no control that would change anything: those parts of the page are taken out.
  if (!context.canChange) for (const element of document.querySelectorAll('[data-needs="write"]')) element.remove();
  byId('session-scope').textContent = SCOPE_WORDS[scope];
  byId('session').hidden = false;
  byId('views').hidden = false;
  const views: Views = {
    search: new UserSearch(context),
    user: new UserView(context, byId('user-panel')),
    add: context.canChange ? new AddUser(context) : null,
    pool: new NumberPool(context),
  };
  window.addEventListener('hashchange', () => route(views, true));
  route(views, false);
  if (!window.location.hash.startsWith('#/user/')) byId(window.location.hash === '#/numbers' ? 'numbers-search' : window.location.hash === '#/add' ? 'add-username' : 'search-text').focus();
}

async function signIn(token: string): Promise<void> {
  const outcome = byId('login-outcome');
  showWorking(outcome, 'asking the gateway what this token may do.');
  const learnt = await learnScope(token);
  if ('refused' in learnt) {
    session.forget();
    showNote(outcome, false, refusalWords(learnt.refused));
    byId<HTMLInputElement>('login-token').focus();
    return;
  }
  session.keep(token);
  byId<HTMLInputElement>('login-token').value = '';
  outcome.replaceChildren();
  await start(learnt.scope);
}

function main(): void {
  whenTokenRefused((detail) => signOut(false, `the gateway no longer takes the token (${detail || 'refused'}): sign in again.`));
  byId('logout').addEventListener('click', () => signOut(true, 'logged out; this tab has forgotten the token.'));
  byId<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = byId<HTMLInputElement>('login-token').value.trim();
    if (token === '') {
      showNote(byId('login-outcome'), false, 'give a token first.');
      return;
    }
    void signIn(token);
  });
  const note = JSON.parse(sessionStorage.getItem(NOTE_KEY) ?? 'null') as { ok: boolean; note: string } | null;
  sessionStorage.removeItem(NOTE_KEY);
  const token = session.token();
  showView('login');
  if (token !== null) void signIn(token);
  else {
    if (note !== null) showNote(byId('login-outcome'), note.ok, note.note);
    byId<HTMLInputElement>('login-token').focus();
  }
}

main();
