// One user whole: the user object, phones, aliases (E.164 first), permissions, call forwards as the
// PBX has them, and (for admins) the user's recent audit entries; and, for a token that may change
// things, every change of the user, phone and alias nodes, each with its outcome beside it.

import { call, generatePassword, okMembers, type Answer, type ConsoleContext, type Params } from './api.js';
import { announce, busy, button, clear, field, focusOn, h } from './dom.js';
import { outcomeRegion, readFailure, showNote, showOutcome, showWorking } from './outcome.js';
import { E164 } from './search-terms.js';

interface UserObject {
  readonly user: string;
  readonly username: string;
  readonly domain: string;
  readonly kind: 'local' | 'remote';
  readonly displayname: string;
  readonly email: string;
  readonly dialplan: string;
  readonly linetext: string;
  readonly registrar?: string;
  readonly r_port?: number;
  readonly proxy?: string;
  readonly p_port?: number;
  readonly authid?: string;
}

interface Alias {
  readonly alias: string;
  readonly destination: string;
}

interface AuditEntry {
  readonly id: number;
  readonly time: string;
  readonly token: string | null;
  readonly node: string;
  readonly params: Record<string, unknown>;
  readonly response: string;
  readonly cause: string | null;
}

type Forward = Record<'busy' | 'no_answer' | 'unavailable' | 'all', string>;

const FORWARDS: readonly [keyof Forward, string][] = [
  ['all', 'All calls'],
  ['busy', 'When busy'],
  ['no_answer', 'When not answered'],
  ['unavailable', 'When unavailable'],
];

/** The user object's members in the order shown, with their labels. */
const FIELDS: readonly [keyof UserObject, string][] = [
  ['user', 'Address'],
  ['kind', 'Kind'],
  ['displayname', 'Display name'],
  ['email', 'E-mail'],
  ['dialplan', 'Dial plan'],
  ['linetext', 'Line text'],
  ['registrar', 'Registrar'],
  ['r_port', 'Registrar port'],
  ['proxy', 'Outbound proxy'],
  ['p_port', 'Proxy port'],
  ['authid', 'Authentication id'],
];

/** E.164 aliases first (a destination has at most one), then the others by address. */
export function aliasOrder(aliases: readonly Alias[]): Alias[] {
  const isE164 = (alias: Alias) => E164.test(alias.alias.split('@')[0]);
  return [...aliases].sort((a, b) => Number(isE164(b)) - Number(isE164(a)) || (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
}

function section(title: string, ...children: (Node | null)[]): { element: HTMLElement; heading: HTMLHeadingElement } {
  const heading = h('h3', {}, title);
  const element = h('section', {}, heading, ...children);
  return { element, heading };
}

function changeForm(label: string, onSubmit: (form: HTMLFormElement, submit: HTMLButtonElement) => Promise<void>, ...fields: Node[]): { form: HTMLFormElement; outcome: HTMLParagraphElement } {
  const submit = h('button', { type: 'submit' }, label);
  const outcome = outcomeRegion();
  const form = h('form', { class: 'stacked', novalidate: true, 'data-change': true }, ...fields, submit, outcome);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void busy(submit, () => onSubmit(form, submit));
  });
  return { form, outcome };
}

/** The user panel: shows one user at a time. */
export class UserView {
  private generation = 0;
  private address = '';
  private user: UserObject | null = null;
  private phones: string[] = [];
  private aliases: Alias[] = [];
  private readonly phoneList = h('ul', { class: 'items' });
  private readonly aliasList = h('ul', { class: 'items' });
  private readonly permissionList = h('ul', { class: 'items' });
  private readonly phoneOutcome = outcomeRegion();
  private readonly aliasOutcome = outcomeRegion();
  private readonly permissionOutcome = outcomeRegion();
  private phonesHeading: HTMLHeadingElement | null = null;
  private aliasesHeading: HTMLHeadingElement | null = null;

  constructor(
    private readonly context: ConsoleContext,
    private readonly panel: HTMLElement,
  ) {}

