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

/**
 * KmsPlugin is the KMS v2 API without its transport: what answers the three calls. The fake KMS answers from its
 * keyring; the proxy forwards to another plugin's socket. Failures reject with KmsCallError.
 */
export interface KmsPlugin {
  status(): Promise<StatusResponse>;
  encrypt(request: EncryptRequest): Promise<EncryptResponse>;
  decrypt(request: DecryptRequest): Promise<DecryptResponse>;
}
