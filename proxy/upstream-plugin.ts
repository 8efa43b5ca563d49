import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status as GrpcStatus,
  type ServiceError,
} from '@grpc/grpc-js';
import { KmsCallError, type CallOptions, type KmsMethod, type KmsPlugin } from '../fake-kms/index.js';
import {
  KeyManagementServiceClient,
  KeyManagementServiceService,
  type DecryptRequest,
  type DecryptResponse,
  type EncryptRequest,
  type EncryptResponse,
  type StatusResponse,
} from '../gen/kms/v2/service.js';
import { decodeNotingUtf8, invalidUtf8Fields } from './utf8-answers.js';

/**
 * What to do with an answer whose string fields are not valid UTF-8. kube-apiserver's Go protobuf refuses such a
 * message ("string field contains invalid UTF-8"), so to the apiserver the call fails with INTERNAL:
 * - `refuse` (the default): fail the call the same way, so whoever is behind this client sees what the apiserver
 *   would; the bytes are never "repaired" into U+FFFD and passed on as if the plugin had sent valid text;
 * - `note`: decode leniently (U+FFFD) and record the call in `invalidUtf8`, for conformance to report.
 */
export type InvalidUtf8Handling = 'refuse' | 'note';

/** InvalidUtf8Answer is the failure `refuse` gives: the plugin answered, with bytes the apiserver cannot decode. */
export class InvalidUtf8Answer extends KmsCallError {
  constructor(
    readonly method: KmsMethod,
    readonly fields: string[],
  ) {
    super(
      GrpcStatus.INTERNAL,
      `grpc: failed to unmarshal the received message: string field contains invalid UTF-8 (the plugin's ${method} answer has invalid UTF-8 in ${fields.join(', ')}; kube-apiserver's Go protobuf refuses it, so kmslab does too)`,
    );
    this.name = 'InvalidUtf8Answer';
  }
}

/** What transport failures look like from grpc-js: nobody answered on the socket (as opposed to a refusal). */
const TRANSPORT =
  /No connection established|failed to connect|Connection dropped|Connection closed|ECONNREFUSED|ECONNRESET|EPIPE|ENOENT/i;

/** isTransportFailure: the call got no answer from a plugin at all (socket gone, connection refused or dropped). */
export function isTransportFailure(error: unknown): boolean {
  return (
    error instanceof KmsCallError &&
    !(error instanceof InvalidUtf8Answer) &&
    error.code === GrpcStatus.UNAVAILABLE &&
    TRANSPORT.test(error.message)
  );
}

// The generated client, with response decoders that see invalid UTF-8 instead of silently replacing it.
const NotingClient = makeGenericClientConstructor(
  {
    status: { ...KeyManagementServiceService.status, responseDeserialize: decodeNotingUtf8('Status') },
    decrypt: { ...KeyManagementServiceService.decrypt, responseDeserialize: decodeNotingUtf8('Decrypt') },
    encrypt: { ...KeyManagementServiceService.encrypt, responseDeserialize: decodeNotingUtf8('Encrypt') },
  },
  'v2.KeyManagementService',
) as unknown as typeof KeyManagementServiceClient;

const MAX_NOTED = 100;

/**
 * UpstreamPlugin is another KMS v2 plugin reached over its unix socket, as the apiserver would reach it: each call
 * carries the caller's deadline (or `timeoutMs` when it has none), so a forwarded call gives up when the
 * apiserver's does; the plugin's own gRPC errors come back with their code and text. Answers with invalid UTF-8
 * are handled as `invalidUtf8` says (default: refused, as the apiserver refuses them).
 */
export class UpstreamPlugin implements KmsPlugin {
  private readonly client: KeyManagementServiceClient;
  private readonly handling: InvalidUtf8Handling;
  /** In `note` mode: the answers so far whose string fields were not valid UTF-8 (the first 100). */
  readonly invalidUtf8: Array<{ method: KmsMethod; fields: string[] }> = [];

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 30_000,
    options: { invalidUtf8?: InvalidUtf8Handling } = {},
  ) {
    this.handling = options.invalidUtf8 ?? 'refuse';
    this.client = new NotingClient(`unix://${socketPath}`, credentials.createInsecure(), {
      // What kube-apiserver 1.32+ sends; grpc-js would otherwise derive it from the socket path.
      'grpc.default_authority': 'localhost',
    });
  }

  status(options?: CallOptions): Promise<StatusResponse> {
    return this.unary('Status', (cb, o) => this.client.status({}, new Metadata(), o, cb), options);
  }

  encrypt(request: EncryptRequest, options?: CallOptions): Promise<EncryptResponse> {
    return this.unary('Encrypt', (cb, o) => this.client.encrypt(request, new Metadata(), o, cb), options);
  }

  decrypt(request: DecryptRequest, options?: CallOptions): Promise<DecryptResponse> {
    return this.unary('Decrypt', (cb, o) => this.client.decrypt(request, new Metadata(), o, cb), options);
  }

  close(): void {
    this.client.close();
  }

  private unary<T extends object>(
    method: KmsMethod,
    send: (cb: (error: ServiceError | null, response: T) => void, options: { deadline: number }) => void,
    options: CallOptions = {},
  ): Promise<T> {
    return new Promise((resolve, reject) =>
      send(
        (error, response) => {
          if (error) {
            reject(new KmsCallError(error.code ?? GrpcStatus.UNKNOWN, error.details ?? error.message));
            return;
          }
          const fields = invalidUtf8Fields(response);
          if (fields && this.handling === 'refuse') {
            reject(new InvalidUtf8Answer(method, fields));
            return;
          }
          if (fields && this.invalidUtf8.length < MAX_NOTED) this.invalidUtf8.push({ method, fields });
          resolve(response);
        },
        { deadline: options.deadline ?? Date.now() + this.timeoutMs },
      ),
    );
  }
}