  close(): void {
    this.generation += 1;
    clear(this.panel);
    this.panel.className = '';
  }

  /** Reads the user and everything about it, and shows it; focus goes to its heading. */
  async show(address: string): Promise<void> {
    const generation = ++this.generation;
    this.address = address;
    clear(this.panel);
    this.panel.className = 'user-panel';
    const heading = h('h2', {}, `User ${address}`);
    const loading = h('p', { class: 'outcome working' }, h('span', { class: 'word' }, 'Working:'), ` reading ${address}.`);
    this.panel.append(heading, loading);
    focusOn(heading);

    const got = await call('user/get', { user: address });
    if (generation !== this.generation) return;
    const members = okMembers(got);
    if (members === null) {
      loading.replaceWith(readFailure(address, got));
      announce(`Could not read ${address}.`);
      return;
    }
    const user = members.user as UserObject;
    this.user = user;
    heading.textContent = `${user.displayname || user.user} (${user.user})`;
    document.title = `${user.user} · pbx-gateway console`;

    const [phones, aliases, permissions] = await Promise.all([
      call('phone/get', { user: address }),
      call('alias/list', { destination: address }),
      call('user/permissions', { user: address }),
    ]);
    if (generation !== this.generation) return;
    loading.remove();

    const details = this.detailsSection(user);
    const phoneSection = this.phonesSection(phones);
    const aliasSection = this.aliasesSection(aliases);
    const forwardSection = this.forwardsSection(user);
    const permissionSection = this.permissionsSection(permissions);
    const removal = this.context.canChange ? this.removeSection() : null;
    const audit = this.context.isAdmin ? this.auditSection() : null;
    this.panel.append(
      h('p', {}, h('span', { class: 'tag' }, user.kind === 'local' ? 'local user: an extension on the PBX' : 'remote user: provisioning only'), ' ', h('a', { href: '#/users' }, 'Back to the search')),
      h('div', { class: 'columns' }, details, h('div', {}, phoneSection, aliasSection, permissionSection)),
      forwardSection.element,
      ...(audit ? [audit.element] : []),
      ...(removal ? [removal] : []),
    );
    // Tab pressed while the user was read finds nothing after the heading: focus is then nowhere.
    if (document.activeElement === document.body) heading.focus();
    announce(`Showing ${user.user}, ${user.displayname}.`);
    // The forwards need the PBX (and a write token), the audit entries an admin token: read after the
    // rest is shown, the audit last so that it lists this view's own forward read.
    await forwardSection.load();
    if (generation !== this.generation) return;
    await audit?.load(null);
  }

  // ---- the user object: details, e-mail, password ----

