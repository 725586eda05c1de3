// Adding a user: a local one (user/add_local: the PBX makes the extension, the gateway generates the
// password and shows it this once, with a copy button) or a remote one (user/add_remote).

import { call, generatePassword, okMembers, type ConsoleContext, type Params } from './api.js';
import { busy, button, byId, clear, focusOn, h } from './dom.js';
import { outcomeRegion, showNote, showOutcome, showWorking } from './outcome.js';
import { userLink } from './user-search.js';

const REMOTE_FIELDS = ['registrar', 'r_port', 'proxy', 'p_port', 'authid', 'dialplan', 'linetext'] as const;

/**
 * Copies text to the clipboard: the Clipboard API where the page may use it (a secure context: HTTPS
 * or localhost), else the selected text with the older copy command.
 */
async function copyText(text: string, input: HTMLInputElement): Promise<boolean> {
  try {
    if (navigator.clipboard) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // refused: try the older way
  }
  input.focus();
  input.select();
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  }
}

export class AddUser {
  private readonly form = byId<HTMLFormElement>('add-form');
  private readonly outcome = byId('add-outcome');
  private readonly result = byId('add-result');

  constructor(context: ConsoleContext) {
    const domains = byId('local-domains');
    for (const domain of context.localDomains) domains.append(h('option', { value: domain }));
    byId<HTMLInputElement>('add-domain').value = context.localDomains[0] ?? '';
    for (const radio of this.form.querySelectorAll<HTMLInputElement>('input[name="kind"]')) radio.addEventListener('change', () => this.showKind());
    const generate = byId<HTMLButtonElement>('add-generate');
    generate.addEventListener('click', () => {
      void busy(generate, async () => {
        const generated = await generatePassword();
        if ('password' in generated) {
          byId<HTMLInputElement>('add-password').value = generated.password;
          showNote(this.outcome, true, 'a generated password is in the SIP password field.');
        } else showOutcome(this.outcome, generated, '');
      });
    });
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void busy(this.form.querySelector<HTMLButtonElement>('button[type="submit"]'), () => this.add());
    });
    this.showKind();
  }

  /** Leaving the view forgets a generated password shown there. */
  forget(): void {
    clear(this.result);
  }

  private kind(): 'local' | 'remote' {
    return (new FormData(this.form).get('kind') as 'local' | 'remote' | null) ?? 'local';
  }

  private showKind(): void {
    const kind = this.kind();
    for (const element of this.form.querySelectorAll<HTMLElement>('[data-for-kind]')) element.hidden = element.dataset.forKind !== kind;
  }

  private value(name: string): string {
    return ((new FormData(this.form).get(name) as string | null) ?? '').trim();
  }

  private async add(): Promise<void> {
    clear(this.result);
    const kind = this.kind();
    const username = this.value('username');
    const domain = this.value('domain').toLowerCase();
    const address = `${username}@${domain}`;
    const params: Record<string, string | undefined> = { username, domain, displayname: this.value('displayname') };
    if (kind === 'local') params.email = this.value('email') || undefined;
    else {
      params.password = this.value('password');
      for (const name of REMOTE_FIELDS) params[name] = this.value(name) || undefined;
    }
    showWorking(this.outcome, `adding ${address}.`);
    const answer = await call(kind === 'local' ? 'user/add_local' : 'user/add_remote', params as Params);
    const members = okMembers(answer);
    if (!showOutcome(this.outcome, answer, `${address} added as a ${kind} user${kind === 'local' ? ', with its extension on the PBX' : ''}.`) || members === null) return;
    const added = (members.user as { user: string }).user;
    for (const name of ['username', 'displayname', 'email', 'password', ...REMOTE_FIELDS]) {
      const input = this.form.elements.namedItem(name);
      if (input instanceof HTMLInputElement) input.value = '';
    }
    const heading = h('h2', {}, `${added} is added`);
    this.result.append(heading);
    if (typeof members.password === 'string') this.showPassword(added, members.password);
    this.result.append(h('p', {}, userLink(added, `Open ${added}`), ' or add another user above.'));
    focusOn(heading);
  }

  /** The generated password, shown this once, with a copy button. */
  private showPassword(address: string, password: string): void {
    const secret = h('input', { id: 'added-password', class: 'secret', readonly: true, value: password, spellcheck: 'false', autocomplete: 'off' });
    const copied = outcomeRegion();
    const copy = button('Copy the password', () => {
      void busy(copy, async () => {
        if (await copyText(password, secret)) showNote(copied, true, 'the password is on the clipboard.');
        else {
          secret.focus();
          secret.select();
          showNote(copied, false, 'the browser refused the clipboard; the password is selected: press Ctrl+C (⌘C) to copy it.');
        }
      });
    });
    this.result.append(
      h('p', {}, `The SIP password of ${address}, shown this once (the gateway never shows it again):`),
      h('label', { for: 'added-password' }, `SIP password of ${address}`),
      h('div', { class: 'row' }, secret, copy),
      copied,
    );
  }
}
