import Joi from 'joi';
import { PERMISSION_NAME } from '../../config';
import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer, type Schema } from '../../http/answer-schemas';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { PermissionChange, PermissionService } from './permission-service';

/** A comma-separated list of permission names, parsed once here; whether each is in PERMISSIONS is the service's check. */
function permissionNames(what: string, example?: string): Joi.StringSchema {
  // An empty list (set= clears) is turned into ',' while converting: an allowed '' would skip the
  // custom step and reach the service as a string.
  const schema = Joi.string()
    .replace(/^$/, ',')
    .max(4096)
    .custom((value: string) => [...new Set(value.split(',').map((name) => name.trim()).filter((name) => name !== ''))])
    .description(`${what} (comma-separated names from PERMISSIONS).`);
  // An example on grant only: the docs page fills in every example, and set with grant is refused.
  return example === undefined ? schema : schema.example(example);
}

const names = (description: string): Schema => ({
  type: 'array',
  description,
  items: answer.text('A name from PERMISSIONS.', { pattern: PERMISSION_NAME.source, example: 'local' }),
});

export function permissionNodes(permissions: PermissionService): NodeDefinition[] {
  return [
    defineNode<{ user: SipAddress }>({
      path: 'user/permissions',
      scope: 'read',
      summary: "The user's permissions: group memberships as Kamailio's group module reads them (the grp view).",
      userForm: 'required',
      params: {},
      answers: { user: answer.sipAddress('The address.'), permissions: names('The names the user holds, sorted.') },
      failures: { nonexistant: 'no such user' },
      handle: async ({ user }) => ({ user: formatSipAddress(user), permissions: await permissions.get(user) }),
    }),
    defineNode<{ user: SipAddress; dry_run?: boolean } & PermissionChange>({
      path: 'user/change_permissions',
      scope: 'write',
      summary: 'Grants and/or revokes permissions, or sets the whole set; in MySQL only (the PBX is not told).',
      description:
        'Give grant and/or revoke, or set alone (empty clears). Granting a name held, or revoking one not held, is ok. ' +
        'A Kamailio proxy reading the grp view sees the change on its next is_user_in() check.',
      userForm: 'required',
      params: {
        grant: permissionNames('Names to grant', 'local,ld'),
        revoke: permissionNames('Names to revoke'),
        set: permissionNames('The whole set of names (empty clears it); not with grant or revoke'),
        dry_run: param.dryRun(),
      },
      answers: {
        user: answer.sipAddress('The address.'),
        permissions: names('The names the user now holds (with dry_run: would hold), sorted.'),
        dry_run: answer.dryRun,
      },
      failures: {
        grant: { invalid: 'a name not in PERMISSIONS' },
        revoke: { invalid: 'a name not in PERMISSIONS, or one also granted' },
        set: { invalid: 'a name not in PERMISSIONS, or set given with grant or revoke' },
        parameters: { invalid: 'none of grant, revoke, set given' },
        nonexistant: 'no such user',
      },
      handle: async ({ user, dry_run: dryRun = false, ...change }, { audit }) => {
        const held = await permissions.change(user, change, dryRun, audit);
        return { user: formatSipAddress(user), permissions: held, ...(dryRun ? { dry_run: true } : {}) };
      },
    }),
  ];
}
