import { defineNode, type NodeDefinition } from '../../http/node';
import { param } from '../../http/params';
import { formatSipAddress, type SipAddress } from '../../values/sip-address';
import type { AuditStore } from './audit-store';

const DEFAULT_LIMIT = 100;

export function auditNodes(audit: AuditStore): NodeDefinition[] {
  return [
    defineNode<{ user?: SipAddress; limit?: number }>({
      path: 'audit/list',
      scope: 'admin',
      readOnly: true,
      summary: 'The audit trail of changes and refused changes, newest first.',
      description: `Filtered by the user (or alias destination) a request was about; at most limit entries (default ${DEFAULT_LIMIT}).`,
      userForm: 'optional',
      params: { limit: param.limit() },
      answers: { entries: 'Array of {time, token, node, params, response, cause, duration_ms}; token is the token name, params have every secret removed.' },
      handle: async ({ user, limit = DEFAULT_LIMIT }) => ({
        entries: await audit.list(user === undefined ? null : formatSipAddress(user), limit),
      }),
    }),
  ];
}
