import { status as GrpcStatus } from '@grpc/grpc-js';
import { KeyringError, type Keyring } from '../sim/index.js';
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  StatusResponse,
} from '../gen/kms/v2/service.js';
import { DEFAULT_HEALTH_STYLE, type HealthStyle } from './names.js';
import { KmsCallError, type KmsPlugin } from './plugin.js';

/** DisabledKeyStatus is the health style under its first name (the setting is still called disabledKeyStatus). */
export type DisabledKeyStatus = HealthStyle;

/**
 * What one request may carry. The apiserver sends a UUID as uid, a 32-byte DEK seed to Encrypt and at most 1 KiB of
 * ciphertext and key_id to Decrypt (it refuses larger ones itself); anything far beyond that is refused rather than
 * kept in memory and in the audit trail.
 */
export const REQUEST_LIMITS = { uidBytes: 128, plaintextBytes: 4096, ciphertextBytes: 4096 + 64, keyIdBytes: 1024 };

const ERROR_CODES: Record<KeyringError['code'], number> = {
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  DISABLED: GrpcStatus.FAILED_PRECONDITION,
  DESTROYED: GrpcStatus.FAILED_PRECONDITION,
  INVALID_CIPHERTEXT: GrpcStatus.INVALID_ARGUMENT,
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
};

/** KeyringPlugin answers the KMS v2 calls from a keyring, as a cloud KMS would: the fake KMS's own behaviour. */
export class KeyringPlugin implements KmsPlugin {
  /** keyring is replaced only by FakeKms when a persisted change has to be rolled back. */
  keyring: Keyring;
  disabledKeyStatus: DisabledKeyStatus;

  constructor(options: { keyring: Keyring; disabledKeyStatus?: DisabledKeyStatus }) {
    this.keyring = options.keyring;
    this.disabledKeyStatus = options.disabledKeyStatus ?? DEFAULT_HEALTH_STYLE;
  }

  status(): Promise<StatusResponse> {
    return answer(() => {
      const primary = this.keyring.primary;
      let healthz = 'ok';
      if (primary.state !== 'enabled') {
        const problem = `key_id ${primary.keyId} is ${primary.state}`;
        if (this.disabledKeyStatus === 'fail-rpc') throw new KmsCallError(GrpcStatus.FAILED_PRECONDITION, problem);
        healthz = problem;
      }
      return { version: 'v2', healthz, keyId: primary.keyId };
    });
  }

  encrypt(request: EncryptRequest): Promise<EncryptResponse> {
    return answer(() => {
      requireUid(request.uid);
      requireSize('plaintext', request.plaintext.length, 1, REQUEST_LIMITS.plaintextBytes);
      const wrapped = this.keyring.wrap(request.plaintext);
      return {
        ciphertext: wrapped.ciphertext,
        keyId: wrapped.keyId,
        annotations: { 'key-version.kmslab.test': Buffer.from(String(this.keyring.primary.version)) },
      };
    });
  }

  decrypt(request: DecryptRequest): Promise<DecryptResponse> {
    return answer(() => {
      requireUid(request.uid);
      requireSize('ciphertext', request.ciphertext.length, 1, REQUEST_LIMITS.ciphertextBytes);
      requireSize('key_id', Buffer.byteLength(request.keyId), 1, REQUEST_LIMITS.keyIdBytes);
      return { plaintext: this.keyring.unwrap(request.ciphertext, request.keyId) };
    });
  }
}

// Keyring answers are synchronous; errors become gRPC codes.
function answer<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (error) {
    if (error instanceof KeyringError) return Promise.reject(new KmsCallError(ERROR_CODES[error.code], error.message));
    return Promise.reject(error as Error);
  }
}

function requireUid(uid: string): void {
  if (!uid)
    throw new KmsCallError(GrpcStatus.INVALID_ARGUMENT, 'uid is empty: the apiserver sends a fresh UUID per call');
  requireSize('uid', Buffer.byteLength(uid), 1, REQUEST_LIMITS.uidBytes);
}

function requireSize(field: string, bytes: number, min: number, max: number): void {
  if (bytes < min) throw new KmsCallError(GrpcStatus.INVALID_ARGUMENT, `${field} is empty`);
  if (bytes > max) {
    throw new KmsCallError(
      GrpcStatus.INVALID_ARGUMENT,
      `${field} is ${bytes} bytes; this plugin accepts at most ${max} (the apiserver sends far less)`,
    );
  }
}
