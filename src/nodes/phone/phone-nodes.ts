import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { Invalid } from '../../outcome';
import { globToLike } from '../../values/glob';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { PhoneService } from './phone-service';

interface PhoneParams {
  mac: string;
  user: SipAddress;
  dry_run?: boolean;
}

export function phoneNodes(phones: PhoneService): NodeDefinition[] {
  return [
    defineNode<{ mac?: string; user?: SipAddress }>({
      path: 'phone/get',
      scope: 'read',
      summary: 'With mac: the addresses on that phone; with a user: that user’s phones.',
      userForm: 'optional',
      params: { mac: param.mac() },
      answers: { users: 'with mac: the addresses on that phone', macs: "with a user: that user's MAC addresses" },
      handle: async ({ mac, user }) => {
        if ((mac === undefined) === (user === undefined)) throw new Invalid('mac', 'give mac, or a user, but not both');
        if (mac !== undefined) return { users: await phones.usersOf(mac) };
        return { macs: await phones.macsOf(user as SipAddress) };
      },
    }),
    defineNode<{ search?: string }>({
      path: 'phone/list',
      longWork: true,
      scope: 'read',
      summary: 'The MAC addresses with associations, ordered; search is a glob matched anywhere.',
      params: { search: param.search() },
      answers: { macs: 'Array of MAC addresses (12 lower-case hex digits).' },
      handle: async ({ search }) => ({ macs: await phones.list(search === undefined ? null : globToLike(search.toLowerCase())) }),
    }),
    defineNode<PhoneParams>({
      path: 'phone/add',
      scope: 'write',
      summary: 'Associates a hardphone (MAC) with a user, local or remote.',
      userForm: 'required',
      params: { mac: param.mac().required(), dry_run: param.dryRun() },
      answers: { mac: 'The canonical MAC.', user: 'The address.', dry_run: 'true when nothing was changed' },
      failures: { nonexistant: 'no such user', exists: 'the association exists' },
      handle: async ({ mac, user, dry_run: dryRun = false }, { audit }) => {
        await phones.add(mac, user, dryRun, audit);
        return { mac, user: formatSipAddress(user), ...(dryRun ? { dry_run: true } : {}) };
      },
    }),
    defineNode<PhoneParams>({
      path: 'phone/remove',
      scope: 'write',
      summary: 'Removes a hardphone association.',
      userForm: 'required',
      params: { mac: param.mac().required() },
      answers: { mac: 'The canonical MAC.', user: 'The address.' },
      failures: { nonexistant: 'no such association' },
      handle: async ({ mac, user }, { audit }) => {
        await phones.remove(mac, user, audit);
        return { mac, user: formatSipAddress(user) };
      },
    }),
  ];
}