  private detailsSection(user: UserObject): HTMLElement {
    const list = h('dl', { class: 'fields' });
    const fill = (shown: UserObject) => {
      clear(list);
      for (const [key, label] of FIELDS) {
        const value = shown[key];
        if (value === undefined || (key === 'email' && shown.kind === 'remote')) continue;
        list.append(h('dt', {}, label), h('dd', {}, value === '' ? '(none)' : String(value)));
      }
    };
    fill(user);
    const { element } = section('The user', list);
    if (!this.context.canChange) return element;

    // user/update: display name, dial plan, line text, and a remote user's server settings.
    const editable: [keyof UserObject, string][] = [
      ['displayname', 'Display name'],
      ['dialplan', 'Dial plan'],
      ['linetext', 'Line text'],
      ...(user.kind === 'remote'
        ? ([
            ['registrar', 'Registrar'],
            ['r_port', 'Registrar port'],
            ['proxy', 'Outbound proxy'],
            ['p_port', 'Proxy port'],
            ['authid', 'Authentication id'],
          ] as [keyof UserObject, string][])
        : []),
    ];
    const inputs = editable.map(([key, label]) => ({ key, ...field(label, { name: key, value: String(user[key] ?? '') }) }));
    const update = changeForm(
      'Save the changes',
      async () => {
        const current = this.user as UserObject;
        const changes: Record<string, string> = {};
        for (const { key, input } of inputs) if (input.value !== String(current[key] ?? '')) changes[key] = input.value;
        if (Object.keys(changes).length === 0) {
          showNote(update.outcome, false, 'nothing was changed in the form, so nothing was sent.');
          return;
        }
        showWorking(update.outcome, `saving ${Object.keys(changes).join(', ')}.`);
        const answer = await call('user/update', { user: this.address, ...changes });
        const members = okMembers(answer);
        if (members !== null) {
          this.user = members.user as UserObject;
          fill(this.user);
        }
        showOutcome(update.outcome, answer, `saved ${Object.keys(changes).join(', ')} of ${this.address}.`);
      },
      ...inputs.map(({ wrapper }) => wrapper),
    );
    element.append(h('h4', {}, 'Change the details'), update.form);

    if (user.kind === 'local') {
      const email = field('E-mail', { name: 'email', type: 'email', value: user.email });
      const emailForm = changeForm(
        'Change the e-mail',
        async () => {
          showWorking(emailForm.outcome, 'changing the e-mail.');
          const answer = await call('user/change_email', { user: this.address, email: email.input.value });
          const members = okMembers(answer);
          if (members !== null) {
            this.user = { ...(this.user as UserObject), email: members.email as string };
            fill(this.user);
          }
          showOutcome(emailForm.outcome, answer, `the e-mail of ${this.address} is now ${email.input.value}.`);
        },
        email.wrapper,
      );
      element.append(h('h4', {}, 'E-mail'), emailForm.form);
    }

    const password = field('New SIP password', { name: 'password', class: 'secret', 'aria-describedby': 'password-hint' });
    const generate = button('Generate a password', () => {
      void busy(generate, async () => {
        const generated = await generatePassword();
        if ('password' in generated) {
          password.input.value = generated.password;
          showNote(passwordForm.outcome, true, 'a new password is in the field (not yet set): change the password to set it.');
        } else showOutcome(passwordForm.outcome, generated, '');
      });
    }, { className: 'secondary', change: true });
    const passwordForm = changeForm(
      'Change the password',
      async () => {
        showWorking(passwordForm.outcome, 'changing the password.');
        const answer = await call('user/change_pw', { user: this.address, password: password.input.value });
        const done = showOutcome(passwordForm.outcome, answer, `the password of ${this.address} is changed${this.user?.kind === 'local' ? ' on the PBX and in provisioning' : ''}.`);
        if (done) password.input.value = '';
      },
      password.wrapper,
      h('p', { id: 'password-hint', class: 'hint' }, '8 to 64 printable characters without spaces. It is not shown again once set.'),
      h('div', { class: 'row' }, generate),
    );
    element.append(h('h4', {}, 'Password'), passwordForm.form);
    return element;
  }

  // ---- phones ----

  private phonesSection(answer: Answer): HTMLElement {
    const { element, heading } = section('Phones');
    this.phonesHeading = heading;
    const members = okMembers(answer);
    if (members === null) element.append(readFailure('the phones', answer));
    else this.renderPhones(members.macs as string[]);
    element.append(this.phoneList, this.phoneOutcome);
    if (!this.context.canChange) return element;
    const mac = field('MAC address of a phone to add', { name: 'mac', 'aria-describedby': 'mac-hint' });
    const add = changeForm(
      'Add the phone',
      async () => {
        showWorking(add.outcome, `adding ${mac.input.value}.`);
        const added = await call('phone/add', { mac: mac.input.value.trim(), user: this.address });
        const members = okMembers(added);
        if (showOutcome(add.outcome, added, `phone ${String(members?.mac ?? '')} added to ${this.address}.`)) {
          mac.input.value = '';
          await this.refreshPhones();
        }
      },
      mac.wrapper,
      h('p', { id: 'mac-hint', class: 'hint' }, '12 hex digits, plain or in pairs with : or - (00:1A:2B:3C:4D:5E).'),
    );
    element.append(add.form);
    return element;
  }

