import { randomBytes } from 'node:crypto';
import type { Scope } from '../../config';
import type { ChangeScope } from '../../db/change-scope';
import { tokenDigest, type Authenticator, type IssuedToken } from '../../http/auth';
import type { Logger } from '../../logger';
import { Failed, Invalid } from '../../outcome';
import type { TokenStore } from './token-store';

export interface TokenView {
  readonly name: string;
  readonly scope: Scope;
  readonly source: 'config' | 'api';
  readonly created: string | null;
  readonly expires: string | null;
  readonly last_used: string | null;
  readonly rate_per_minute: number | null;
}

export interface NewToken {
  readonly name: string;
  readonly scope: Scope;
  readonly expires?: Date;
  readonly ratePerMinute?: number;
}

const iso = (time: Date | number | null | undefined): string | null => (time === null || time === undefined ? null : new Date(time).toISOString());

/** tokens/list, tokens/add, tokens/revoke (CONTRACT section 5). */
export class TokenService {
  constructor(
    private readonly deps: { tokens: TokenStore; authenticator: Authenticator | null; now?: () => Date },
  ) {}

  async list(): Promise<TokenView[]> {
    const { tokens, authenticator } = this.deps;
    const [issued, uses] = await Promise.all([tokens.list(), tokens.lastUses()]);
    const pending = authenticator?.pendingUses() ?? new Map<string, number>();
    const lastUsed = (name: string): string | null => {
      const stored = uses.get(name)?.getTime();
      const here = pending.get(name);
      return iso(stored === undefined ? here : here === undefined ? stored : Math.max(stored, here));
    };
    const configured: TokenView[] = (authenticator?.configuredClients() ?? []).map((client) => ({
      name: client.name,
      scope: client.scope,
      source: 'config',
      created: null,
      expires: null,
      last_used: lastUsed(client.name),
      rate_per_minute: null,
    }));
    const made: TokenView[] = issued.map((token) => ({
      name: token.name,
      scope: token.scope,
      source: 'api',
      created: iso(token.created),
      expires: iso(token.expires),
      last_used: lastUsed(token.name),
      rate_per_minute: token.ratePerMinute,
    }));
    return [...configured, ...made];
  }

  /** Makes a token: 32 random bytes, base64url, shown this once; MySQL keeps its digest. */
  async add(request: NewToken, audit?: ChangeScope): Promise<{ token: string; created: Date }> {
    const { tokens, authenticator } = this.deps;
    const now = this.deps.now?.() ?? new Date();
    if (request.expires !== undefined && request.expires.getTime() <= now.getTime()) throw new Invalid('expires', 'expires must lie in the future');
    if (authenticator?.isConfigured(request.name)) throw new Failed('exists', `${request.name} is a token of API_TOKENS`);
    const token = randomBytes(32).toString('base64url');
    const issued: IssuedToken = {
      name: request.name,
      digest: tokenDigest(token),
      scope: request.scope,
      expires: request.expires ?? null,
      ratePerMinute: request.ratePerMinute ?? null,
    };
    await tokens.add(issued, now, audit);
    authenticator?.addIssued(issued);
    return { token, created: now };
  }

  async revoke(name: string, audit?: ChangeScope): Promise<void> {
    const { tokens, authenticator } = this.deps;
    if (authenticator?.isConfigured(name)) throw new Failed('config', `${name} is a token of API_TOKENS; remove it there and restart`);
    await tokens.remove(name, audit);
    authenticator?.removeIssued(name);
  }
}

/** How often a gateway reads the issued tokens (revocation reaches every gateway within a second). */
export const TOKEN_REFRESH_MS = 500;
/** How often a gateway records its tokens' last use. */
const USE_FLUSH_MS = 10_000;

/**
 * Keeps a gateway's authenticator in step with the tokens MySQL holds: reads them every
 * TOKEN_REFRESH_MS (a small table, one query), and writes when tokens were last used. While MySQL
 * does not answer, the last set read stays in force (a revocation then waits for MySQL, as every
 * node but this does); a warning is logged once per outage.
 */
export class TokenSync {
  private timer: NodeJS.Timeout | null = null;
  private lastFlush = Date.now();
  private failing = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly deps: { tokens: TokenStore; authenticator: Authenticator; logger: Logger; refreshMs?: number }) {}

  async refresh(): Promise<void> {
    const { tokens, authenticator, logger } = this.deps;
    try {
      authenticator.replaceIssued(await tokens.issued());
      if (Date.now() - this.lastFlush >= USE_FLUSH_MS) await this.flush();
      if (this.failing) logger.info('tokens are read from MySQL again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) logger.warn('cannot read the tokens from MySQL; the last ones read stay in force', { error: (error as Error).message });
      this.failing = true;
    }
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.running = this.refresh().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.deps.refreshMs ?? TOKEN_REFRESH_MS).unref();
      });
    };
    this.timer = setTimeout(tick, this.deps.refreshMs ?? TOKEN_REFRESH_MS).unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.flush().catch(() => undefined);
  }

  private async flush(): Promise<void> {
    this.lastFlush = Date.now();
    const uses = this.deps.authenticator.takeUses();
    try {
      await this.deps.tokens.recordUses(uses);
    } catch (error) {
      // Not lost: put back what was taken, so the next flush writes it.
      this.deps.authenticator.restoreUses(uses);
      throw error;
    }
  }
}
