import http from 'node:http';
import https from 'node:https';
import axios, { AxiosError, type AxiosInstance } from 'axios';
import type { PbxConfig } from '../config';
import type { Logger } from '../logger';
import { Failed, GatewayError } from '../outcome';
import { readPbxTrust } from '../tls-files';
import type { Extension } from './extension';
import type { PbxClient } from './pbx-client';

/** The PBX's answer envelope; some versions answer users/add with {status: "success"} instead. */
interface SimotelAnswer {
  success?: number | string | boolean;
  status?: string;
  message?: string;
  data?: unknown;
}

/** Observes every PBX call (metrics plug in here). */
export type PbxCallObserver = (path: string, result: 'ok' | 'refused' | 'error', durationMs: number) => void;

function succeeded(answer: SimotelAnswer): boolean {
  if (answer.success !== undefined) return answer.success === 1 || answer.success === '1' || answer.success === true;
  return typeof answer.status === 'string' && answer.status.toLowerCase() === 'success';
}

/** At most `limit` tasks at once; the rest wait in arrival order. */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active += 1;
    try {
      return await task();
    } finally {
      this.active -= 1;
      this.waiting.shift()?.();
    }
  }
}

/** Simotel PBX API v4 over axios: JSON POSTs with X-APIKEY and HTTP Basic (CONTRACT section 6). */
export class SimotelClient implements PbxClient {
  private readonly http: AxiosInstance;
  // A flood of changes must not become a flood on the PBX: calls beyond maxConcurrency queue here.
  private readonly slots: Semaphore;

  constructor(
    private readonly config: PbxConfig,
    private readonly logger: Logger,
    private readonly observe: PbxCallObserver = () => undefined,
  ) {
    this.slots = new Semaphore(config.maxConcurrency ?? 8);
    this.http = axios.create({
      baseURL: config.url.replace(/\/$/, ''),
      timeout: config.timeoutMs,
      headers: { 'X-APIKEY': config.apiKey, 'Content-Type': 'application/json' },
      auth: { username: config.username, password: config.password },
      httpAgent: new http.Agent({ keepAlive: true, maxSockets: 16 }),
      // The PBX's certificate is always verified (whatever NODE_TLS_REJECT_UNAUTHORIZED says), against
      // the system's roots and, with PBX_CA_FILE, a private CA's.
      httpsAgent: new https.Agent({
        keepAlive: true,
        maxSockets: 16,
        rejectUnauthorized: true,
        ...(config.caFile ? { ca: readPbxTrust(config.caFile) } : {}),
      }),
      // Statuses are judged below; axios must not turn them into errors carrying the request config.
      validateStatus: () => true,
      maxRedirects: 0,
      // The PBX is reached directly: an HTTP_PROXY in the environment must not reroute its credentials.
      proxy: false,
      transitional: { clarifyTimeoutError: true },
    });
  }

  async find(number: string): Promise<Extension | null> {
    const data = await this.search({ number });
    // The PBX may also return similar numbers: keep the exact one only.
    const found = (data as (Extension | null)[]).find((extension) => extension?.number === number);
    return found ?? null;
  }

  async list(): Promise<Extension[]> {
    const data = await this.search({});
    // An entry without a number cannot be told from a missing extension: pbx/sync with prune=true
    // would remove its user. The whole answer is refused instead.
    if (!data.every((extension) => typeof (extension as Extension | null)?.number === 'string')) {
      throw new GatewayError('pbx', 'the PBX answered a list with an entry that has no number', { path: '/pbx/users/search' });
    }
    return data as Extension[];
  }

  /**
   * users/search's `data` is an array (CONTRACT section 6). Anything else (null, "", an object) is not
   * "no extensions": read as such, pbx/sync with prune=true would remove every local user.
   */
  private async search(conditions: { number?: string }): Promise<unknown[]> {
    const data = await this.call('/pbx/users/search', { alike: false, conditions });
    if (!Array.isArray(data)) throw new GatewayError('pbx', 'the PBX answered a list that is not a list', { path: '/pbx/users/search', data: typeof data });
    return data;
  }

  async add(extension: Extension): Promise<void> {
    const { _id: _ignored, ...body } = extension;
    await this.call('/pbx/users/add', body);
  }

  async update(extension: Extension): Promise<void> {
    await this.call('/pbx/users/update', extension);
  }

  async remove(id: string): Promise<void> {
    await this.call('/pbx/users/remove', { _id: id });
  }

  /** /readyz's look: outside the concurrency bound, so it never takes a slot from real work. */
  async ping(): Promise<void> {
    await this.call('/setting/ping/act', {}, false);
  }

  private async call(path: string, body: unknown, bounded = true): Promise<unknown> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    let status: number;
    let answer: SimotelAnswer | null;
    try {
      const send = () => this.http.post<SimotelAnswer>(path, body);
      const response = await (bounded ? this.slots.run(send) : send());
      status = response.status;
      answer = response.data && typeof response.data === 'object' ? response.data : null;
    } catch (error) {
      this.observe(path, 'error', elapsed());
      throw this.transportError(path, error);
    }
    if (status === 401 || status === 403) {
      this.observe(path, 'error', elapsed());
      // Loud, because only an operator can fix it; the credentials themselves are never logged.
      this.logger.error('the PBX refused the gateway credentials: check PBX_API_KEY, PBX_USERNAME and PBX_PASSWORD', { path, status });
      throw new GatewayError('pbx', 'the PBX refused the gateway credentials');
    }
    if (status < 200 || status >= 300) {
      this.observe(path, 'error', elapsed());
      throw new GatewayError('pbx', `the PBX answered HTTP ${status} to ${path}`);
    }
    if (answer === null) {
      this.observe(path, 'error', elapsed());
      throw new GatewayError('pbx', `the PBX answered ${path} with something other than its JSON envelope`);
    }
    if (!succeeded(answer)) {
      this.observe(path, 'refused', elapsed());
      throw new Failed('pbx', typeof answer.message === 'string' && answer.message !== '' ? answer.message : `the PBX refused ${path}`);
    }
    this.observe(path, 'ok', elapsed());
    return answer.data;
  }

  private transportError(path: string, error: unknown): GatewayError {
    const code = error instanceof AxiosError ? error.code : (error as { code?: string })?.code;
    if (code === 'ETIMEDOUT' || code === 'ECONNABORTED') {
      return new GatewayError('pbx', `the PBX did not answer ${path} within ${this.config.timeoutMs} ms`, { code, path });
    }
    // Only the code and path go along: the axios error holds the request config, credentials included.
    return new GatewayError('pbx', `cannot reach the PBX (${code ?? 'unknown error'})`, { code, path });
  }
}