  private renderPhones(macs: string[]): void {
    this.phones = macs;
    clear(this.phoneList);
    if (macs.length === 0) this.phoneList.append(h('li', {}, 'No phone.'));
    for (const mac of macs) {
      this.phoneList.append(
        h('li', {}, h('span', { class: 'mono' }, mac), this.context.canChange ? button('Remove', () => void this.removePhone(mac, this.phoneOutcome), { change: true, className: 'secondary', ariaLabel: `Remove phone ${mac}` }) : null),
      );
    }
  }

  private async refreshPhones(): Promise<void> {
    const answer = await call('phone/get', { user: this.address });
    const members = okMembers(answer);
    if (members !== null) this.renderPhones(members.macs as string[]);
  }

  private async removePhone(mac: string, outcome: HTMLElement): Promise<boolean> {
    showWorking(outcome, `removing phone ${mac}.`);
    const answer = await call('phone/remove', { mac, user: this.address });
    const done = showOutcome(outcome, answer, `phone ${mac} removed from ${this.address}.`);
    await this.refreshPhones();
    if (this.phonesHeading && outcome === this.phoneOutcome) focusOn(this.phonesHeading);
    return done;
  }

  // ---- aliases ----

  /** The domain new aliases go in: the user's own when it is local, else the first local domain. */
  private aliasDomain(): string {
    const domain = this.user?.domain ?? '';
    return this.context.localDomains.includes(domain) ? domain : (this.context.localDomains[0] ?? domain);
  }

  private aliasesSection(answer: Answer): HTMLElement {
    const { element, heading } = section('Aliases');
    this.aliasesHeading = heading;
    const members = okMembers(answer);
    if (members === null) element.append(readFailure('the aliases', answer));
    else this.renderAliases(members.aliases as Alias[]);
    element.append(this.aliasList, this.aliasOutcome);
    if (!this.context.canChange) return element;
    const domain = this.aliasDomain();
    const alias = field('Alias to add', { name: 'alias', 'aria-describedby': 'alias-hint' });
    const add = changeForm(
      'Add the alias',
      async () => {
        const text = alias.input.value.trim();
        const address = text.includes('@') || text === '' ? text : `${text}@${domain}`;
        showWorking(add.outcome, `adding ${address}.`);
        const added = await call('alias/add', { alias: address, destination: this.address });
        if (showOutcome(add.outcome, added, `${address} now points at ${this.address}.`)) {
          alias.input.value = '';
          await this.refreshAliases();
        }
      },
      alias.wrapper,
      h('p', { id: 'alias-hint', class: 'hint' }, `An address, or a username or E.164 number in ${domain}.`),
    );
    const take = button('Take a free number', () => void busy(take, () => this.takeFreeNumber(add.outcome)), { change: true, className: 'secondary' });
    add.form.insertBefore(h('div', { class: 'row' }, take), add.outcome);
    element.append(add.form);
    return element;
  }

  private renderAliases(aliases: Alias[]): void {
    this.aliases = aliasOrder(aliases);
    clear(this.aliasList);
    if (aliases.length === 0) this.aliasList.append(h('li', {}, 'No alias.'));
    for (const { alias } of this.aliases) {
      const e164 = E164.test(alias.split('@')[0]);
      this.aliasList.append(
        h(
          'li',
          {},
          h('span', { class: 'mono' }, alias),
          e164 ? h('span', { class: 'tag' }, 'E.164 number') : null,
          this.context.canChange ? button('Remove', () => void this.removeAlias(alias, this.aliasOutcome), { change: true, className: 'secondary', ariaLabel: `Remove alias ${alias}` }) : null,
        ),
      );
    }
  }

  private async refreshAliases(): Promise<void> {
    const answer = await call('alias/list', { destination: this.address });
    const members = okMembers(answer);
    if (members !== null) this.renderAliases(members.aliases as Alias[]);
  }

