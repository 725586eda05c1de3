// The baseline for `npm run bench`: a bare Express 5 + mysql2 server answering user/get and
// numbers/inpool with the same primary-key queries, the same pool size and the same JSON as the
// gateway, and nothing else (no validation, no logging, no request ids).
// Configured by PORT (0 = any free port), HOST and MYSQL_URL; prints one JSON line with its url.
import express from 'express';
import mysql, { type RowDataPacket } from 'mysql2/promise';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);
const url = new URL(process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/pbxgw_bench');

const pool = mysql.createPool({
  host: url.hostname,
  port: url.port ? Number(url.port) : 3306,
  user: decodeURIComponent(url.username) || 'root',
  password: decodeURIComponent(url.password),
  database: decodeURIComponent(url.pathname.slice(1)),
  connectionLimit: 10,
  maxIdle: 10,
  enableKeepAlive: true,
  timezone: 'Z',
});

const app = express();
app.disable('x-powered-by');
app.set('etag', false);

app.get('/api/user/get', async (request, response) => {
  const address = String(request.query.user ?? '');
  const at = address.lastIndexOf('@');
  const [rows] = await pool.execute<RowDataPacket[]>(
    'SELECT username, domain, kind, displayname, email, dialplan, linetext, registrar, r_port, proxy, p_port, authid FROM users WHERE username = ? AND domain = ?',
    [address.slice(0, at), address.slice(at + 1)],
  );
  const row = rows[0];
  if (row === undefined) {
    response.json({ response: 'failed', cause: 'nonexistant', detail: `no user ${address}` });
    return;
  }
  const user: Record<string, unknown> = {
    user: `${row.username}@${row.domain}`,
    username: row.username,
    domain: row.domain,
    kind: row.kind,
    displayname: row.displayname,
    email: row.kind === 'remote' ? '' : row.email,
    dialplan: row.dialplan,
    linetext: row.linetext,
  };
  if (row.kind === 'remote') {
    Object.assign(user, { registrar: row.registrar, r_port: row.r_port, proxy: row.proxy, p_port: row.p_port, authid: row.authid });
  }
  response.json({ response: 'ok', user });
});

app.get('/api/numbers/inpool', async (request, response) => {
  const number = String(request.query.number ?? '');
  const [rows] = await pool.execute<RowDataPacket[]>('SELECT 1 FROM numbers WHERE number = ?', [Number(number.slice(1))]);
  if (rows.length === 0) response.json({ response: 'failed', cause: 'nonexistant', detail: `${number} is not in the pool` });
  else response.json({ response: 'ok', number });
});

const server = app.listen(port, host, () => {
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`${JSON.stringify({ message: 'bare-server listening', url: `http://${host}:${bound}` })}\n`);
});
server.keepAliveTimeout = 65_000;

function stop(): void {
  server.close();
  server.closeIdleConnections();
  void pool.end().finally(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
