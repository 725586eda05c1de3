import { hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { ApiToken, Scope } from '../config';

const RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

/** Whether a token's scope includes the one a node needs (read < write < admin). */
export function scopeIncludes(granted: Scope, needed: Scope): boolean {
  return RANK[granted] >= RANK[needed];
}

export interface Client {
  readonly name: string;
  readonly scope: Scope;
}

// A digest as text: one-shot hashing into a string costs a quarter of hashing into a Buffer.
export function tokenDigest(text: string): string {
  return hash('sha256', text, 'base64url');
}

/** Whether two digests (equal length, base64url) are equal, in time independent of where they differ. */
function sameDigest(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let index = 0; index < a.length; index += 1) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

/** The token a request carries: `Authorization: Bearer <token>` or `X-API-Key: <token>`. */
export function presentedToken(headers: IncomingHttpHeaders): string | null {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey !== '' ? apiKey : null;
}

/**
 * Finds the client a token belongs to. Every configured token is compared, each by its SHA-256
 * digest in constant time, so neither the match position nor the length leaks through timing.
 */
export class Authenticator {
  private readonly tokens: { digest: string; client: Client }[];

  constructor(tokens: readonly ApiToken[]) {
    this.tokens = tokens.map((token) => ({ digest: tokenDigest(token.token), client: { name: token.name, scope: token.scope } }));
  }

  identify(token: string | null): Client | null {
    if (token === null) return null;
    const presented = tokenDigest(token);
    let found: Client | null = null;
    for (const candidate of this.tokens) {
      if (sameDigest(candidate.digest, presented)) found = candidate.client;
    }
    return found;
  }
}

/** The client a request's token belongs to, or null (no token, or an unknown one). */
export function clientOf(authenticator: Authenticator, request: { headers: IncomingHttpHeaders }): Client | null {
  return authenticator.identify(presentedToken(request.headers));
}
