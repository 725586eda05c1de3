import Joi from 'joi';
import type { Scope } from '../../config';
import { defineNode, type NodeDefinition } from '../../http/node';
import { answer } from '../../http/answer-schemas';
import type { TokenService } from './token-service';

const name = () =>
  Joi.string()
    .pattern(/^[A-Za-z0-9._-]{1,64}$/)
    .messages({ 'string.pattern.base': '{{#label}} must be 1–64 of A-Z a-z 0-9 . _ -' })
    .description('The token\'s name (1–64 of A-Z a-z 0-9 . _ -), shown in logs and the audit trail.')
    .example('ci-deploy');

export function tokenNodes(tokens: TokenService): NodeDefinition[] {
  return [
    defineNode({
      path: 'tokens/list',
      scope: 'admin',
      readOnly: true,
      summary: 'The client tokens: those of API_TOKENS and those made with tokens/add, never the tokens themselves.',
      params: {},
      answers: { tokens: answer.tokens('The tokens of API_TOKENS and those made with tokens/add.') },
      handle: async () => ({ tokens: await tokens.list() }),
    }),
    defineNode<{ name: string; scope: Scope; expires?: Date; rate_per_minute?: number }>({
      path: 'tokens/add',
      scope: 'admin',
      summary: 'Makes a client token (32 random bytes, base64url), shown in this answer only.',
      description: 'MySQL keeps only its SHA-256 digest. The token works on every gateway sharing the database within a second.',
      params: {
        name: name().required(),
        scope: Joi.string().valid('read', 'write', 'admin').required().description('read, write or admin (each includes the ones before it).').example('read'),
        expires: Joi.date().iso().description('When the token stops working (ISO 8601 date-time, in the future).'),
        rate_per_minute: Joi.number().integer().min(1).max(1_000_000).description("The token's own limit of requests a minute (per gateway)."),
      },
      answers: {
        name: answer.text('The name.'),
        scope: answer.scope('The scope.'),
        token: answer.text('The token (32 random bytes, base64url); it is not shown again.', { pattern: '^[A-Za-z0-9_-]{43}$', example: 'tRimfZ6HDvWdI9nIItQO5dZxZv2mpxdl4o_cDRLgADM' }),
        created: answer.text('When it was made (ISO 8601, UTC).', { format: 'date-time' }),
        expires: answer.dateTime('When it stops working (ISO 8601, UTC); null: never.'),
        rate_per_minute: answer.rate('Its own limit of requests a minute; null: the default.'),
      },
      failures: { exists: 'a token of that name exists (in API_TOKENS or made before)', expires: { invalid: 'expires is not in the future' } },
      handle: async ({ name: tokenName, scope, expires, rate_per_minute: ratePerMinute }, { audit }) => {
        const { token, created } = await tokens.add({ name: tokenName, scope, expires, ratePerMinute }, audit);
        return {
          name: tokenName,
          scope,
          token,
          created: created.toISOString(),
          expires: expires?.toISOString() ?? null,
          rate_per_minute: ratePerMinute ?? null,
        };
      },
    }),
    defineNode<{ name: string }>({
      path: 'tokens/revoke',
      scope: 'admin',
      summary: 'Revokes a token made with tokens/add: within a second every gateway answers it 401.',
      params: { name: name().required() },
      answers: { name: answer.text("The revoked token's name.") },
      failures: { nonexistant: 'no token of that name was made with tokens/add', config: 'the token is in API_TOKENS; remove it there' },
      handle: async ({ name: tokenName }, { audit }) => {
        await tokens.revoke(tokenName, audit);
        return { name: tokenName };
      },
    }),
  ];
}
