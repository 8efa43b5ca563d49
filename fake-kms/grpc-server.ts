import { chmod, rm } from 'node:fs/promises';
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { KeyManagementServiceService, type KeyManagementServiceServer } from '../gen/kms/v2/service.js';
import type { KmsService } from './service.js';

/**
 * GrpcListener serves a KmsService as `v2.KeyManagementService` on a unix socket. It can be closed and
 * opened again, which is how "the plugin is down" looks to the apiserver: the socket file disappears.
 */
export class GrpcListener {
  private server: Server | undefined;

  constructor(
    private readonly service: KmsService,
    readonly socketPath: string,
  ) {}

  get listening(): boolean {
    return this.server !== undefined;
  }

  async open(): Promise<void> {
    if (this.server) return;
    await rm(this.socketPath, { force: true });
    const server = new Server();
    server.addService(KeyManagementServiceService, handlers(this.service));
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${this.socketPath}`, ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await chmod(this.socketPath, 0o600);
    this.server = server;
  }

  /** close drops the listener and every open connection at once, like a crashed plugin, and removes the socket. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
    await rm(this.socketPath, { force: true });
  }
}

function handlers(service: KmsService): KeyManagementServiceServer {
  const unary =
    <Req, Res>(fn: (request: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      fn(call.request).then(
        (response) => callback(null, response),
        (error: { code?: number; message: string }) => callback({ code: error.code, details: error.message }),
      );
    };
  return {
    status: unary(() => service.status()),
    encrypt: unary((request) => service.encrypt(request)),
    decrypt: unary((request) => service.decrypt(request)),
  };
}
