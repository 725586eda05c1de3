import Joi from 'joi';
import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer } from '../../http/answer-schemas';
import { Invalid } from '../../outcome';
import { formatSipAddress, parseSipAddress, type SipAddress } from '../../values/sip-address';
import { pageAnswer, readsWholeList } from '../paging';
import type { AliasService } from './alias-service';

interface AliasForm {
  alias?: string;
  alias_username?: string;
  alias_domain?: string;
}

// The alias forms are checked here rather than by the schema, because the contract names the
// cause per node: `alias` for alias/add, `address` for alias/remove. So the schema only asks for
// strings: an empty or overlong value is malformed and gets that cause from resolveAlias too.
const aliasFormKeys = {
  alias: Joi.string().allow('').description('The alias as username@domain (or give alias_username and alias_domain).').example('sales@pbx.local'),
  alias_username: Joi.string().allow('').description('The alias username, with alias_domain.'),
  alias_domain: Joi.string().allow('').description('The alias domain, with alias_username.'),
};

// username (64) + '@' + domain (253)
const MAX_ADDRESS = 318;

function resolveAlias(form: AliasForm, cause: string): SipAddress {
  const { alias, alias_username: username, alias_domain: domain } = form;
  const separate = username !== undefined || domain !== undefined;
  if (alias !== undefined && separate) throw new Invalid(cause, 'give either alias or alias_username and alias_domain, not both');
  if (alias === undefined && !separate) throw new Invalid(cause, 'give alias, or alias_username and alias_domain');
  const text = alias ?? `${username ?? ''}@${domain ?? ''}`;
  const parsed = text.length <= MAX_ADDRESS ? parseSipAddress(text) : null;
  if (!parsed) {
    const shown = text.length <= MAX_ADDRESS ? text : `${text.slice(0, 64)}…`;
    throw new Invalid(cause, `${shown} is not a SIP address username@domain`);
  }
  return parsed;
}

export function aliasNodes(aliases: AliasService): NodeDefinition[] {
  return [
    defineNode<{ destination?: SipAddress; alias?: SipAddress; e164?: boolean; limit?: number; after?: SipAddress }>({
      path: 'alias/list',
      // One alias, or one destination's, is a key lookup; only the whole list unpaged is long.
      longWork: (params) => readsWholeList(params) && params.alias === undefined && params.destination === undefined,
      scope: 'read',
      summary: 'All aliases, those of one destination (only its E.164 alias with e164=true), or one alias address.',
      params: {
        destination: param.sipAddress().description('List the aliases pointing at this address.'),
        alias: param.sipAddress(null).description('Look up this alias address.'),
        e164: param.flag('true: only E.164 aliases (not with alias).'),
        limit: param.limit().description('A page of at most this many aliases (1–100000); the answer carries next while more follow.'),
        after: param.sipAddress(null).description('Only the aliases after this alias address in the list’s order: the next of the previous page.'),
      },
      answers: {
        aliases: answer.aliases('The aliases, ordered by alias address; empty when nothing matches.'),
        next: answer.next(answer.sipAddress('The alias address to give as after for the following page.')),
      },
      failures: { alias: { invalid: 'alias together with destination' }, e164: { invalid: 'e164 together with alias' } },
      handle: async ({ destination, alias, e164 = false, limit, after }) => {
        if (alias !== undefined && destination !== undefined) throw new Invalid('alias', 'give destination or alias, not both');
        if (alias !== undefined && e164) throw new Invalid('e164', 'e164 does not apply to an alias lookup');
        const filter = alias !== undefined ? { alias } : destination !== undefined ? { destination, e164Only: e164 } : { e164Only: e164 };
        return pageAnswer('aliases', await aliases.list(filter, { limit: limit ?? null, after: after ?? null }));
      },
    }),
    defineNode<AliasForm & { destination: SipAddress; dry_run?: boolean }>({
      path: 'alias/add',
      scope: 'write',
      summary: 'Adds an alias in a local domain pointing at a destination address.',
      params: { ...aliasFormKeys, destination: param.sipAddress().required(), dry_run: param.dryRun() },
      answers: { alias: answer.sipAddress('The alias address.'), destination: answer.sipAddress('The destination address.'), dry_run: answer.dryRun },
      failures: {
        nxdomain: 'the alias domain is not local',
        nonexistant: 'the destination is in a local domain and has no user',
        exists: 'the alias is taken by an alias or a user, or the destination has an E.164 alias already',
        alias: { invalid: 'the alias is missing or malformed, or given in both forms' },
      },
      handle: async ({ destination, dry_run: dryRun = false, ...form }, { audit }) => {
        const alias = resolveAlias(form, 'alias');
        await aliases.add(alias, destination, dryRun, audit);
        return { alias: formatSipAddress(alias), destination: formatSipAddress(destination), ...(dryRun ? { dry_run: true } : {}) };
      },
    }),
    defineNode<AliasForm>({
      path: 'alias/remove',
      scope: 'write',
      summary: 'Removes an alias.',
      params: aliasFormKeys,
      answers: { alias: answer.sipAddress('The removed alias address.') },
      failures: { nonexistant: 'no such alias', address: { invalid: 'the alias is missing or malformed, in either form' } },
      handle: async (form, { audit }) => {
        const alias = resolveAlias(form, 'address');
        await aliases.remove(alias, audit);
        return { alias: formatSipAddress(alias) };
      },
    }),
  ];
}