  private async removeAlias(alias: string, outcome: HTMLElement): Promise<boolean> {
    showWorking(outcome, `removing alias ${alias}.`);
    const answer = await call('alias/remove', { alias });
    const number = alias.split('@')[0];
    // A number taken from the pool may go back to it; the operator decides.
    const giveBack =
      answer.envelope.response === 'ok' && E164.test(number)
        ? button(`Put ${number} back in the number pool`, () => {
            void busy(giveBack, async () => {
              const added = await call('numbers/add', { number });
              showOutcome(outcome, added, `${number} is back in the number pool.`);
            });
          }, { change: true, className: 'secondary' })
        : null;
    const done = showOutcome(outcome, answer, `alias ${alias} removed. `, giveBack ?? undefined);
    await this.refreshAliases();
    if (this.aliasesHeading && outcome === this.aliasOutcome) focusOn(this.aliasesHeading);
    return done;
  }

  /**
   * "Take a free number": a random number from the pool (numbers/list random=true limit=1) becomes
   * the user's E.164 alias (alias/add), and is then pulled from the pool (numbers/remove), since it is
   * no longer free. Two operators who draw the same number at once: alias/add lets one have it.
   */
  private async takeFreeNumber(outcome: HTMLElement): Promise<void> {
    showWorking(outcome, 'drawing a free number from the pool.');
    const drawn = await call('numbers/list', { random: true, limit: 1 });
    const members = okMembers(drawn);
    if (members === null) {
      showOutcome(outcome, drawn, '');
      return;
    }
    const number = (members.numbers as string[])[0];
    if (number === undefined) {
      showNote(outcome, false, 'the number pool has no free number; add a range under Number pool.');
      return;
    }
    const alias = `${number}@${this.aliasDomain()}`;
    showWorking(outcome, `adding ${alias}.`);
    const added = await call('alias/add', { alias, destination: this.address });
    if (added.envelope.response !== 'ok') {
      showOutcome(outcome, added, '');
      return;
    }
    const pulled = await call('numbers/remove', { number });
    await this.refreshAliases();
    if (pulled.envelope.response === 'ok') showNote(outcome, true, `took ${number} from the pool: ${alias} now points at ${this.address}.`);
    else showNote(outcome, true, `${alias} now points at ${this.address}; pulling ${number} from the pool did not succeed (${pulled.envelope.response}), check the pool.`);
  }

  // ---- permissions ----

  private permissionsSection(answer: Answer): HTMLElement {
    const { element } = section('Permissions');
    const members = okMembers(answer);
    if (members === null) element.append(readFailure('the permissions', answer));
    else this.renderPermissions(members.permissions as string[]);
    element.append(this.permissionList, this.permissionOutcome);
    if (!this.context.canChange) return element;
    const names = field('Permissions to grant', { name: 'grant', 'aria-describedby': 'grant-hint' });
    const grant = changeForm(
      'Grant',
      async () => {
        showWorking(grant.outcome, `granting ${names.input.value}.`);
        const answer = await call('user/change_permissions', { user: this.address, grant: names.input.value });
        const members = okMembers(answer);
        if (members !== null) {
          this.renderPermissions(members.permissions as string[]);
          names.input.value = '';
        }
        showOutcome(grant.outcome, answer, `${this.address} now holds ${((members?.permissions as string[] | undefined) ?? []).join(', ') || 'no permission'}.`);
      },
      names.wrapper,
      h('p', { id: 'grant-hint', class: 'hint' }, 'Names from the gateway’s PERMISSIONS, separated by commas (e.g. local, ld).'),
    );
    element.append(grant.form);
    return element;
  }

  private renderPermissions(names: string[]): void {
    clear(this.permissionList);
    if (names.length === 0) this.permissionList.append(h('li', {}, 'No permission.'));
    for (const name of names) {
      const revoke = this.context.canChange
        ? button('Revoke', () => {
            void busy(revoke, async () => {
              showWorking(this.permissionOutcome, `revoking ${name}.`);
              const answer = await call('user/change_permissions', { user: this.address, revoke: name });
              const members = okMembers(answer);
              if (members !== null) this.renderPermissions(members.permissions as string[]);
              showOutcome(this.permissionOutcome, answer, `${name} revoked from ${this.address}.`);
            });
          }, { change: true, className: 'secondary', ariaLabel: `Revoke ${name}` })
        : null;
      this.permissionList.append(h('li', {}, h('span', { class: 'mono' }, name), revoke));
    }
  }

