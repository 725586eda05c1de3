import winston from 'winston';

/** The fields of the one line logged per node request (none of them can hold a secret). */
export interface RequestLine {
  readonly request_id: string;
  readonly node: string;
  readonly method: string;
  /** The token's name; a key named `token` would read as a secret. */
  readonly client: string | undefined;
  /** The client's address (the socket's peer). */
  readonly address: string | undefined;
  readonly outcome: string;
  readonly cause: string | undefined;
  readonly status: number;
  readonly duration_ms: number;
}

/** winston for everything, plus `request()`, the per-request line, written without winston's pipeline. */
export type Logger = winston.Logger & { request(line: RequestLine): void };

// Keys whose values are never written to the log, wherever they appear.
const SECRET_KEY = /pass(word)?|secret|token|api[-_]?key|authorization|cookie/i;
const REDACTED = '[redacted]';

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] = SECRET_KEY.test(key) ? REDACTED : redact(inner, depth + 1);
  }
  return copy;
}

const redactSecrets = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (SECRET_KEY.test(key)) info[key] = REDACTED;
    else if (info[key] !== null && typeof info[key] === 'object') info[key] = redact(info[key]);
  }
  return info;
});

// winston's Symbol for the formatted line (triple-beam's MESSAGE).
const MESSAGE = Symbol.for('message');
const FLUSH_AT = 64 * 1024;

/**
 * Log lines bound for stdout, written once per event-loop turn instead of once per line.
 * Each write to a pipe wakes its reader, and under load that costs the gateway far more than
 * building the line (about 75 µs a request on a 2-core VM). What is pending is written before
 * the process exits.
 */
const stdoutLines = {
  pending: '',
  scheduled: false,
  hooked: false,
  add(line: string): void {
    if (!this.hooked) {
      this.hooked = true;
      process.once('exit', () => this.flush());
    }
    this.pending += line;
    if (this.pending.length >= FLUSH_AT) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  },
  flush(): void {
    this.scheduled = false;
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    process.stdout.write(text);
  },
};

/** winston's Console transport (every level goes to stdout, none to stderr), writing through stdoutLines. */
class StdoutTransport extends winston.transports.Console {
  override log(info: Record<string | symbol, unknown>, next: () => void): void {
    if (this.listenerCount('logged') > 0) setImmediate(() => this.emit('logged', info));
    stdoutLines.add(`${String(info[MESSAGE])}${this.eol}`);
    next();
  }
}

// The ISO time of the current second, so a line's timestamp is that plus its milliseconds.
let secondStarts = 0;
let secondText = '';

/** What `new Date().toISOString()` answers, without a Date and its formatting on every line. */
function isoTimestamp(): string {
  const now = Date.now();
  const milliseconds = now % 1000;
  if (now - milliseconds !== secondStarts) {
    secondStarts = now - milliseconds;
    secondText = new Date(secondStarts).toISOString().slice(0, 20);
  }
  return `${secondText}${milliseconds < 10 ? '00' : milliseconds < 100 ? '0' : ''}${milliseconds}Z`;
}

/**
 * The request line as winston's json format writes it (same keys, same order), built directly:
 * winston formats every message before its transports filter by level, through a stream pipeline
 * that cost the read path more than the node's own work (docs/decisions/005). Values a client
 * can choose (the path, a cause naming a parameter, the token's name) are JSON-quoted; the others
 * are a UUID, an HTTP method, an outcome keyword and numbers.
 */
function requestLineText(line: RequestLine): string {
  const client = line.client === undefined ? '' : `"client":${JSON.stringify(line.client)},`;
  const cause = line.cause === undefined ? '' : `"cause":${JSON.stringify(line.cause)},`;
  const address = line.address === undefined ? '' : `"address":${JSON.stringify(line.address)},`;
  return (
    `{"level":"info","message":"request","request_id":"${line.request_id}","node":${JSON.stringify(line.node)},"method":"${line.method}",` +
    `${client}${address}"outcome":"${line.outcome}",${cause}"status":${line.status},"duration_ms":${line.duration_ms},"timestamp":"${isoTimestamp()}"}\n`
  );
}

/** JSON lines on stdout (CONTRACT section 2), or on `stream` (tests); secrets are removed by key name. */
export function createLogger(level: string, stream?: NodeJS.WritableStream): Logger {
  const transport = stream ? new winston.transports.Stream({ stream }) : new StdoutTransport();
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), redactSecrets(), winston.format.json()),
    transports: [transport],
  });
  const write = stream ? (text: string) => void stream.write(text) : (text: string) => stdoutLines.add(text);
  return Object.assign(logger, {
    request(line: RequestLine): void {
      if (logger.isInfoEnabled()) write(requestLineText(line));
    },
  });
}
