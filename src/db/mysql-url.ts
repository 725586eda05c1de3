/** One MySQL server of MYSQL_URL. */
export interface MysqlServer {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

export interface MysqlUrl {
  /** In the order given: the first is preferred, the others are where a gateway goes when it fails. */
  readonly servers: readonly MysqlServer[];
  readonly database: string;
}

// A query string is accepted and ignored, as it always was.
const FORM = /^mysql:\/\/(?:([^@/]*)@)?([^/?#]+)\/([^?#]*)(?:\?[^#]*)?$/;
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/;
const DATABASE = /^[A-Za-z0-9_$]{1,64}$/;

/**
 * Reads MYSQL_URL: `mysql://user:password@host:3306/database`, or several hosts for a Galera
 * cluster, `mysql://user:password@host1:3306,host2:3306,host3:3306/database` (CONTRACT section 11).
 * Null when it is not of that form.
 */
export function readMysqlUrl(text: string): MysqlUrl | null {
  const match = FORM.exec(text);
  if (!match) return null;
  const [, userinfo = '', hosts, path] = match;
  let user: string;
  let password: string;
  let database: string;
  try {
    const colon = userinfo.indexOf(':');
    user = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon)) || 'root';
    password = colon < 0 ? '' : decodeURIComponent(userinfo.slice(colon + 1));
    database = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (!DATABASE.test(database)) return null;
  const servers: MysqlServer[] = [];
  for (const part of hosts.split(',')) {
    const host = HOST.exec(part);
    if (!host) return null;
    const port = host[2] === undefined ? 3306 : Number(host[2]);
    if (port < 1 || port > 65535) return null;
    servers.push({ host: host[1].replace(/^\[|\]$/g, ''), port, user, password });
  }
  return { servers, database };
}

/** host:port, as logs and /readyz name a server. */
export function serverName(server: MysqlServer): string {
  return `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`;
}
