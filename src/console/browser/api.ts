// The nodes, called like any client: POST /api/<group>/<node> with the parameters as JSON and the
// token as a Bearer header. Nothing else is asked of the gateway, and nothing of any other origin.

/** The envelope of CONTRACT section 3; an ok answer carries the node's own members. */
export type Envelope =
  | ({ readonly response: 'ok' } & Readonly<Record<string, unknown>>)
  | { readonly response: 'invalid' | 'failed' | 'error'; readonly cause: string; readonly detail: string };

/** What a call brought back: the envelope, the HTTP status (refusals are 4xx), and Retry-After on 429. */
export interface Answer {
  readonly envelope: Envelope;
  readonly status: number;
  readonly retryAfter: string | null;
}

export type Scope = 'read' | 'write' | 'admin';

/** What every view needs to know of the session: the token's scope and the gateway's local domains. */
export interface ConsoleContext {
  readonly scope: Scope;
  /** Whether the token may change anything (write or admin): change controls are built only then. */
  readonly canChange: boolean;
  readonly isAdmin: boolean;
  /** The local domains (domains/list), for new local users and for aliases. */
  readonly localDomains: readonly string[];
}
export type Params = Readonly<Record<string, string | number | boolean | undefined>>;

const TOKEN_KEY = 'pbx-gateway-console-token';

/** The token lives in this tab's sessionStorage only: gone when the tab closes or on log out. */
export const session = {
  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  keep(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  forget(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** Called when the gateway no longer knows the token (401): the page goes back to sign-in. */
let onTokenRefused: (detail: string) => void = () => undefined;
export function whenTokenRefused(handler: (detail: string) => void): void {
  onTokenRefused = handler;
}

function headers(token: string | null, type?: string): Record<string, string> {
  return { Accept: 'application/json', ...(token === null ? {} : { Authorization: `Bearer ${token}` }), ...(type ? { 'Content-Type': type } : {}) };
}

function isEnvelope(value: unknown): value is Envelope {
  return typeof value === 'object' && value !== null && typeof (value as { response?: unknown }).response === 'string';
}

async function post(node: string, body: string, token: string | null): Promise<Answer> {
  let response: Response;
  try {
    response = await fetch(`../api/${node}`, { method: 'POST', headers: headers(token, 'application/json'), body, cache: 'no-store', credentials: 'omit' });
  } catch (error) {
    return { envelope: { response: 'error', cause: 'network', detail: `the gateway did not answer (${(error as Error).message})` }, status: 0, retryAfter: null };
  }
  let parsed: unknown;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  const envelope: Envelope = isEnvelope(parsed)
    ? parsed
    : { response: 'error', cause: 'internal', detail: `the gateway answered HTTP ${response.status} without an envelope` };
  return { envelope, status: response.status, retryAfter: response.headers.get('Retry-After') };
}

/** Calls a node with the tab's token. A 401 also sends the page back to sign-in. */
export async function call(node: string, params: Params = {}): Promise<Answer> {
  const body: Record<string, string | number | boolean> = {};
  for (const [name, value] of Object.entries(params)) if (value !== undefined) body[name] = value;
  const answer = await post(node, JSON.stringify(body), session.token());
  if (answer.status === 401) onTokenRefused(answer.envelope.response === 'ok' ? '' : answer.envelope.detail);
  return answer;
}

/** user/genpw answers text/plain: the password alone, or an envelope when refused. */
export async function generatePassword(): Promise<{ password: string } | Answer> {
  try {
    // GET: the node has no parameters, and a POST without a body has no content type to give.
    const response = await fetch('../api/user/genpw', { headers: headers(session.token()), cache: 'no-store', credentials: 'omit' });
    if (response.ok && (response.headers.get('Content-Type') ?? '').startsWith('text/plain')) return { password: (await response.text()).trim() };
    const parsed: unknown = await response.json().catch(() => null);
    const envelope: Envelope = isEnvelope(parsed) ? parsed : { response: 'error', cause: 'internal', detail: `HTTP ${response.status}` };
    return { envelope, status: response.status, retryAfter: response.headers.get('Retry-After') };
  } catch (error) {
    return { envelope: { response: 'error', cause: 'network', detail: `the gateway did not answer (${(error as Error).message})` }, status: 0, retryAfter: null };
  }
}

/**
 * The token's scope, learnt from what the nodes answer (no node tells it):
 * - `audit/list?limit=1` needs admin and changes nothing (it is not audited): ok means admin;
 * - otherwise a POST to `user/forward` (write) whose body does not parse: the gateway checks the
 *   scope before it reads a body, so a write token gets 400 `invalid`/`body` and nothing runs or is
 *   recorded, a read token 403 `failed`/`scope` (recorded, as every refused change is).
 * Null with the refusal when the token is not known (401) or the gateway cannot say.
 */
export async function learnScope(token: string): Promise<{ scope: Scope } | { refused: Answer }> {
  const admin = await post('audit/list', '{"limit":1}', token);
  if (admin.envelope.response === 'ok') return { scope: 'admin' };
  if (admin.status !== 403) return { refused: admin };
  const write = await post('user/forward', '{', token);
  if (write.status === 400 && write.envelope.response === 'invalid' && write.envelope.cause === 'body') return { scope: 'write' };
  if (write.status === 403) return { scope: 'read' };
  return { refused: write };
}

/** The ok answer's members, or null when the call did not succeed. */
export function okMembers(answer: Answer): Readonly<Record<string, unknown>> | null {
  return answer.envelope.response === 'ok' ? answer.envelope : null;
}
