import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasExited, register, stopChild } from './children';

// Gateways as child processes (`node dist/src/main.js`, what `npm start` runs after its build
// check), each told its URL by the log line 'pbx-gateway listening', and a small client for the
// node API that never throws for an answer: a lost answer is an outcome of its own ('transport').

const ROOT = path.resolve(__dirname, '..', '..', '..');
const GATEWAY_MAIN = path.join(ROOT, 'dist', 'src', 'main.js');
const KEPT_LOG_LINES = 400;

/** The settings every gateway of the run shares; MYSQL_URL is each one's own. */
export interface GatewaySettings {
  readonly pbxUrl: string;
  readonly pbxApiKey: string;
  readonly pbxUsername: string;
  readonly pbxPassword: string;
  readonly pbxTimeoutMs: number;
  readonly apiToken: string;
  readonly secretsKeyFile: string;
  readonly localDomains: readonly string[];
}

export interface LogEntry {
  readonly level?: string;
  readonly message?: string;
  readonly [member: string]: unknown;
}

/** What a gateway logged: its last lines, and counts over its whole life. */
interface GatewayLog {
  readonly lines: string[];
  /** Lines with message 'PBX and MySQL may disagree' (CONTRACT section 7). */
  inDoubt: number;
  errors: number;
}

function newGatewayLog(): GatewayLog & { keep(line: string): void } {
  const log = {
    lines: [] as string[],
    inDoubt: 0,
    errors: 0,
    keep(line: string) {
      if (line === '') return;
      log.lines.push(line);
      if (log.lines.length > KEPT_LOG_LINES) log.lines.splice(0, log.lines.length - KEPT_LOG_LINES);
      if (line.includes('PBX and MySQL may disagree')) log.inDoubt += 1;
      if (line.includes('"level":"error"')) log.errors += 1;
    },
  };
  return log;
}

/** Calls `each` with every whole line of a stream, as they come. */
function eachLine(stream: NodeJS.ReadableStream | null, each: (line: string) => void): void {
  let pending = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (text: string) => {
    const parts = (pending + text).split('\n');
    pending = parts.pop() ?? '';
    parts.forEach(each);
  });
}

export class GatewayProcess {
  private constructor(
    readonly name: string,
    readonly mysqlUrl: string,
    readonly child: ChildProcess,
    readonly url: string,
    private readonly log: GatewayLog,
  ) {}

  get running(): boolean {
    return !hasExited(this.child);
  }

  get inDoubtLines(): number {
    return this.log.inDoubt;
  }

  get errorLines(): number {
    return this.log.errors;
  }

  /**
   * Spawns a gateway and resolves once it listens; rejects (with its last log lines, which never
   * hold secrets) when it exits first or does not listen in time.
   */
  static start(name: string, mysqlUrl: string, settings: GatewaySettings, timeoutMs = 60_000): Promise<GatewayProcess> {
    const child = spawn(process.execPath, [GATEWAY_MAIN], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'info',
        MYSQL_URL: mysqlUrl,
        PBX_URL: settings.pbxUrl,
        PBX_API_KEY: settings.pbxApiKey,
        PBX_USERNAME: settings.pbxUsername,
        PBX_PASSWORD: settings.pbxPassword,
        PBX_TIMEOUT_MS: String(settings.pbxTimeoutMs),
        API_TOKENS: `cluster:${settings.apiToken}:admin`,
        SECRETS_KEY_FILE: settings.secretsKeyFile,
        LOCAL_DOMAINS: settings.localDomains.join(','),
        // Repairs of extensions in doubt every 2 s rather than 5 s: the run waits for them.
        REPAIR_INTERVAL_MS: '2000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    register(child);
    const log = newGatewayLog();
    eachLine(child.stderr, log.keep);
    return new Promise<GatewayProcess>((resolve, reject) => {
      let listening = false;
      const timer = setTimeout(() => {
        void stopChild(child, 1000);
        reject(new Error(`${name} did not listen within ${timeoutMs} ms; ${describeLastErrors(log.lines)}`));
      }, timeoutMs);
      eachLine(child.stdout, (line) => {
        log.keep(line);
        if (listening || !line.includes('pbx-gateway listening')) return;
        try {
          const entry = JSON.parse(line) as { message?: string; url?: string };
          if (entry.message !== 'pbx-gateway listening' || !entry.url) return;
          listening = true;
          clearTimeout(timer);
          resolve(new GatewayProcess(name, mysqlUrl, child, entry.url, log));
        } catch {
          // not a log line
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (!listening) reject(new Error(`${name} exited (${code ?? signal}) before it listened; ${describeLastErrors(log.lines)}`));
      });
    });
  }

  /** The last error lines of its log, in short (message and error only). */
  lastErrors(count = 3): string {
    return describeLastErrors(this.log.lines, count);
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 10_000);
  }
}

/** The message (and error member) of the last error or warning lines, for a failure report. */
export function describeLastErrors(lines: readonly string[], count = 3): string {
  const found: string[] = [];
  for (let index = lines.length - 1; index >= 0 && found.length < count; index -= 1) {
    const line = lines[index];
    let entry: LogEntry | null = null;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      // a line that is not JSON (a crash's stack trace, say): its first 200 characters
      if (!line.startsWith('    at ')) found.push(line.slice(0, 200));
      continue;
    }
    if (entry.level !== 'error' && entry.level !== 'warn') continue;
    const error = typeof entry.error === 'string' ? entry.error : entry.error ? JSON.stringify(entry.error) : '';
    found.push(`${entry.level}: ${entry.message ?? ''}${error ? ` (${error.slice(0, 300)})` : ''}`);
  }
  return found.length > 0 ? `last log lines: ${found.reverse().join(' | ')}` : 'no error in its log';
}

