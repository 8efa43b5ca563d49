import { dirname } from 'node:path';
import type { ControlTarget, KeyControl } from './control-api.js';
import { GrpcListener, type ListenerLimits } from './grpc-server.js';
import type { KmsService } from './service.js';
import { privateDir, serveControl, type ControlServer } from './sockets.js';

/** Where an endpoint serves: the gRPC socket the apiserver dials, and optionally the control API's. */
export interface EndpointSockets {
  socketPath: string;
  controlSocketPath?: string;
  limits?: Partial<ListenerLimits>;
}

/**
 * KmsEndpoint is a KmsService served where the apiserver can reach it: a gRPC socket that can be taken away and
 * given back, and a control API beside it. The fake KMS and the proxy are both one; they differ in what answers.
 */
export abstract class KmsEndpoint implements ControlTarget, AsyncDisposable {
  private control: ControlServer | undefined;
  protected readonly listener: GrpcListener;
  keys?: KeyControl;

  protected constructor(
    readonly service: KmsService,
    sockets: EndpointSockets,
  ) {
    this.listener = new GrpcListener(service, sockets.socketPath, sockets.limits);
  }

  /** privateDirs makes the sockets' directories (0700), or refuses existing ones that others can enter. */
  protected static async privateDirs(sockets: EndpointSockets): Promise<void> {
    await privateDir(dirname(sockets.socketPath));
    if (sockets.controlSocketPath) await privateDir(dirname(sockets.controlSocketPath));
  }

  abstract describe(): unknown | Promise<unknown>;

  get socketPath(): string {
    return this.listener.socketPath;
  }

  /** connections counts the clients connected to the gRPC socket. */
  get connections(): number {
    return this.listener.connections;
  }

  /** startPlugin (re)creates the gRPC socket; the control API and the state behind it are untouched. */
  startPlugin(): Promise<void> {
    return this.listener.open();
  }

  /** stopPlugin removes the gRPC socket and drops every connection: to the apiserver, the plugin is gone. */
  stopPlugin(): Promise<void> {
    return this.listener.close();
  }

  /** serve opens the gRPC socket and the control API; if either fails, what was opened is closed again. */
  protected async serve(controlSocketPath: string | undefined): Promise<void> {
    try {
      await this.startPlugin();
      if (controlSocketPath) this.control = await serveControl(this, controlSocketPath);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.service.faults.clear();
    await this.listener.close();
    await this.control?.close();
    this.control = undefined;
    await this.closeMore();
    await this.service.audit.close();
  }

  /** closeMore releases what a subclass holds besides the service and its sockets. */
  protected async closeMore(): Promise<void> {}

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
