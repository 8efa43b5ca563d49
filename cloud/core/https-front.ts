import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { CloudFaults, RequestEffects } from './faults.js';

/**
 * HttpsFront is the transport every cloud front shares: an HTTPS server on 127.0.0.1 (TLS ≥ 1.2) that applies the
 * connection faults (unreachable, TLS failure) as connections arrive, and offers the request faults a front applies
 * itself (latency, hang, reset). The front's own handler speaks the cloud's API.
 */
export class HttpsFront {
  readonly server: Server;
  private readonly sockets = new Set<Socket>();
  // The TCP socket under each TLS connection, by client port: a reset must go to it (a TLS socket cannot send one).
  private readonly tcpByPort = new Map<number, Socket>();

  constructor(
    private readonly faults: CloudFaults,
    tls: { key: string; cert: string },
    handler: (req: IncomingMessage, res: ServerResponse) => void,
  ) {
    this.server = createServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' }, handler);
    // Kept-alive connections would otherwise go on serving a client that opened them before the address went dark.
    faults.onCut(() => {
      for (const s of this.sockets) s.resetAndDestroy();
    });
    this.server.on('connection', (socket: Socket) => {
      const fault = this.faults.onConnection();
      if (fault === 'unreachable') return socket.resetAndDestroy();
      if (fault === 'tls-failure') {
        // Bytes that are not a TLS record: the client's handshake fails.
        socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
        return;
      }
      this.sockets.add(socket);
      const port = socket.remotePort!;
      this.tcpByPort.set(port, socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (this.tcpByPort.get(port) === socket) this.tcpByPort.delete(port);
      });
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  /** listenOn takes the asked port, else the one used last time (clients keep their endpoint across a restart), else any. */
  async listenOn(asked: number, last: number | undefined): Promise<number> {
    if (asked !== 0 || last === undefined) return this.listen(asked);
    try {
      return await this.listen(last);
    } catch {
      return this.listen(0);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** reset ends a connection with a TCP RST, as a peer or middlebox that drops it does. */
  reset(req: IncomingMessage): void {
    const tcp = this.tcpByPort.get(req.socket.remotePort!);
    if (tcp) tcp.resetAndDestroy();
    else req.socket.destroy();
  }

  /**
   * faulted applies a request's faults in the order every front uses: latency and hang, then a reset, then the
   * answers that refuse it (region outage, an injected error, throttling), thrown in the cloud's own words. True when
   * nothing is left to answer (the client went away, or the connection was reset).
   */
  async faulted(
    effects: RequestEffects,
    req: IncomingMessage,
    refuse: {
      outage(): Error;
      injected(e: { status: number; code?: string; message?: string }): Error;
      throttled(): Error;
    },
  ): Promise<boolean> {
    if (await this.held(effects, req)) return true;
    if (effects.reset) {
      this.reset(req);
      return true;
    }
    if (effects.outage) throw refuse.outage();
    if (effects.error) throw refuse.injected(effects.error);
    if (effects.throttle) throw refuse.throttled();
    return false;
  }

  /** held applies latency and hang faults; true when the client went away meanwhile (nothing left to answer). */
  async held(effects: RequestEffects, req: IncomingMessage): Promise<boolean> {
    if (effects.delayMs === 0 && !effects.hang) return false;
    // One listener per held request, removed after: keep-alive sockets carry many requests.
    let onClose!: () => void;
    const gone = new Promise<void>((resolve) => (onClose = resolve));
    req.socket.once('close', onClose);
    try {
      if (effects.delayMs > 0) await Promise.race([sleep(effects.delayMs), gone]);
      while (effects.hang && this.faults.stillHanging(effects.hang) && !req.socket.destroyed)
        await Promise.race([this.faults.released, gone]);
    } finally {
      req.socket.off('close', onClose);
    }
    return req.socket.destroyed;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** readBody reads a request body of at most `max` bytes (a larger one is refused: the caller drops the connection). */
export function readBody(req: IncomingMessage, max = 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
