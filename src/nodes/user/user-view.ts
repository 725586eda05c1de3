import type { UserRecord } from './user-store';

/** The user object of CONTRACT section 5: never a password, no hardphones. */
export function userView(user: UserRecord): Record<string, unknown> {
  const view: Record<string, unknown> = {
    user: `${user.username}@${user.domain}`,
    username: user.username,
    domain: user.domain,
    kind: user.kind,
    displayname: user.displayname,
    email: user.kind === 'remote' ? '' : user.email,
    dialplan: user.dialplan,
    linetext: user.linetext,
  };
  if (user.remote) Object.assign(view, user.remote);
  return view;
}
