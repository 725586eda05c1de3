import Joi from 'joi';
import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { Invalid } from '../../outcome';
import { formatSipAddress, parseSipAddress, type SipAddress } from '../../values/sip-address';
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
  alias: Joi.string().allow('').description('The alias as username@domain (or give alias_username and alias_domain).'),
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
    defineNode<{ destination?: SipAddress; alias?: SipAddress; e164?: boolean }>({
      path: 'alias/list',
      longWork: true,
      scope: 'read',
      summary: 'All aliases, those of one destination (only its E.164 alias with e164=true), or one alias address.',
      params: {
        destination: param.sipAddress().description('List the aliases pointing at this address.'),
        alias: param.sipAddress().description('Look up this alias address.'),
        e164: param.flag('true: only E.164 aliases (not with alias).'),
      },
      answers: { aliases: 'Array of {alias, destination}; empty when nothing matches.' },
      handle: async ({ destination, alias, e164 = false }) => {
        if (alias !== undefined && destination !== undefined) throw new Invalid('alias', 'give destination or alias, not both');
        if (alias !== undefined) {
          if (e164) throw new Invalid('e164', 'e164 does not apply to an alias lookup');
          return { aliases: await aliases.list({ alias }) };
        }
        if (destination !== undefined) return { aliases: await aliases.list({ destination, e164Only: e164 }) };
        return { aliases: await aliases.list({ e164Only: e164 }) };
      },
    }),
    defineNode<AliasForm & { destination: SipAddress; dry_run?: boolean }>({
      path: 'alias/add',
      scope: 'write',
      summary: 'Adds an alias in a local domain pointing at a destination address.',
      params: { ...aliasFormKeys, destination: param.sipAddress().required(), dry_run: param.dryRun() },
      answers: { alias: 'The alias address.', destination: 'The destination address.', dry_run: 'true when nothing was changed' },
      failures: {
        nxdomain: 'the alias domain is not local',
        nonexistant: 'the destination is in a local domain and has no user',
        exists: 'the alias is taken by an alias or a user, or the destination has an E.164 alias already',
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
      answers: { alias: 'The removed alias address.' },
      failures: { address: 'invalid: the alias is missing or malformed', nonexistant: 'no such alias' },
      handle: async (form, { audit }) => {
        const alias = resolveAlias(form, 'address');
        await aliases.remove(alias, audit);
        return { alias: formatSipAddress(alias) };
      },
    }),
  ];
}
