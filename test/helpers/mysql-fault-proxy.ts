import net from 'node:net';

// A TCP proxy on 127.0.0.1 between a MySQL client (mysql2) and the server that reads the MySQL
// client/server protocol just enough to fault one chosen command: cut the connection right before
// it reaches the server, right after it did (the server runs it, the client never hears back), or
// hold its answer back for a while. Unlike test/helpers/tcp-proxy.ts, which cuts whenever a test
// says so, a fault here lands on an exact statement (a COMMIT, one INSERT), so a test of "what if
// the line dies mid-commit" is deterministic instead of a race against timers.
//
// What it reads (plain protocol only: no TLS, no compression, which mysql2 uses by default):
// - every packet is a 3-byte little-endian payload length, a 1-byte sequence id, the payload;
// - a client packet with sequence id 0 starts a command, its first byte tells which: COM_QUERY
//   (0x03, then the SQL), COM_STMT_PREPARE (0x16, then the SQL), COM_STMT_EXECUTE (0x17, then
//   the 4-byte statement id). The handshake response has sequence id 1, so it is never mistaken
//   for a command;
// - a COM_STMT_EXECUTE carries no SQL: the SQL of each prepared statement is remembered per
//   connection, under the statement id the server gave in its COM_STMT_PREPARE_OK.
// Bytes are forwarded unchanged. The client's bytes go on a whole packet at a time (a command must
// be complete to be judged); the server's go on as they come, and are only read on the side.

/** Which client command a rule looks at. */
export type FaultCommand = 'query' | 'prepare' | 'execute';

interface FaultRuleBase {
  /** Tested against the SQL of the command (for an execute: the SQL its statement was prepared from). */
  readonly match: RegExp;
  /**
   * The commands the rule looks at; default ['query', 'execute']. 'prepare' is left out by default:
   * mysql2's execute() prepares before its first execution on a connection, and a rule meant for
   * the execution ("the INSERT ran, the client never knew") would otherwise fire on the prepare.
   */
  readonly commands?: readonly FaultCommand[];
}

/**
 * One fault, fired by the first client command (on any connection through the proxy) that matches.
 * - 'before-send': that connection is cut (client and server side) and the command is not
 *   forwarded: the server never sees it (a COMMIT never arrives, so the server rolls back once
 *   it notices the lost connection).
 * - 'after-send': the command is forwarded, then that connection is cut before any byte of the
 *   answer reaches the client: the server runs it (a COMMIT commits) but the client sees the
 *   connection lost. By default the cut comes when the first byte of the answer arrives (so the
 *   server has surely run it; that byte is dropped); with `afterMs`, the cut comes that long after
 *   forwarding, answered or not (to cut while a slow statement still runs), and any answer that
 *   arrives meanwhile is dropped.
 * - 'delay-answer': the command is forwarded, and its answer, once it starts to arrive, is held
 *   back for `delayMs` before it is delivered (in order, unchanged).
 */
export type FaultRule =
  | (FaultRuleBase & { readonly action: 'before-send' })
  | (FaultRuleBase & { readonly action: 'after-send'; readonly afterMs?: number })
  | (FaultRuleBase & { readonly action: 'delay-answer'; readonly delayMs: number });

/** What a fault fired on. */
export interface FaultHit {
  readonly command: FaultCommand;
  readonly sql: string;
  /** The server's id for that connection (from its greeting): what KILL and the processlist use. */
  readonly threadId: number | null;
}

export interface ArmedFault {
  readonly rule: FaultRule;
  /** Resolves when the fault fires; never settles if it is disarmed first. */
  readonly fired: Promise<FaultHit>;
  readonly hasFired: boolean;
  /** Takes the fault back if it has not fired yet (no effect afterwards). */
  disarm(): void;
}

export interface MysqlFaultProxy {
  readonly host: string;
  readonly port: number;
  /** A mysql:// URL to `database` through the proxy (user, password and options of the server URL). */
  url(database: string): string;
  /** Arms a one-shot fault; armed faults are checked in the order they were armed. */
  arm(rule: FaultRule): ArmedFault;
  /** Destroys every open connection (client and server side) at once; new connections still work. */
  cutAll(): void;
  /** Connections currently open through the proxy. */
  readonly open: number;
  /** Cuts every connection and stops listening; armed faults stay unfired. */
  close(): Promise<void>;
}

const COM_QUERY = 0x03;
const COM_STMT_PREPARE = 0x16;
const COM_STMT_EXECUTE = 0x17;
const COM_STMT_CLOSE = 0x19;
const CLIENT_SSL = 0x0000_0800;
const CLIENT_QUERY_ATTRIBUTES = 0x0800_0000;
/** MariaDB's COM_STMT_EXECUTE id for "the statement prepared last" (not used by mysql2). */
const LAST_PREPARED = 0xffff_ffff;

interface Packet {
  readonly seq: number;
  readonly payload: Buffer;
  /** Header and payload, as received. */
  readonly raw: Buffer;
}

