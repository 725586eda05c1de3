import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer, optional } from '../../http/answer-schemas';
import { Invalid } from '../../outcome';
import { globToLike } from '../../values/glob';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import { pageAnswer, readsWholeList } from '../paging';
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
      answers: {
        users: optional(answer.sipAddresses('With mac: the addresses on that phone; empty when none.')),
        macs: optional(answer.macs("With a user: that user's phones; empty when none.")),
      },
      failures: { mac: { invalid: 'neither or both of mac and a user given' } },
      handle: async ({ mac, user }) => {
        if ((mac === undefined) === (user === undefined)) throw new Invalid('mac', 'give mac, or a user, but not both');
        if (mac !== undefined) return { users: await phones.usersOf(mac) };
        return { macs: await phones.macsOf(user as SipAddress) };
      },
    }),
    defineNode<{ search?: string; limit?: number; after?: string }>({
      path: 'phone/list',
      longWork: readsWholeList,
      scope: 'read',
      summary: 'The MAC addresses with associations, ordered; search is a glob matched anywhere.',
      params: {
        search: param.search(),
        limit: param.limit().description('A page of at most this many MACs (1–100000); the answer carries next while more follow.'),
        after: param.mac(null).description('Only the MACs after this one in the list’s order: the next of the previous page.'),
      },
      answers: { macs: answer.macs('The MACs with associations, ordered.'), next: answer.next(answer.mac('The MAC to give as after for the following page.')) },
      handle: async ({ search, limit, after }) => {
        const like = search === undefined ? null : globToLike(search.toLowerCase());
        return pageAnswer('macs', await phones.list(like, { limit: limit ?? null, after: after ?? null }));
      },
    }),
    defineNode<PhoneParams>({
      path: 'phone/add',
      scope: 'write',
      summary: 'Associates a hardphone (MAC) with a user, local or remote.',
      userForm: 'required',
      params: { mac: param.mac().required(), dry_run: param.dryRun() },
      answers: { mac: answer.mac('The MAC.'), user: answer.sipAddress('The address.'), dry_run: answer.dryRun },
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
      answers: { mac: answer.mac('The MAC.'), user: answer.sipAddress('The address.') },
      failures: { nonexistant: 'no such association' },
      handle: async ({ mac, user }, { audit }) => {
        await phones.remove(mac, user, audit);
        return { mac, user: formatSipAddress(user) };
      },
    }),
  ];
}
