import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { ListenerConfig } from './config';
import type { RequestObserver } from './http/registry';
import type { Logger } from './logger';
import type { ListenerCredentials } from './tls-files';

// The listening socket: HTTP or HTTPS, with limits on what a client may hold (time to send its
// headers and its request, idle keep-alive, connections), and Node's own refusals (a request that does
// not parse, headers too large, a request not sent in time) answered with the contract's envelope
// instead of Node's bare status line.

export interface ListenerOptions {
  readonly limits: ListenerConfig;
  /** Null: plain HTTP. */
  readonly credentials: ListenerCredentials | null;
  readonly logger: Logger;
  /** Counts each refusal like a request (the metrics), when given. */
  readonly observer?: RequestObserver;
}

/** How long a refused connection is kept to let its answer reach the client. */
const LINGER_MS = 1000;

/** One refusal of a request Node's HTTP parser would not hand to the app. */
export interface ParserRefusal {
  readonly status: number;
  readonly cause: string;
  readonly detail: string;
}

/** How often Node looks for requests past their time: often enough that a timeout is met to about a second. */
function checkingIntervalMs(limits: ListenerConfig): number {
  return Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 2)));
}

function seconds(milliseconds: number): string {
  return `${Number((milliseconds / 1000).toFixed(3))} s`;
}

/**
 * What a clientError is answered with; null for an error that is no refusal (the client went away,
 * the socket failed): then the connection is only closed.
 */
export function parserRefusal(error: NodeJS.ErrnoException, limits: ListenerConfig, headersReceived: boolean): ParserRefusal | null {
  const code = error.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') {
    return { status: 431, cause: 'headers', detail: `the request headers are too large (more than ${http.maxHeaderSize} bytes together)` };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // Node raises the same error for both limits; a request whose headers arrived has a response.
    return headersReceived
      ? { status: 408, cause: 'request', detail: `the request was not complete within ${seconds(limits.receiveTimeoutMs)} (RECEIVE_TIMEOUT_MS)` }
      : { status: 408, cause: 'request', detail: `the request headers were not complete within ${seconds(limits.headersTimeoutMs)} (HEADERS_TIMEOUT_MS)` };
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') return { status: 413, cause: 'body', detail: 'the chunk extensions of the body are too large' };
  if (code.startsWith('HPE_')) return { status: 400, cause: 'request', detail: `the request is not valid HTTP/1.1 (${code})` };
  return null;
}

/** The whole answer, written straight to the socket: there is no response object at this point. */
function rawAnswer(refusal: ParserRefusal, requestId: string): string {
  const body = JSON.stringify({ response: 'invalid', cause: refusal.cause, detail: refusal.detail });
  return (
    `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status] ?? 'Bad Request'}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n' +
    `X-Request-Id: ${requestId}\r\n` +
    'X-Content-Type-Options: nosniff\r\n' +
    'Cache-Control: no-store\r\n' +
    '\r\n' +
    body
  );
}

/**
 * At most one line a second for something that may happen thousands of times a second (connections
 * dropped at the cap, failed accepts, TLS handshakes that fail); the line counts what it stands for.
 */
function throttled(write: (count: number) => void, everyMs = 1000): () => void {
  let pending = 0;
  let lastWritten = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    timer = null;
    if (pending === 0) return;
    write(pending);
    pending = 0;
    lastWritten = Date.now();
  };
  return () => {
    pending += 1;
    if (timer) return;
    const wait = lastWritten + everyMs - Date.now();
    if (wait <= 0) flush();
    else timer = setTimeout(flush, wait).unref();
  };
}

/** The server for `app`, not yet listening: HTTPS when credentials are given, HTTP otherwise. */
export function createListener(app: http.RequestListener, options: ListenerOptions): http.Server {
  const { limits, credentials, logger, observer } = options;
  const serverOptions: http.ServerOptions = {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.receiveTimeoutMs,
    connectionsCheckingInterval: checkingIntervalMs(limits),
  };
  const server: http.Server = credentials
    ? https.createServer(
        {
          ...serverOptions,
          cert: credentials.cert,
          key: credentials.key,
          // Node's default (120 s) would let a client that never finishes its handshake hold a connection for two minutes.
          handshakeTimeout: limits.headersTimeoutMs,
        },
        app,
      )
    : http.createServer(serverOptions, app);
  // 5 s, Node's default: an idle connection costs a socket and counts against MAX_CONNECTIONS.
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;

  // The parser stays failed: each later chunk on the connection raises the same error again.
  const refused = new WeakSet<Duplex>();
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (refused.has(socket)) return;
    refused.add(socket);
    const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage ?? null;
    const refusal = parserRefusal(error, limits, inFlight !== null);
    if (!refusal || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const requestId = randomUUID();
    // Like Node's own refusals: nothing is written into an answer already under way.
    if (socket.writable && !inFlight?.headersSent) {
      // Closed once the client has read the answer and closed its side, or after a second: closing
      // with its bytes still unread would send a reset, which may discard the answer on its way.
      socket.end(rawAnswer(refusal, requestId));
      socket.once('end', () => socket.destroy());
      setTimeout(() => socket.destroy(), LINGER_MS).unref();
    } else {
      socket.destroy();
    }
    // The status and why, never the bytes received (they may hold a token).
    logger.warn('request refused before it reached the app', {
      request_id: requestId,
      status: refusal.status,
      cause: refusal.cause,
      code: error.code,
      remote_address: (socket as Duplex & { remoteAddress?: string }).remoteAddress,
    });
    observer?.finished({ node: 'unknown', known: false, outcome: 'invalid', cause: refusal.cause, status: refusal.status, durationMs: 0, requestId });
  });

  const dropped = throttled((count) =>
    logger.warn('connections refused: MAX_CONNECTIONS reached', { max_connections: limits.maxConnections, refused: count }),
  );
  server.on('drop', dropped);
  if (credentials) {
    const handshakes = throttled((count) => logger.info('TLS handshakes failed (a client speaking plain HTTP, or a certificate it does not trust)', { failed: count }));
    server.on('tlsClientError', handshakes);
  }
  return server;
}

/**
 * After listening, an 'error' on the server (an accept that failed: EMFILE when the process is out of
 * file descriptors, ENFILE, ENOMEM) is logged and the server keeps listening; without a listener it
 * would end the process.
 */
export function logListenerErrors(server: http.Server, logger: Logger): void {
  let lastCode = '';
  const failed = throttled((count) => logger.error('accepting connections failed; check the file descriptor limit (ulimit -n) and MAX_CONNECTIONS', { code: lastCode, failed: count }));
  server.on('error', (error: NodeJS.ErrnoException) => {
    lastCode = error.code ?? error.message;
    failed();
  });
}