/** Cuts a byte stream into packets, however TCP split or merged them. */
class PacketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Packet[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const packets: Packet[] = [];
    while (this.buffered >= 4) {
      const length = this.take(4, false).readUIntLE(0, 3);
      if (this.buffered < 4 + length) break;
      const raw = this.take(4 + length, true);
      packets.push({ seq: raw[3], payload: raw.subarray(4), raw });
    }
    return packets;
  }

  /** Whatever is buffered, not a whole packet (for a stream that stops being packets). */
  drain(): Buffer {
    const rest = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [];
    this.buffered = 0;
    return rest;
  }

  /** The first `n` buffered bytes; joins chunks only when a packet spans them (once per packet). */
  private take(n: number, consume: boolean): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    const head = this.chunks[0].subarray(0, n);
    if (consume) {
      const rest = this.chunks[0].subarray(n);
      if (rest.length > 0) this.chunks[0] = rest;
      else this.chunks.shift();
      this.buffered -= n;
    }
    return head;
  }
}

/** The SQL of a COM_QUERY payload; null when query attributes are sent (not parsed here). */
function querySql(payload: Buffer, capabilities: number): string | null {
  if ((capabilities & CLIENT_QUERY_ATTRIBUTES) === 0) return payload.toString('utf8', 1);
  // MySQL 8 with query attributes: parameter count, parameter set count (1), then the SQL if the
  // count is 0, which is what mysql2 sends unless a query is given attributes. MariaDB has none.
  if (payload[1] !== 0x00) return null;
  return payload.toString('utf8', 3);
}

interface Greeting {
  readonly threadId: number;
  readonly capabilities: number;
}

/** The server's first packet (HandshakeV10); null for anything else, e.g. an error. */
function parseGreeting(payload: Buffer): Greeting | null {
  if (payload[0] !== 0x0a) return null;
  const versionEnd = payload.indexOf(0x00, 1);
  if (versionEnd < 0) return null;
  const at = versionEnd + 1; // thread id (4), auth data (8), filler (1), capabilities low (2)
  if (payload.length < at + 20) return null;
  const threadId = payload.readUInt32LE(at);
  const low = payload.readUInt16LE(at + 13);
  const high = payload.readUInt16LE(at + 18); // after charset (1) and status (2)
  return { threadId, capabilities: ((high << 16) | low) >>> 0 };
}

interface Armed {
  readonly rule: FaultRule;
  readonly commands: readonly FaultCommand[];
  fire(hit: FaultHit): void;
}

/**
 * Starts a proxy to the MySQL server at `serverUrl`, mysql://user:password@host:port (e.g.
 * MYSQL_SERVER of test/helpers/gateway); url() keeps its user, password and query string.
 */
