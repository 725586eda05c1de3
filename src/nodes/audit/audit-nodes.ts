import Joi from 'joi';
import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { answer } from '../../http/answer-schemas';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import { pageAnswer } from '../paging';
import type { AuditStore } from './audit-store';

const DEFAULT_LIMIT = 100;

export function auditNodes(audit: AuditStore): NodeDefinition[] {
  return [
    defineNode<{ user?: SipAddress; limit?: number; after?: number }>({
      path: 'audit/list',
      scope: 'admin',
      readOnly: true,
      summary: 'The audit trail of changes and refused changes, newest first.',
      description: `Filtered by the user (or alias destination) a request was about; at most limit entries (default ${DEFAULT_LIMIT}).`,
      userForm: 'optional',
      params: {
        limit: param.limit().description(`At most this many entries (1–100000, default ${DEFAULT_LIMIT}); the answer carries next while older entries follow.`),
        after: Joi.number().integer().min(1).description('Only the entries older than the entry with this id: the next of the previous page.'),
      },
      answers: {
        entries: answer.auditEntries('The entries, newest first; token is the token name, params have every secret removed.'),
        next: answer.next(answer.auditId('The id to give as after for the following (older) page.')),
      },
      handle: async ({ user, limit = DEFAULT_LIMIT, after }) =>
        pageAnswer('entries', await audit.list(user === undefined ? null : formatSipAddress(user), after ?? null, limit)),
    }),
  ];
}