// ---------------------------------------------------------------------------------------------
// The node API

export interface Answer {
  /** ok, invalid, failed, error; 'transport' when no answer came; 'http-<status>' without an envelope. */
  readonly outcome: string;
  readonly cause: string;
  readonly detail: string;
  readonly status: number;
  // The envelope as the gateway sent it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
  /** When the request was sent and when its answer (or its failure) came, performance.now() ms. */
  readonly startedAt: number;
  readonly endedAt: number;
}

export class GatewayClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly token: string,
  ) {}

  /** POSTs the parameters as JSON to /api/<node> (passwords stay out of URLs and logs). */
  call(node: string, params: Record<string, string | number | boolean>, timeoutMs = 45_000): Promise<Answer> {
    const payload = Buffer.from(JSON.stringify(params));
    const startedAt = performance.now();
    return new Promise<Answer>((resolve) => {
      const settle = (status: number, body: unknown, transport?: string) => {
        const envelope = (body ?? {}) as { response?: unknown; cause?: unknown; detail?: unknown };
        const outcome = transport ? 'transport' : typeof envelope.response === 'string' ? envelope.response : `http-${status}`;
        resolve({
          outcome,
          cause: transport ?? (typeof envelope.cause === 'string' ? envelope.cause : ''),
          detail: typeof envelope.detail === 'string' ? envelope.detail : '',
          status,
          body,
          startedAt,
          endedAt: performance.now(),
        });
      };
      const request = http.request(
        `${this.url}/api/${node}`,
        {
          method: 'POST',
          agent: this.agent,
          timeout: timeoutMs,
          headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json', 'Content-Length': payload.length },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch {
              // not JSON
            }
            settle(response.statusCode ?? 0, body);
          });
          response.on('error', (error) => settle(0, null, error.message));
        },
      );
      request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.on('error', (error) => settle(0, null, (error as NodeJS.ErrnoException).code ?? error.message));
      request.end(payload);
    });
  }

  /** GET /readyz: its HTTP status, 0 when it does not answer. */
  readyz(timeoutMs = 5000): Promise<number> {
    return new Promise((resolve) => {
      const request = http.get(`${this.url}/readyz`, { agent: this.agent, timeout: timeoutMs }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', () => resolve(0));
    });
  }

  /** Polls /readyz until 200; returns how long it took, or null past `timeoutMs`. */
  async waitReady(timeoutMs: number): Promise<number | null> {
    const started = performance.now();
    while (performance.now() - started < timeoutMs) {
      if ((await this.readyz()) === 200) return performance.now() - started;
      await sleep(200);
    }
    return null;
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Outcome counts of a set of answers, "ok 28, error/db 2", for a report line. */
export function outcomeSummary(answers: readonly Answer[]): string {
  const counts = new Map<string, number>();
  for (const answer of answers) {
    const key = answer.outcome === 'ok' ? 'ok' : `${answer.outcome}/${answer.cause || '-'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([key, count]) => `${key} ${count}`)
    .join(', ');
}

/** Runs `work` over `items` with at most `limit` at once; results in the items' order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= items.length) return;
      results[index] = await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
