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
  /** The token's own requests-a-minute limit (tokens/add rate_per_minute); absent: the default. */
  readonly ratePerMinute?: number;
}

/** A token made with tokens/add, as MySQL holds it: its digest, never the token. */
export interface IssuedToken {
  readonly name: string;
  readonly digest: string;
  readonly scope: Scope;
  readonly expires: Date | null;
  readonly ratePerMinute: number | null;
}

// A digest as text: one-shot hashing into a string costs a quarter of hashing into a Buffer.
export function tokenDigest(text: string): string {
  return hash('sha256', text, 'base64url');
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
 * A cautious estimate of a configured token's strength in bits: its length times the bits of the
 * character classes it draws from (26 lower, 26 upper, 10 digits, 32 other printable). A token of
 * fewer than 8 distinct characters ('aaaa…', 'abab…') is counted by those characters only. It is a
 * guard against the obviously weak (a short or made-up token), not a proof of randomness.
 */
export function tokenStrengthBits(token: string): number {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/];
  const sizes = [26, 26, 10, 32];
  const alphabet = classes.reduce((sum, pattern, index) => sum + (pattern.test(token) ? sizes[index] : 0), 0);
  const distinct = new Set(token).size;
  return Math.floor(token.length * Math.log2(distinct < 8 ? Math.max(1, distinct) : alphabet));
}

/** The least strength a configured token must have (CONTRACT: tokens/add makes 256-bit ones). */
export const MIN_TOKEN_BITS = 128;

interface Entry {
  readonly client: Client;
  /** Milliseconds since the epoch after which the token is refused; Infinity when it never expires. */
  readonly expiresAt: number;
}

/**
 * Finds the client a token belongs to: the tokens of API_TOKENS and those made with tokens/add
 * (kept in MySQL as digests and refreshed from there by TokenSync). A token is looked up by its
 * SHA-256 digest: what a lookup's timing could reveal is about the digest, which says nothing
 * about any token. Each identification notes when the client was last seen, for tokens/list.
 */
export class Authenticator {
  private readonly configured = new Map<string, Entry>();
  private issued = new Map<string, Entry>();
  /** Token name → when it was last used (ms), since the last takeUses(). */
  private uses = new Map<string, number>();

  constructor(tokens: readonly ApiToken[], private readonly now: () => number = Date.now) {
    for (const token of tokens) {
      this.configured.set(tokenDigest(token.token), { client: { name: token.name, scope: token.scope }, expiresAt: Infinity });
    }
  }

  identify(token: string | null): Client | null {
    if (token === null || token === '') return null;
    const digest = tokenDigest(token);
    const entry = this.configured.get(digest) ?? this.issued.get(digest);
    if (entry === undefined) return null;
    const now = this.now();
    if (now >= entry.expiresAt) return null;
    this.uses.set(entry.client.name, now);
    return entry.client;
  }

  /** Whether `name` is a token of API_TOKENS. */
  isConfigured(name: string): boolean {
    for (const entry of this.configured.values()) if (entry.client.name === name) return true;
    return false;
  }

  /** The names and scopes of API_TOKENS. */
  configuredClients(): Client[] {
    return [...this.configured.values()].map((entry) => entry.client);
  }

  /** Replaces the tokens made with tokens/add by the set MySQL holds now. */
  replaceIssued(tokens: readonly IssuedToken[]): void {
    const issued = new Map<string, Entry>();
    for (const token of tokens) {
      const client: Client = token.ratePerMinute === null ? { name: token.name, scope: token.scope } : { name: token.name, scope: token.scope, ratePerMinute: token.ratePerMinute };
      issued.set(token.digest, { client, expiresAt: token.expires === null ? Infinity : token.expires.getTime() });
    }
    this.issued = issued;
  }

  /** Adds one issued token at once (the gateway that made it need not wait for the next refresh). */
  addIssued(token: IssuedToken): void {
    this.replaceIssued([...this.issuedTokens(), token]);
  }

  /** Forgets an issued token at once (revocation on the gateway that revoked it). */
  removeIssued(name: string): void {
    this.replaceIssued(this.issuedTokens().filter((token) => token.name !== name));
  }

  /** The uses noted since the last call (token name → ms), and a fresh count from now on. */
  takeUses(): Map<string, number> {
    const taken = this.uses;
    this.uses = new Map();
    return taken;
  }

  /** Puts back uses that could not be recorded, keeping the later of two times. */
  restoreUses(uses: ReadonlyMap<string, number>): void {
    for (const [name, time] of uses) if ((this.uses.get(name) ?? 0) < time) this.uses.set(name, time);
  }

  /** Uses not yet taken, for tokens/list to show beside what MySQL has. */
  pendingUses(): ReadonlyMap<string, number> {
    return this.uses;
  }

  private issuedTokens(): IssuedToken[] {
    return [...this.issued.entries()].map(([digest, { client, expiresAt }]) => ({
      name: client.name,
      digest,
      scope: client.scope,
      expires: expiresAt === Infinity ? null : new Date(expiresAt),
      ratePerMinute: client.ratePerMinute ?? null,
    }));
  }
}
