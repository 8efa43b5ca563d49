import type { SocketPeer } from './socket-peer.js';
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  StatusResponse,
} from '../gen/kms/v2/service.js';

/** KmsCallError is a gRPC failure a plugin answers with; `code` is a grpc-js status number. */
export class KmsCallError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'KmsCallError';
  }
}

/** CallOptions carry what the caller's call had: its deadline, so a forwarded call gives up when the caller does. */
export interface CallOptions {
  /** Epoch milliseconds; none means no deadline. */
  deadline?: number;
  /** The process at the other end of the caller's socket connection, for the audit trail (looked up once per connection). */
  peer?: Promise<SocketPeer | undefined>;
}

/**
 * KmsPlugin is the KMS v2 API without its transport: what answers the three calls. The fake KMS answers from its
 * keyring; the proxy forwards to another plugin's socket. Failures reject with KmsCallError.
 */
export interface KmsPlugin {
  status(options?: CallOptions): Promise<StatusResponse>;
  encrypt(request: EncryptRequest, options?: CallOptions): Promise<EncryptResponse>;
  decrypt(request: DecryptRequest, options?: CallOptions): Promise<DecryptResponse>;
}
