import { status as GrpcStatus } from '@grpc/grpc-js';
import { KeyringError, type Keyring } from '../sim/index.js';
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  StatusResponse,
} from '../gen/kms/v2/service.js';
import { AuditTrail } from './audit.js';
import { Faults, type Effects, type KmsMethod } from './faults.js';

/** KmsCallError is a gRPC failure the service answers with; `code` is a grpc-js status number. */
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
 * How Status answers when the active key's primary version is disabled or destroyed:
 * - `unhealthy`: a response with healthz naming the problem and the same key_id. The apiserver keeps extending
 *   its write key on such a Status, so writes go on (kubernetes/kubernetes#138950) — what most cloud plugins do.
 * - `error`: a FAILED_PRECONDITION gRPC error, so the apiserver's write key expires after 3 minutes.
 */
export type DisabledKeyStatus = 'unhealthy' | 'error';

export interface KmsServiceOptions {
  keyring: Keyring;
  faults?: Faults;
  audit?: AuditTrail;
  disabledKeyStatus?: DisabledKeyStatus;
  /** Clock in epoch milliseconds (fractions allowed) for audit times and latencies; defaults to real time. */
  now?: () => number;
  /** How added latency waits; defaults to a real timer (the sim backend passes its virtual clock). */
  sleep?: (ms: number) => Promise<void>;
}

const ERROR_CODES: Record<KeyringError['code'], number> = {
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  DISABLED: GrpcStatus.FAILED_PRECONDITION,
  DESTROYED: GrpcStatus.FAILED_PRECONDITION,
  INVALID_CIPHERTEXT: GrpcStatus.INVALID_ARGUMENT,
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
};

const codeName = (code: number): string => GrpcStatus[code] ?? String(code);

/**
 * KmsService is the KMS v2 plugin's behaviour, independent of transport: the keyring answers, faults
 * distort, and every call lands in the audit trail.
 */
export class KmsService {
  /** keyring is replaced only by FakeKms when a persisted change has to be rolled back. */
  keyring: Keyring;
  readonly faults: Faults;
  readonly audit: AuditTrail;
  disabledKeyStatus: DisabledKeyStatus;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: KmsServiceOptions) {
    this.keyring = options.keyring;
    this.faults = options.faults ?? new Faults();
    this.audit = options.audit ?? new AuditTrail();
    this.disabledKeyStatus = options.disabledKeyStatus ?? 'unhealthy';
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  status(): Promise<StatusResponse> {
    return this.call('Status', '', 0, (fx) => {
      const primary = this.keyring.primary;
      let healthz = 'ok';
      if (primary.state !== 'enabled') {
        const problem = `key_id ${primary.keyId} is ${primary.state}`;
        if (this.disabledKeyStatus === 'error') throw new KmsCallError(GrpcStatus.FAILED_PRECONDITION, problem);
        healthz = problem;
      }
      const response: StatusResponse = {
        version: fx.version ?? 'v2',
        healthz: fx.healthz ?? healthz,
        keyId: fx.keyId ?? primary.keyId,
      };
      return { response, keyId: response.keyId, bytes: byteLength(response) };
    });
  }

  encrypt(request: EncryptRequest): Promise<EncryptResponse> {
    // A refused Encrypt is audited under the key_id it was asked to use (the active primary).
    const intended = this.keyring.primary.keyId;
    return this.call(
      'Encrypt',
      request.uid,
      request.plaintext.length,
      (fx) => {
        requireUid(request.uid);
        if (request.plaintext.length === 0) throw new KmsCallError(GrpcStatus.INVALID_ARGUMENT, 'plaintext is empty');
        const wrapped = this.keyring.wrap(request.plaintext);
        const primary = this.keyring.primary;
        const response: EncryptResponse = {
          ciphertext: wrapped.ciphertext,
          keyId: fx.keyId ?? wrapped.keyId,
          annotations: fx.annotations
            ? mapValues(fx.annotations, (v) => Buffer.from(v))
            : { 'key-version.kmslab.test': Buffer.from(String(primary.version)) },
        };
        return { response, keyId: response.keyId, bytes: byteLength(response) };
      },
      intended,
    );
  }

  decrypt(request: DecryptRequest): Promise<DecryptResponse> {
    return this.call(
      'Decrypt',
      request.uid,
      request.ciphertext.length,
      () => {
        requireUid(request.uid);
        if (request.ciphertext.length === 0) throw new KmsCallError(GrpcStatus.INVALID_ARGUMENT, 'ciphertext is empty');
        if (!request.keyId) throw new KmsCallError(GrpcStatus.INVALID_ARGUMENT, 'key_id is empty');
        const response: DecryptResponse = { plaintext: this.keyring.unwrap(request.ciphertext, request.keyId) };
        return { response, keyId: request.keyId, bytes: response.plaintext.length };
      },
      request.keyId,
    );
  }

  // Calls without latency or hang faults are answered synchronously: no timer, no extra promise hop.
  private call<T>(
    method: KmsMethod,
    uid: string,
    requestBytes: number,
    answer: (fx: Effects) => { response: T; keyId: string; bytes: number },
    requestKeyId = '',
  ): Promise<T> {
    const started = this.now();
    const time = new Date(this.now()).toISOString();
    const fx = this.faults.effects(method);
    const finish = (): T => {
      let keyId = requestKeyId;
      let responseBytes = 0;
      let code: number = GrpcStatus.OK;
      let message: string | undefined;
      try {
        if (fx.error) throw new KmsCallError(fx.error.code, fx.error.message);
        const result = answer(fx);
        keyId = result.keyId;
        responseBytes = result.bytes;
        return result.response;
      } catch (error) {
        const failure = toCallError(error);
        code = failure.code;
        message = failure.message;
        throw failure;
      } finally {
        this.audit.record({
          time,
          method,
          uid,
          keyId,
          code: codeName(code),
          latencyMs: Math.round((this.now() - started) * 1000) / 1000,
          requestBytes,
          responseBytes,
          faults: fx.faultIds,
          ...(message === undefined ? {} : { message }),
        });
      }
    };
    if (fx.delayMs === 0 && fx.hang === undefined) {
      try {
        return Promise.resolve(finish());
      } catch (error) {
        return Promise.reject(error as Error);
      }
    }
    return (async () => {
      if (fx.delayMs > 0) await this.sleep(fx.delayMs);
      while (fx.hang !== undefined && this.faults.stillHanging(fx.hang)) await this.faults.released;
      return finish();
    })();
  }
}

function requireUid(uid: string): void {
  if (!uid)
    throw new KmsCallError(GrpcStatus.INVALID_ARGUMENT, 'uid is empty: the apiserver sends a fresh UUID per call');
}

function toCallError(error: unknown): KmsCallError {
  if (error instanceof KmsCallError) return error;
  if (error instanceof KeyringError) return new KmsCallError(ERROR_CODES[error.code], error.message);
  return new KmsCallError(GrpcStatus.INTERNAL, `fake-kms internal error: ${(error as Error)?.message ?? error}`);
}

function mapValues<A, B>(record: Record<string, A>, f: (a: A) => B): Record<string, B> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, f(v)]));
}

function byteLength(response: StatusResponse | EncryptResponse): number {
  if ('ciphertext' in response) return response.ciphertext.length;
  return Buffer.byteLength(response.version + response.healthz + response.keyId);
}
