import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ConnectionInjector,
  type sendUnaryData,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { KeyManagementServiceService } from '../gen/kms/v2/service.js';
import type { KmsMethod } from './faults.js';
import { KmsCallError, type CallOptions } from './plugin.js';
import type { KmsService } from './service.js';
import { peerOfFd, type SocketPeer } from './socket-peer.js';

/** Limits on what a client of the socket may hold; the apiserver needs one connection and tiny messages. */
export interface ListenerLimits {
  /** Connections beyond this are refused. Default 256. */
  maxConnections: number;
  /** A connection that sends nothing for this long is closed (the apiserver calls Status at least every minute). Default 2 min. */
  idleMs: number;
  /** Requests larger than this are refused with INVALID_ARGUMENT (and audited). Default 64 KiB. */
  maxRequestBytes: number;
}

const DEFAULT_LIMITS: ListenerLimits = { maxConnections: 256, idleMs: 120_000, maxRequestBytes: 64 * 1024 };

// A request that could not be decoded travels to the handler as this, so it is answered and audited like any call.
class Undecodable {
  constructor(
    readonly bytes: number,
    readonly reason: string,
  ) {}
}

/**
 * GrpcListener serves a KmsService as `v2.KeyManagementService` on a unix socket. It owns the socket's
 * connections (grpc-js only speaks HTTP/2 on them), so it can bound how many there are, close those that go quiet
 * (a client that half-closes or sends garbage is otherwise kept open forever), and drop them all at once when
 * closed — which is how "the plugin is down" looks to the apiserver: the socket file disappears.
 */
export class GrpcListener {
  private grpc: Server | undefined;
  private injector: ConnectionInjector | undefined;
  private net: NetServer | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly sockets = new Map<Socket, { bytesRead: number; quietSince: number }>();
  // Who is at the other end of each connection, by the label grpc-js reports as the call's peer (a unix socket has
  // no remote address of its own): looked up at the connection's first call, then kept for the rest of its calls.
  // A connection that never calls (a flood of them) costs no lookup.
  private readonly peers = new Map<string, { fd: number | undefined; peer?: Promise<SocketPeer | undefined> }>();
  private connectionCount = 0;
  private readonly limits: ListenerLimits;

  constructor(
    private readonly service: KmsService,
    readonly socketPath: string,
    limits: Partial<ListenerLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  get listening(): boolean {
    return this.net !== undefined;
  }

  /** connections counts the open client connections. */
  get connections(): number {
    return this.sockets.size;
  }

  async open(): Promise<void> {
    if (this.net) return;
    await rm(this.socketPath, { force: true });
    // Quiet connections are closed by sweep() below, not by grpc-js's max_connection_idle_ms: that option re-arms a
    // timer and builds a trace message on every call, about 4% of a call's cost.
    const grpc = new Server();
    grpc.addService(
      tolerantDefinition(this.limits.maxRequestBytes),
      handlers(this.service, (label) => this.peerOf(label)),
    );
    const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure());
    const net = createServer((socket) => {
      this.sockets.set(socket, { bytesRead: 0, quietSince: Date.now() });
      const label = `unix-connection-${++this.connectionCount}`;
      Object.defineProperty(socket, 'remoteAddress', { value: label });
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      this.peers.set(label, { fd: fd === undefined || fd < 0 ? undefined : fd });
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.peers.delete(label);
      });
      socket.on('error', () => undefined); // a client vanishing mid-call is its own business
      injector.injectConnection(socket);
    });
    net.maxConnections = this.limits.maxConnections;
    await new Promise<void>((resolve, reject) => {
      net.once('error', reject);
      net.listen(this.socketPath, () => resolve());
    });
    await chmod(this.socketPath, 0o600);
    this.grpc = grpc;
    this.injector = injector;
    this.net = net;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, this.limits.idleMs / 2)).unref();
  }

  private peerOf(label: string): Promise<SocketPeer | undefined> | undefined {
    const connection = this.peers.get(label);
    if (!connection || connection.fd === undefined) return undefined;
    return (connection.peer ??= peerOfFd(connection.fd));
  }

  /** close drops the listener and every open connection at once, like a crashed plugin, and removes the socket. */
  async close(): Promise<void> {
    const net = this.net;
    if (!net) {
      await rm(this.socketPath, { force: true });
      return;
    }
    this.net = undefined;
    clearInterval(this.sweeper);
    net.close();
    for (const socket of this.sockets.keys()) socket.destroy();
    this.sockets.clear();
    this.peers.clear();
    this.injector?.destroy();
    this.grpc?.forceShutdown();
    await rm(this.socketPath, { force: true });
  }

  // Bytes read are counted below the HTTP/2 layer, so they show any sign of life, whatever the client speaks.
  private sweep(): void {
    const now = Date.now();
    for (const [socket, seen] of this.sockets) {
      const read = socket.bytesRead;
      if (read !== seen.bytesRead) {
        seen.bytesRead = read;
        seen.quietSince = now;
      } else if (now - seen.quietSince >= this.limits.idleMs) socket.destroy();
    }
  }
}

// The generated service definition, with deserializers that never throw: a bad request reaches the handler as
// Undecodable instead of being answered INTERNAL by grpc-js behind the audit trail's back.
function tolerantDefinition(maxRequestBytes: number) {
  const tolerant = <D extends { requestDeserialize: (b: Buffer) => unknown }>(method: D) => ({
    ...method,
    requestDeserialize: (buffer: Buffer) => {
      if (buffer.length > maxRequestBytes) {
        return new Undecodable(buffer.length, `request is ${buffer.length} bytes; at most ${maxRequestBytes} accepted`);
      }
      try {
        return method.requestDeserialize(buffer);
      } catch (error) {
        return new Undecodable(buffer.length, `request is not a valid protobuf message: ${(error as Error).message}`);
      }
    },
  });
  const s = KeyManagementServiceService;
  return { status: tolerant(s.status), encrypt: tolerant(s.encrypt), decrypt: tolerant(s.decrypt) };
}

// The service answers only once a call's audit record is on file (group commit); the handlers pass its answers on.
function handlers(
  service: KmsService,
  peerOf: (label: string) => Promise<SocketPeer | undefined> | undefined,
): UntypedServiceImplementation {
  const unary =
    (method: KmsMethod, fn: (request: never, options: CallOptions) => Promise<unknown>) =>
    (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const fail = (error: { code?: number; message: string }) =>
        callback({ code: error.code, details: error.message });
      if (call.request instanceof Undecodable) {
        const failure = new KmsCallError(GrpcStatus.INVALID_ARGUMENT, call.request.reason);
        service.refused(method, call.request.bytes, failure).then(() => fail(failure), fail);
        return;
      }
      const deadline = call.getDeadline();
      const ms = deadline instanceof Date ? deadline.getTime() : deadline;
      const peer = peerOf(call.getPeer());
      fn(call.request as never, { ...(Number.isFinite(ms) ? { deadline: ms } : {}), ...(peer ? { peer } : {}) }).then(
        (response) => callback(null, response),
        fail,
      );
    };
  return {
    status: unary('Status', (_, options) => service.status(options)),
    encrypt: unary('Encrypt', (request, options) => service.encrypt(request, options)),
    decrypt: unary('Decrypt', (request, options) => service.decrypt(request, options)),
  };
}