export async function startMysqlFaultProxy(serverUrl: string): Promise<MysqlFaultProxy> {
  const target = new URL(serverUrl);
  const targetHost = target.hostname;
  const targetPort = Number(target.port || 3306);
  const host = '127.0.0.1';
  const armed: Armed[] = [];
  const cuts = new Set<() => void>();

  /** The first armed fault matching this command, taken off the list. */
  const claim = (command: FaultCommand, sql: string | null): Armed | null => {
    if (sql === null) return null;
    // search() ignores the lastIndex of a /g or /y expression, which test() would move.
    const index = armed.findIndex((fault) => fault.commands.includes(command) && sql.search(fault.rule.match) >= 0);
    if (index < 0) return null;
    return armed.splice(index, 1)[0];
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const clientPackets = new PacketReader();
    const serverPackets = new PacketReader();
    const timers = new Set<NodeJS.Timeout>();
    const statements = new Map<number, string>();
    let closed = false;
    let threadId: number | null = null;
    let serverCapabilities = 0;
    let capabilities = 0; // what both sides have: the client's flags, limited to the server's
    let greeted = false;
    let handshaken = false;
    // TLS after an SSL request: nothing is readable any more, bytes just pass.
    let opaque = false;
    // The SQL of a COM_STMT_PREPARE sent: the server's next packet says under which id it is kept.
    let preparing: string | null = null;
    let lastPrepared: string | null = null;
    // What happens to the server's bytes: passed, dropped (a cut is coming), or held back.
    let answer: { mode: 'pass' } | { mode: 'drop'; cutOnFirstByte: boolean } | { mode: 'hold'; delayMs: number; held: Buffer[] | null } = {
      mode: 'pass',
    };

    const later = (fn: () => void, ms: number) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        fn();
      }, ms);
      timers.add(timer);
    };
    const cut = () => {
      if (closed) return;
      closed = true;
      cuts.delete(cut);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      client.destroy();
      upstream.destroy();
    };
    cuts.add(cut);
    client.on('error', cut);
    upstream.on('error', cut);
    client.once('close', cut);
    upstream.once('close', cut);

    const toClient = (chunk: Buffer) => {
      if (!closed) client.write(chunk);
    };
    const toServer = (chunk: Buffer) => {
      if (!closed) upstream.write(chunk);
    };

    const observeServer = (packet: Packet) => {
      if (!greeted) {
        greeted = true;
        const greeting = parseGreeting(packet.payload);
        threadId = greeting?.threadId ?? null;
        serverCapabilities = greeting?.capabilities ?? 0;
        return;
      }
      if (preparing !== null) {
        // mysql2 waits for each answer before its next command, so this packet starts the answer
        // to the prepare: COM_STMT_PREPARE_OK (0x00, statement id) or an error.
        if (packet.seq === 1 && packet.payload[0] === 0x00 && packet.payload.length >= 5) {
          statements.set(packet.payload.readUInt32LE(1), preparing);
          lastPrepared = preparing;
        }
        preparing = null;
      }
    };

    upstream.on('data', (chunk: Buffer) => {
      if (!opaque) for (const packet of serverPackets.push(chunk)) observeServer(packet);
      switch (answer.mode) {
        case 'pass':
          toClient(chunk);
          return;
        case 'drop':
          if (answer.cutOnFirstByte) cut();
          return;
        case 'hold': {
          // The clock starts with the first byte of the answer; what follows waits with it.
          if (answer.held === null) {
            const held: Buffer[] = [];
            answer.held = held;
            later(() => {
              answer = { mode: 'pass' };
              for (const part of held) toClient(part);
            }, answer.delayMs);
          }
          answer.held.push(chunk);
          return;
        }
      }
    });

    /** The command a packet starts and its SQL, if it is one a rule can look at. */
    const commandOf = (payload: Buffer): { command: FaultCommand; sql: string | null } | null => {
      switch (payload[0]) {
        case COM_QUERY:
          return { command: 'query', sql: querySql(payload, capabilities) };
        case COM_STMT_PREPARE:
          return { command: 'prepare', sql: payload.toString('utf8', 1) };
        case COM_STMT_EXECUTE: {
          if (payload.length < 5) return null;
          const id = payload.readUInt32LE(1);
          return { command: 'execute', sql: id === LAST_PREPARED ? lastPrepared : (statements.get(id) ?? null) };
        }
        default:
          return null;
      }
    };

    /** Forwards one client packet, or acts on it; false once the connection is cut. */
    const fromClient = (packet: Packet): boolean => {
      const { seq, payload } = packet;
      if (!handshaken) {
        // The handshake response (or SSL request), sequence id 1: the client's capabilities.
        if (seq === 1 && payload.length >= 4) {
          handshaken = true;
          capabilities = (payload.readUInt32LE(0) & serverCapabilities) >>> 0;
          if ((capabilities & CLIENT_SSL) !== 0) opaque = true;
        }
        toServer(packet.raw);
        return true;
      }
      if (seq !== 0 || payload.length === 0) {
        toServer(packet.raw);
        return true;
      }
      if (payload[0] === COM_STMT_CLOSE && payload.length >= 5) statements.delete(payload.readUInt32LE(1));
      const command = commandOf(payload);
      const fault = command === null ? null : claim(command.command, command.sql);
      if (command?.command === 'prepare' && fault?.rule.action !== 'before-send') preparing = command.sql;
      if (fault === null || command === null) {
        toServer(packet.raw);
        return true;
      }
      fault.fire({ command: command.command, sql: command.sql ?? '', threadId });
      const rule = fault.rule;
      switch (rule.action) {
        case 'before-send':
          cut();
          return false;
        case 'after-send':
          answer = { mode: 'drop', cutOnFirstByte: rule.afterMs === undefined };
          toServer(packet.raw);
          if (rule.afterMs !== undefined) later(cut, rule.afterMs);
          return true;
        case 'delay-answer':
          answer = { mode: 'hold', delayMs: rule.delayMs, held: null };
          toServer(packet.raw);
          return true;
      }
    };

    client.on('data', (chunk: Buffer) => {
      if (opaque) {
        toServer(chunk);
        return;
      }
      for (const packet of clientPackets.push(chunk)) {
        if (!fromClient(packet)) return;
        if (opaque) {
          // An SSL request: what follows it is TLS.
          toServer(clientPackets.drain());
          return;
        }
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  const cutAll = () => {
    for (const cut of [...cuts]) cut();
  };

  return {
    host,
    port,
    url(database: string) {
      const url = new URL(serverUrl);
      url.hostname = host;
      url.port = String(port);
      url.pathname = `/${encodeURIComponent(database)}`;
      return url.toString();
    },
    arm(rule: FaultRule): ArmedFault {
      let hasFired = false;
      let resolveFired: (hit: FaultHit) => void = () => undefined;
      const fired = new Promise<FaultHit>((resolve) => {
        resolveFired = resolve;
      });
      const entry: Armed = {
        rule,
        commands: rule.commands ?? ['query', 'execute'],
        fire(hit) {
          hasFired = true;
          resolveFired(hit);
        },
      };
      armed.push(entry);
      return {
        rule,
        fired,
        get hasFired() {
          return hasFired;
        },
        disarm() {
          const index = armed.indexOf(entry);
          if (index >= 0) armed.splice(index, 1);
        },
      };
    },
    cutAll,
    get open() {
      return cuts.size;
    },
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
