import http from 'node:http';
import https from 'node:https';
import axios, { AxiosError, type AxiosInstance } from 'axios';
import type { PbxConfig } from '../config';
import type { Logger } from '../logger';
import { Failed, GatewayError } from '../outcome';
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
      httpsAgent: new https.Agent({ keepAlive: true, maxSockets: 16 }),
      // Statuses are judged below; axios must not turn them into errors carrying the request config.
      validateStatus: () => true,
      maxRedirects: 0,
      // The PBX is reached directly: an HTTP_PROXY in the environment must not reroute its credentials.
      proxy: false,
      transitional: { clarifyTimeoutError: true },
    });
  }

  async find(number: string): Promise<Extension | null> {
    const data = await this.call('/pbx/users/search', { alike: false, conditions: { number } });
    // The PBX may also return similar numbers: keep the exact one only.
    const found = (Array.isArray(data) ? (data as Extension[]) : []).find((extension) => extension?.number === number);
    return found ?? null;
  }

  async list(): Promise<Extension[]> {
    const data = await this.call('/pbx/users/search', { alike: false, conditions: {} });
    return Array.isArray(data) ? (data as Extension[]).filter((extension) => typeof extension?.number === 'string') : [];
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

  async ping(): Promise<void> {
    await this.call('/setting/ping/act', {});
  }

  private async call(path: string, body: unknown): Promise<unknown> {
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    let status: number;
    let answer: SimotelAnswer | null;
    try {
      const response = await this.slots.run(() => this.http.post<SimotelAnswer>(path, body));
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
