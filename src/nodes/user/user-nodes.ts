import { defineNode, PlainText, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer, optional } from '../../http/answer-schemas';
import { generatePassword } from '../../values/password';
import { globToLike } from '../../values/glob';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { ForwardChanges } from './local-user-service';
import type { UserService, UserUpdate } from './user-service';
import { userView } from './user-view';
import { pageAnswer, readsWholeList } from '../paging';

type WithUser<T = object> = T & { user: SipAddress };

// No examples: the docs page fills them in, and user/update of a local user refuses them.
const remoteSettings = {
  registrar: param.host(null).description('The remote registrar host.'),
  r_port: param.port(),
  proxy: param.host(null).allow('').description('The outbound proxy host (empty for none).'),
  p_port: param.port(),
  authid: param.username(null).description('The authentication id (defaults to the username).'),
};

export function userNodes(users: UserService): NodeDefinition[] {
  return [
    defineNode<WithUser>({
      path: 'user/get',
      scope: 'read',
      summary: 'One user, without hardphone associations.',
      userForm: 'required',
      params: {},
      answers: { user: answer.user },
      failures: { nonexistant: 'no such user' },
      handle: async ({ user }) => ({ user: userView(await users.get(user)) }),
    }),
    defineNode<{ search?: string; name?: string; limit?: number; after?: SipAddress }>({
      path: 'user/list',
      longWork: readsWholeList,
      scope: 'read',
      summary: 'Users as {user, displayname}, ordered by address; search is a glob matched anywhere in the address, name one in the display name.',
      params: {
        search: param.search(),
        name: param
          .search()
          .description("A glob matched anywhere in the display name, in any case and ignoring accents ('*' any run, '?' one character); with search, both must match."),
        limit: param.limit().description('A page of at most this many users (1–100000); the answer carries next while more follow.'),
        after: param.sipAddress(null).description('Only the users after this address in the list’s order: the next of the previous page.'),
      },
      answers: { users: answer.userEntries('The users, ordered by address.'), next: answer.next(answer.sipAddress('The address to give as after for the following page.')) },
      handle: async ({ search, name, limit, after }) => {
        const page = { limit: limit ?? null, after: after === undefined ? null : formatSipAddress(after) };
        const like = { address: search === undefined ? null : globToLike(search), displayname: name === undefined ? null : globToLike(name) };
        return pageAnswer('users', await users.list(like, page));
      },
    }),
    defineNode<WithUser<{ displayname: string; email?: string; dry_run?: boolean }>>({
      path: 'user/add_local',
      scope: 'write',
      summary: 'Adds a user in a local domain: the extension on the PBX and the provisioning record, together or not at all.',
      description: 'The username is the PBX extension number (2–15 digits). The password is generated and answered this once.',
      userForm: 'required',
      params: { displayname: param.displayname().required(), email: param.email(), dry_run: param.dryRun() },
      answers: {
        user: answer.user,
        password: optional(answer.generatedPassword('The generated SIP password (the only time it is shown); not with dry_run.')),
        dry_run: answer.dryRun,
      },
      failures: {
        exists: 'the address is taken by a user or an alias, or the extension exists on the PBX',
        domain: 'the domain is not local',
        pbx: 'the PBX refused (detail carries its message)',
        user: { invalid: 'the username is not an extension number (2–15 digits)' },
      },
      handle: async ({ dry_run: dryRun = false, ...request }, { audit }) => {
        const { user, password } = await users.addLocal(request, dryRun, audit);
        return dryRun ? { user: userView(user), dry_run: true } : { user: userView(user), password };
      },
    }),
    defineNode<WithUser<{ password: string; displayname: string; dry_run?: boolean } & UserUpdate>>({
      path: 'user/add_remote',
      scope: 'write',
      summary: 'Adds a provisioning record for a SIP account hosted elsewhere (never sent to the PBX).',
      description:
        "registrar, r_port, proxy and p_port left out take the user's domain's server defaults (domains/add, domains/update) " +
        'where it has them, then r_port and p_port 5060 and no proxy; registrar is needed from one or the other.',
      userForm: 'required',
      params: {
        password: param.password().required(),
        displayname: param.displayname().required(),
        ...remoteSettings,
        registrar: remoteSettings.registrar.example('sip.example.com'),
        dialplan: param.dialplan(),
        linetext: param.linetext(),
        dry_run: param.dryRun(),
      },
      answers: { user: answer.user, dry_run: answer.dryRun },
      failures: {
        registrar: { invalid: "neither the request nor the user's domain gives a registrar" },
        exists: 'the address is taken by a user or an alias',
        domain: 'the domain is local',
      },
      handle: async ({ dry_run: dryRun = false, ...request }, { audit }) => {
        const added = await users.addRemote(request, dryRun, audit);
        return { user: userView(added), ...(dryRun ? { dry_run: true } : {}) };
      },
    }),
    defineNode<WithUser<{ password: string }>>({
      path: 'user/change_pw',
      scope: 'write',
      summary: "Changes the user's SIP password (setting the same one again is ok).",
      userForm: 'required',
      params: { password: param.password().required() },
      answers: { detail: answer.text('What was done, in words.') },
      failures: { nonexistant: 'no such user', pbx: 'the PBX refused, or the extension is not on the PBX' },
      handle: async ({ user, password }, { audit }) => {
        await users.changePassword(user, password, audit);
        return { detail: `Password changed for ${user.username}@${user.domain}` };
      },
    }),
    defineNode<WithUser<{ email: string }>>({
      path: 'user/change_email',
      scope: 'write',
      summary: "Changes a local user's e-mail address, on the PBX and in provisioning.",
      userForm: 'required',
      params: { email: param.email().required() },
      answers: { user: answer.sipAddress('The address.'), email: answer.text('The e-mail address now set.') },
      failures: { nonexistant: 'no such user', domain: 'a remote user', pbx: 'the PBX refused, or the extension is not on the PBX' },
      handle: async ({ user, email }, { audit }) => {
        await users.changeEmail(user, email, audit);
        return { user: formatSipAddress(user), email };
      },
    }),
    defineNode<WithUser<ForwardChanges>>({
      path: 'user/forward',
      scope: 'write',
      summary: "Reads a local user's call-forward policy, or sets any of busy, no_answer, unavailable, all (the others are kept).",
      description: 'With no forward parameter it only reads. An empty value clears that forward.',
      userForm: 'required',
      params: {
        busy: param.forwardTarget().allow(''),
        no_answer: param.forwardTarget().allow(''),
        unavailable: param.forwardTarget().allow(''),
        all: param.forwardTarget().allow(''),
      },
      answers: { user: answer.sipAddress('The address.'), forward: answer.forward },
      failures: { nonexistant: 'no such user', domain: 'a remote user', pbx: 'the PBX refused, or the extension is not on the PBX' },
      handle: async ({ user, ...changes }, { audit }) => ({ user: formatSipAddress(user), forward: await users.forward(user, changes, audit) }),
    }),
    defineNode<WithUser<UserUpdate>>({
      path: 'user/update',
      scope: 'write',
      summary: 'Changes any of the given fields; e-mail is for local users, server settings for remote users.',
      userForm: 'required',
      params: {
        displayname: param.displayname(),
        email: param.email(),
        dialplan: param.dialplan(),
        linetext: param.linetext(),
        ...remoteSettings,
      },
      answers: { user: answer.user },
      failures: {
        nonexistant: 'no such user',
        domain: 'a field that does not apply to this kind of user',
        pbx: 'the PBX refused, or the extension is not on the PBX',
        parameters: { invalid: 'no field given' },
      },
      handle: async ({ user, ...changes }, { audit }) => ({ user: userView(await users.update(user, changes, audit)) }),
    }),
    defineNode<WithUser>({
      path: 'user/remove',
      scope: 'write',
      summary: 'Removes the user (refused while hardphones or aliases point at it).',
      userForm: 'required',
      params: {},
      answers: { user: answer.sipAddress('The removed address.') },
      failures: { nonexistant: 'no such user', inuse: 'hardphones or aliases point at the user', pbx: 'the PBX refused' },
      handle: async ({ user }, { audit }) => {
        await users.remove(user, audit);
        return { user: `${user.username}@${user.domain}` };
      },
    }),
    defineNode<WithUser>({
      path: 'user/available',
      scope: 'read',
      summary: 'Whether an address is free: ok with cause nonexistant when it is.',
      userForm: 'required',
      params: {},
      answers: { cause: answer.keyword('nonexistant', 'The address is free.') },
      failures: { exists: 'a user or an alias has the address, or in a local domain a PBX extension', pbx: 'the PBX refused the look-up' },
      handle: async ({ user }) => {
        await users.available(user);
        return { cause: 'nonexistant' };
      },
    }),
    defineNode({
      path: 'user/genpw',
      scope: 'read',
      summary: 'A fresh password as text/plain: 12 letters and digits without look-alikes, from a cryptographic source.',
      params: {},
      plainText: true,
      answers: {},
      handle: async () => new PlainText(generatePassword()),
    }),
  ];
}
