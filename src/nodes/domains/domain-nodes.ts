import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer } from '../../http/answer-schemas';
import type { DomainChanges, DomainService } from './domain-service';

const settings = {
  local: param.flag('true: the SIP accounts of this domain live on the PBX.'),
  registrar: param.host().allow('').description('Default registrar host for the domain.'),
  proxy: param.host().allow('').description('Default proxy host for the domain.'),
  r_port: param.port(),
  p_port: param.port(),
};

export function domainNodes(domains: DomainService): NodeDefinition[] {
  return [
    defineNode({
      path: 'domains/list',
      scope: 'read',
      summary: 'The known domains and their server defaults.',
      params: {},
      answers: { domains: answer.domains('The domains, ordered.') },
      handle: async () => ({ domains: await domains.list() }),
    }),
    defineNode<{ domain: string } & DomainChanges>({
      path: 'domains/add',
      scope: 'admin',
      summary: 'Adds a domain (local or not) with its server defaults.',
      params: { domain: param.domain('example.org').required(), ...settings },
      answers: { domain: answer.domain },
      failures: { exists: 'the domain exists' },
      handle: async ({ domain, ...changes }, { audit }) => ({ domain: await domains.add(domain, changes, audit) }),
    }),
    defineNode<{ domain: string } & DomainChanges>({
      path: 'domains/update',
      scope: 'admin',
      summary: "Changes a domain's settings.",
      params: { domain: param.domain('example.org').required(), ...settings },
      answers: { domain: answer.domain },
      failures: { nonexistant: 'no such domain' },
      handle: async ({ domain, ...changes }, { audit }) => ({ domain: await domains.update(domain, changes, audit) }),
    }),
    defineNode<{ domain: string }>({
      path: 'domains/remove',
      scope: 'admin',
      summary: 'Removes a domain (refused while users or aliases use it).',
      params: { domain: param.domain('example.org').required() },
      answers: { domain: answer.domainName('The removed domain.') },
      failures: { nonexistant: 'no such domain', inuse: 'users or aliases use the domain' },
      handle: async ({ domain }, { audit }) => {
        await domains.remove(domain, audit);
        return { domain };
      },
    }),
  ];
}
