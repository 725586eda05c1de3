// The gateway as pbxgw sees it: one node call is one JSON POST (CONTRACT section 10), with the
// token as a Bearer token. A rate-limited call (429) is tried again after its Retry-After, a bounded
// number of times, before it counts as refused for rate.

/** What one node call came back with: the HTTP status and the parsed body (text when not JSON). */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterSeconds: number | null;
  /** The answer's Content-Type (without parameters), when known: user/genpw answers text/plain. */
  readonly contentType?: string;
  /** The gateway's X-Request-Id for the call: the id its log and audit trail know it by. */
  readonly requestId?: string | null;
}

/** The gateway did not answer at all (refused connection, reset, timeout): exit status 3. */
export class Unreachable extends Error {
  override readonly name = 'Unreachable';
}

/** One request and its answer, for --verbose (never the token, never a parameter's value). */
export interface Exchange {
  readonly method: 'GET' | 'POST';
  readonly url: string;
  readonly status: number;
  readonly milliseconds: number;
  readonly requestId: string | null;
}

export interface ClientOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:8080. */
  readonly url: string;
  readonly token: string | null;
  /** How many times a 429 is tried again (default 5). */
  readonly rateRetries?: number;
  /** The longest single wait for a Retry-After, in seconds (default 60). */
  readonly maxRetryWaitSeconds?: number;
  readonly timeoutMs?: number;
  /** For tests: how to wait (default setTimeout). */
  readonly sleep?: (milliseconds: number) => Promise<void>;
  /** Told before each wait for a 429's Retry-After: the seconds, and which retry this is of how many. */
  readonly onRateLimited?: (waitSeconds: number, retry: number, retries: number) => void;
  /** Told of every answer (pbxgw --verbose). */
  readonly onExchange?: (exchange: Exchange) => void;
}

const pause = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/** Why a fetch failed, in a word: the system's code (ECONNREFUSED, ENOTFOUND, ...), the cause's message, or the error's name. */
function failureCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  // fetch refuses the ports browsers block (6000, 6665-6669, 10080, ...) before it connects.
  if (cause?.message === 'bad port') return 'fetch refuses this port, as browsers do: give the gateway another';
  return cause?.code ?? (error as Error).name ?? 'unknown';
}

export class GatewayClient {
  private readonly base: string;

  constructor(private readonly options: ClientOptions) {
    this.base = options.url.replace(/\/+$/, '');
  }

  /** The base URL calls go to (no token in it). */
  get url(): string {
    return this.base;
  }

  /** POSTs `params` as JSON to /api/<node>; 429s are tried again after Retry-After. */
  async call(node: string, params: Record<string, unknown>): Promise<Answer> {
    const retries = this.options.rateRetries ?? 5;
    for (let attempt = 0; ; attempt += 1) {
      const answer = await this.send('POST', `/api/${node}`, params);
      if (answer.status !== 429 || attempt >= retries) return answer;
      const wait = Math.min(answer.retryAfterSeconds ?? 1, this.options.maxRetryWaitSeconds ?? 60);
      this.options.onRateLimited?.(wait, attempt + 1, retries);
      await (this.options.sleep ?? pause)(wait * 1000);
    }
  }

  /** The gateway's OpenAPI document (open: no token needed). */
  async openApi(): Promise<Record<string, unknown>> {
    const answer = await this.send('GET', '/api/openapi.json');
    if (answer.status !== 200 || typeof answer.body !== 'object' || answer.body === null) {
      throw new Unreachable(`${this.base}/api/openapi.json answered HTTP ${answer.status}, not the OpenAPI document`);
    }
    return answer.body as Record<string, unknown>;
  }

  private async send(method: 'GET' | 'POST', path: string, params?: Record<string, unknown>): Promise<Answer> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (this.options.token !== null) headers.Authorization = `Bearer ${this.options.token}`;
    if (params !== undefined) headers['Content-Type'] = 'application/json';
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const started = performance.now();
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers,
        body: params === undefined ? undefined : JSON.stringify(params),
        signal: AbortSignal.timeout(timeoutMs),
      });
      // The body is read under the same deadline: a gateway that stops half-way is as unreachable.
      text = await response.text();
    } catch (error) {
      const code = failureCode(error);
      if (code === 'TimeoutError') {
        // A change may have been made all the same: the gateway finishes what it started.
        throw new Unreachable(`no answer from the gateway at ${this.base} within ${timeoutMs / 1000} s (a change may have been made all the same: look before repeating it)`);
      }
      throw new Unreachable(`cannot reach the gateway at ${this.base} (${code})`);
    }
    const contentType = (response.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    let body: unknown = text;
    if (contentType === 'application/json') {
      try {
        body = JSON.parse(text);
      } catch {
        // left as text
      }
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    const requestId = response.headers.get('x-request-id');
    this.options.onExchange?.({ method, url: `${this.base}${path}`, status: response.status, milliseconds: performance.now() - started, requestId });
    return {
      status: response.status,
      body,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
      contentType,
      requestId,
    };
  }
}

/** The envelope's `response` (ok, invalid, failed, error), or null when the body is no envelope. */
export function outcomeOf(answer: Answer): string | null {
  const body = answer.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return null;
  const outcome = (body as { response?: unknown }).response;
  return typeof outcome === 'string' ? outcome : null;
}

/** Whether the answer is a plain-text ok (user/genpw: the password alone). */
export function isPlainTextOk(answer: Answer): boolean {
  return answer.status === 200 && typeof answer.body === 'string' && (answer.contentType === undefined || answer.contentType === 'text/plain');
}

/** CONTRACT section 10's exit statuses: 0 ok, 1 failed, 2 invalid, 3 error, 4 refused (401, 403), 5 rate limited. */
export function exitStatusOf(answer: Answer): number {
  if (answer.status === 401 || answer.status === 403) return 4;
  if (answer.status === 429) return 5;
  const outcome = outcomeOf(answer);
  if (outcome === 'ok') return 0;
  if (outcome === 'failed') return 1;
  if (outcome === 'invalid') return 2;
  if (isPlainTextOk(answer)) return 0;
  // error, or anything else from a server that is no gateway (an HTML page of a proxy, a 502)
  return 3;
}