  // ---- call forwards, as the PBX has them ----

  private forwardsSection(user: UserObject): { element: HTMLElement; load: () => Promise<void> } {
    const { element } = section('Call forwards');
    if (user.kind === 'remote') {
      element.append(h('p', {}, 'A remote user has no forwards here: its calls are not on this PBX.'));
      return { element, load: async () => undefined };
    }
    if (!this.context.canChange) {
      element.append(h('p', {}, 'Reading the forwards needs a token with scope write (user/forward reads them from the PBX).'));
      return { element, load: async () => undefined };
    }
    const shown = h('dl', { class: 'fields' });
    const status = h('p', { class: 'outcome working' }, h('span', { class: 'word' }, 'Working:'), ' asking the PBX.');
    const inputs = FORWARDS.map(([key, label]) => ({ key, ...field(`${label}: forward to`, { name: key, inputmode: 'tel' }) }));
    let current: Forward | null = null;
    const fill = (forward: Forward) => {
      current = forward;
      clear(shown);
      for (const [key, label] of FORWARDS) shown.append(h('dt', {}, label), h('dd', {}, forward[key] === '' ? 'not forwarded' : forward[key]));
      for (const { key, input } of inputs) input.value = forward[key];
    };
    const save = changeForm(
      'Save the forwards',
      async () => {
        if (current === null) return;
        const changes: Params = Object.fromEntries(inputs.filter(({ key, input }) => input.value.trim() !== (current as Forward)[key]).map(({ key, input }) => [key, input.value.trim()]));
        if (Object.keys(changes).length === 0) {
          showNote(save.outcome, false, 'no forward was changed in the form, so nothing was sent.');
          return;
        }
        showWorking(save.outcome, 'setting the forwards on the PBX.');
        const answer = await call('user/forward', { user: this.address, ...changes });
        const members = okMembers(answer);
        if (members !== null) fill(members.forward as Forward);
        showOutcome(save.outcome, answer, 'the PBX now has the forwards shown above.');
      },
      h('p', { class: 'hint' }, 'A number (+ and up to 20 digits); empty clears that forward.'),
      ...inputs.map(({ wrapper }) => wrapper),
    );
    element.append(h('p', {}, 'As the PBX has them now:'), shown, status, save.form);
    const load = async () => {
      const answer = await call('user/forward', { user: this.address });
      const members = okMembers(answer);
      if (members === null) status.replaceWith(readFailure('the forwards from the PBX', answer));
      else {
        status.remove();
        fill(members.forward as Forward);
      }
    };
    return { element, load };
  }

  // ---- audit (admin) ----

