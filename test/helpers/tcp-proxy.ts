import net from 'node:net';

// A TCP proxy on 127.0.0.1 for process-level tests: it sits between a gateway process and MySQL or
// the PBX, and can cut the line (every open connection dropped, new ones refused), restore it, and
// hold back what the client sends (to keep a request in flight on purpose).

export interface TcpTarget {
  readonly host: string;
  readonly port: number;
}

export interface TcpProxy {
  readonly host: string;
  /** The proxy's own port; it keeps it across cut() and restore(). */
  readonly port: number;
  /** How long each chunk from the client waits before it is forwarded (0: at once); may change any time. */
  delayMs: number;
  /** Chunks received from clients so far (to see that a request reached the line). */
  readonly chunksIn: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Whether the line is cut. */
  readonly isCut: boolean;
  /**
   * Cuts the line: every open connection is destroyed at once and new ones fail. 'refuse' stops
   * listening (connect gets ECONNREFUSED, as from a stopped server); 'reset' accepts and drops
   * each new connection at once (as from a crashing one).
   */
  cut(mode?: 'refuse' | 'reset'): Promise<void>;
  /** Forwards again (same port). */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: TcpTarget, options: { delayMs?: number } = {}): Promise<TcpProxy> {
  const host = '127.0.0.1';
  const sockets = new Set<net.Socket>();
  let cutMode: 'refuse' | 'reset' | null = null;
  let closed = false;
  let chunksIn = 0;
  let accepted = 0;

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  const server = net.createServer((client) => {
    accepted += 1;
    track(client);
    client.on('error', () => undefined);
    if (cutMode !== null || closed) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    upstream.on('data', (chunk: Buffer) => {
      if (!client.destroyed) client.write(chunk);
    });
    // Chunks keep their order: each waits for the one before it, then for the delay.
    let queue = Promise.resolve();
    client.on('data', (chunk: Buffer) => {
      chunksIn += 1;
      const wait = proxy.delayMs;
      if (wait <= 0) {
        queue = queue.then(() => {
          if (!upstream.destroyed) upstream.write(chunk);
        });
        return;
      }
      queue = queue.then(
        () =>
          new Promise<void>((resolve) => {
            setTimeout(() => {
              if (!upstream.destroyed) upstream.write(chunk);
              resolve();
            }, wait);
          }),
      );
    });
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

  await listen(0);
  const port = (server.address() as net.AddressInfo).port;

  const proxy: TcpProxy = {
    host,
    port,
    delayMs: options.delayMs ?? 0,
    get chunksIn() {
      return chunksIn;
    },
    get accepted() {
      return accepted;
    },
    get isCut() {
      return cutMode !== null;
    },
    async cut(mode = 'refuse') {
      cutMode = mode;
      for (const socket of sockets) socket.destroy();
      if (mode === 'refuse') {
        // close() waits for the connections, which are being destroyed above.
        await stopListening();
      }
    },
    async restore() {
      if (closed) throw new Error('the proxy is closed');
      if (!server.listening) await listen(port);
      cutMode = null;
    },
    async close() {
      closed = true;
      for (const socket of sockets) socket.destroy();
      await stopListening();
    },
  };
  return proxy;
}
