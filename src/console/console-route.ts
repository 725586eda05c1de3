import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Request, RequestHandler, Response } from 'express';

// The helpdesk console (CONTRACT section 13): static files only. The page calls the nodes like any
// client, with the token the operator gives it; nothing here knows of tokens or nodes.

/** Where the console is served; every path under it is one of its files. */
export const CONSOLE_PATH = '/console';

/**
 * The console's policy: everything from this origin, no inline script or style, no plugins, and no
 * page of another origin may frame it (a console that removes users must not be clickjacked).
 */
export const CONSOLE_POLICY = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface ConsoleFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/**
 * The built console: dist/console, which `npm run build` makes (scripts/build-if-stale.js) beside
 * dist/src. The server built into dist/src/console finds it two levels up; run from the sources (the
 * tests, under ts-jest), it is the checkout's dist/console, which jest's global setup builds.
 */
export function consoleDirectory(): string {
  const besideBuiltServer = path.resolve(__dirname, '..', '..', 'console');
  if (fs.existsSync(path.join(besideBuiltServer, 'index.html'))) return besideBuiltServer;
  return path.resolve(__dirname, '..', '..', 'dist', 'console');
}

/** The console's files by name ('index.html', 'main.js', ...), read once; null when it is not built. */
function readFiles(directory: string): Map<string, ConsoleFile> | null {
  if (!fs.existsSync(path.join(directory, 'index.html'))) return null;
  const files = new Map<string, ConsoleFile>();
  for (const name of fs.readdirSync(directory)) {
    const type = TYPES[path.extname(name)];
    if (type === undefined) continue;
    const body = fs.readFileSync(path.join(directory, name));
    files.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
  }
  return files;
}

function sendText(response: Response, status: number, text: string): void {
  response.status(status).type('text/plain; charset=utf-8').send(`${text}\n`);
}

/**
 * Serves the console's files under CONSOLE_PATH, with its own Content-Security-Policy in place of
 * the nodes' `default-src 'none'` (the other security headers stay as the app set them). The files are
 * read on the first request and kept: the console is a few small files, and a page loads them all.
 */
export function serveConsole(directory = consoleDirectory()): RequestHandler {
  let files: Map<string, ConsoleFile> | null | undefined;
  return (request: Request, response: Response) => {
    response.setHeader('Content-Security-Policy', CONSOLE_POLICY);
    // The page's links are relative: /console must become /console/ for them to resolve.
    if (request.path === '/' && !request.originalUrl.split('?')[0].endsWith('/')) {
      response.redirect(301, `${CONSOLE_PATH}/`);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      sendText(response, 405, 'the console is read with GET');
      return;
    }
    if (files === undefined || files === null) files = readFiles(directory);
    if (files === null) {
      sendText(response, 503, 'the console is not built: run npm run build');
      return;
    }
    const name = request.path === '/' ? 'index.html' : request.path.slice(1);
    const file = files.get(name);
    if (file === undefined) {
      sendText(response, 404, `the console has no file ${request.path}`);
      return;
    }
    // Revalidated on every load, answered 304 while unchanged: a new build is picked up at once.
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('ETag', file.etag);
    if (request.headers['if-none-match'] === file.etag) {
      response.status(304).end();
      return;
    }
    response.status(200).setHeader('Content-Type', file.type);
    response.setHeader('Content-Length', String(file.body.length));
    if (request.method === 'HEAD') response.end();
    else response.end(file.body);
  };
}
