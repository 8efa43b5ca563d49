import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { KmsCallError, type CallOptions, type KmsPlugin } from '../fake-kms/index.js';
import {
  KeyManagementServiceClient,
  type DecryptRequest,
  type DecryptResponse,
  type EncryptRequest,
  type EncryptResponse,
  type StatusResponse,
} from '../gen/kms/v2/service.js';

/**
 * UpstreamPlugin is another KMS v2 plugin reached over its unix socket, as the apiserver would reach it: each call
 * carries the caller's deadline (or `timeoutMs` when it has none), so a forwarded call gives up when the
 * apiserver's does; the plugin's own gRPC errors come back with their code and text.
 */
export class UpstreamPlugin implements KmsPlugin {
  private readonly client: KeyManagementServiceClient;

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
  ) {
    this.client = new KeyManagementServiceClient(`unix://${socketPath}`, credentials.createInsecure(), {
      // What kube-apiserver 1.32+ sends; grpc-js would otherwise derive it from the socket path.
      'grpc.default_authority': 'localhost',
    });
  }

  status(options?: CallOptions): Promise<StatusResponse> {
    return this.unary((cb, o) => this.client.status({}, new Metadata(), o, cb), options);
  }

  encrypt(request: EncryptRequest, options?: CallOptions): Promise<EncryptResponse> {
    return this.unary((cb, o) => this.client.encrypt(request, new Metadata(), o, cb), options);
  }

  decrypt(request: DecryptRequest, options?: CallOptions): Promise<DecryptResponse> {
    return this.unary((cb, o) => this.client.decrypt(request, new Metadata(), o, cb), options);
  }

  close(): void {
    this.client.close();
  }

  private unary<T>(
    send: (cb: (error: ServiceError | null, response: T) => void, options: { deadline: number }) => void,
    options: CallOptions = {},
  ): Promise<T> {
    return new Promise((resolve, reject) =>
      send(
        (error, response) =>
          error
            ? reject(new KmsCallError(error.code ?? GrpcStatus.UNKNOWN, error.details ?? error.message))
            : resolve(response),
        { deadline: options.deadline ?? Date.now() + this.timeoutMs },
      ),
    );
  }
}