  private auditSection(): { element: HTMLElement; load: (after: number | null) => Promise<void> } {
    const { element } = section('Recent changes (audit trail)');
    const body = h('tbody');
    const table = h(
      'table',
      {},
      h('caption', {}, `Changes and refused changes about ${this.address}, newest first`),
      h('thead', {}, h('tr', {}, ...['Time (UTC)', 'Node', 'Outcome', 'Token', 'Parameters'].map((title) => h('th', { scope: 'col' }, title)))),
      body,
    );
    const more = h('div', { class: 'row' });
    const status = h('p', { class: 'progress' }, 'Reading the audit trail.');
    element.append(status, table, more);
    const load = async (after: number | null): Promise<void> => {
      const answer = await call('audit/list', { user: this.address, limit: 10, after: after ?? undefined });
      const members = okMembers(answer);
      if (members === null) {
        status.replaceWith(readFailure('the audit trail', answer));
        return;
      }
      const entries = members.entries as AuditEntry[];
      status.textContent = after === null && entries.length === 0 ? 'No entry yet.' : '';
      for (const entry of entries) {
        const params = Object.entries(entry.params)
          .filter(([name]) => name !== 'user')
          .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
          .join(', ');
        body.append(
          h(
            'tr',
            {},
            h('td', {}, entry.time.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')),
            h('td', { class: 'mono' }, entry.node),
            h('td', {}, entry.cause ? `${entry.response} (${entry.cause})` : entry.response),
            h('td', {}, entry.token ?? '(none)'),
            h('td', {}, params || (entry.node === 'user/forward' ? '(read the forwards)' : '')),
          ),
        );
      }
      clear(more);
      const next = members.next as number | undefined;
      if (next !== undefined) {
        const older = button('Show older entries', () => void busy(older, () => load(next)), { className: 'secondary' });
        more.append(older);
      }
    };
    return { element, load };
  }

  // ---- removing the user ----

  private removeSection(): HTMLElement {
    const outcome = outcomeRegion();
    const confirmArea = h('div');
    const start = button(`Remove ${this.address}…`, () => {
      clear(confirmArea);
      const yes = button(`Yes, remove ${this.address}`, () => void busy(yes, () => this.removeUser(outcome, confirmArea)), { change: true, className: 'danger' });
      const no = button('No, keep it', () => {
        clear(confirmArea);
        start.focus();
      }, { className: 'secondary' });
      confirmArea.append(
        h(
          'div',
          { class: 'confirm', role: 'group', 'aria-label': 'Confirm the removal' },
          h('p', {}, `Remove ${this.address} for good?${this.user?.kind === 'local' ? ' Its extension on the PBX goes with it.' : ''} Its permissions go with it.`),
          h('div', { class: 'row' }, yes, no),
        ),
      );
      yes.focus();
    }, { change: true, className: 'danger' });
    const { element } = section('Remove the user', h('div', { class: 'row' }, start), confirmArea, outcome);
    return element;
  }

  private async removeUser(outcome: HTMLElement, confirmArea: HTMLElement): Promise<void> {
    showWorking(outcome, `removing ${this.address}.`);
    const answer = await call('user/remove', { user: this.address });
    clear(confirmArea);
    if (answer.envelope.response === 'ok') {
      const address = this.address;
      this.generation += 1;
      clear(this.panel);
      const heading = h('h2', {}, `${address} is removed`);
      const gone = outcomeRegion();
      this.panel.append(heading, gone, h('p', {}, h('a', { href: '#/users' }, 'Back to the search')));
      focusOn(heading);
      showOutcome(gone, answer, `${address} removed${this.user?.kind === 'local' ? ', with its extension on the PBX' : ''}.`);
      return;
    }
    if (answer.envelope.response === 'failed' && answer.envelope.cause === 'inuse') {
      await Promise.all([this.refreshPhones(), this.refreshAliases()]);
      showOutcome(outcome, answer, '', this.pointingAt(outcome));
      return;
    }
    showOutcome(outcome, answer, '');
  }

  /** What still points at the user, each with its own remove button. */
  private pointingAt(outcome: HTMLElement): HTMLElement {
    const list = h('ul', { class: 'items', 'aria-label': `What still points at ${this.address}` });
    const item = (text: string, remove: (region: HTMLElement) => Promise<boolean>, label: string) => {
      const region = h('span', { role: 'status' });
      const control = button('Remove', () => {
        void busy(control, async () => {
          if (await remove(region)) {
            control.remove();
            // Focus to the next remove button of the list, or to the user's remove button.
            const next = list.querySelector<HTMLButtonElement>('button');
            if (next) next.focus();
            else outcome.closest('section')?.querySelector<HTMLButtonElement>('button')?.focus();
          }
        });
      }, { change: true, className: 'secondary', ariaLabel: label });
      list.append(h('li', {}, text, control, region));
    };
    for (const mac of this.phones) item(`phone ${mac}`, (region) => this.removePhone(mac, region), `Remove phone ${mac}`);
    for (const { alias } of this.aliases) item(`alias ${alias}`, (region) => this.removeAlias(alias, region), `Remove alias ${alias}`);
    return h('div', {}, h('p', {}, `Still pointing at ${this.address}:`), list);
  }
}
