import { status as GrpcStatus } from '@grpc/grpc-js';
import type {
  DecryptRequest,
  DecryptResponse,
  EncryptRequest,
  EncryptResponse,
  StatusResponse,
} from '../gen/kms/v2/service.js';
import { AuditTrail, auditTime } from './audit.js';
import type { SocketPeer } from './socket-peer.js';
import { Faults, type Effects, type KmsMethod } from './faults.js';
import { KmsCallError, type CallOptions, type KmsPlugin } from './plugin.js';

export interface KmsServiceOptions {
  /** What answers the calls: the fake's keyring, or another plugin behind the proxy. */
  plugin: KmsPlugin;
  faults?: Faults;
  audit?: AuditTrail;
  /** The key_id a refused Encrypt is audited under (the one it was asked to use), when the plugin knows it. */
  intendedKeyId?: () => string;
  /** Clock in epoch milliseconds (fractions allowed) for audit times and latencies; defaults to real time. */
  now?: () => number;
  /** How added latency waits; defaults to a real timer (the sim backend passes its virtual clock). */
  sleep?: (ms: number) => Promise<void>;
  /** Says why kube-apiserver will refuse an answer (as it leaves, faults applied), for the audit trail. */
  judge?: (method: KmsMethod, answer: { response: unknown } | { error: KmsCallError }) => string | undefined;
}

const codeName = (code: number): string => GrpcStatus[code] ?? String(code);

interface CallMeta {
  uid: string;
  requestBytes: number;
  keyId: string;
  /** Resolved once per connection: only a connection's first calls wait for it, and only to write their record. */
  peer: Promise<SocketPeer | undefined> | undefined;
}

/**
 * KmsService is a KMS v2 plugin as the apiserver meets it: a plugin's answers, distorted by the faults in force,
 * each call written to the audit trail before it is answered. The fake KMS and the proxy both serve one, so faults
 * and audit exist once.
 */
export class KmsService implements KmsPlugin {
  readonly plugin: KmsPlugin;
  readonly faults: Faults;
  readonly audit: AuditTrail;
  private readonly intendedKeyId: () => string;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly judge: KmsServiceOptions['judge'];

  constructor(options: KmsServiceOptions) {
    this.plugin = options.plugin;
    this.faults = options.faults ?? new Faults();
    this.audit = options.audit ?? new AuditTrail();
    this.intendedKeyId = options.intendedKeyId ?? (() => '');
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.judge = options.judge;
  }

  status(options?: CallOptions): Promise<StatusResponse> {
    return this.call(
      'Status',
      { uid: '', requestBytes: 0, keyId: '', peer: options?.peer },
      () => this.plugin.status(options),
      (r, fx) => {
        const response = {
          version: fx.version ?? r.version,
          healthz: fx.healthz ?? r.healthz,
          keyId: fx.keyId ?? r.keyId,
        };
        return {
          response,
          keyId: response.keyId,
          bytes: Buffer.byteLength(response.version + response.healthz + response.keyId),
          ...(response.healthz === 'ok' ? {} : { healthz: response.healthz }),
        };
      },
    );
  }

  encrypt(request: EncryptRequest, options?: CallOptions): Promise<EncryptResponse> {
    return this.call(
      'Encrypt',
      { uid: request.uid, requestBytes: request.plaintext.length, keyId: this.intendedKeyId(), peer: options?.peer },
      () => this.plugin.encrypt(request, options),
      (r, fx) => {
        const response: EncryptResponse = {
          ciphertext: r.ciphertext,
          keyId: fx.keyId ?? r.keyId,
          annotations: fx.annotations
            ? Object.fromEntries(Object.entries(fx.annotations).map(([k, v]) => [k, Buffer.from(v)]))
            : r.annotations,
        };
        return { response, keyId: response.keyId, bytes: response.ciphertext.length };
      },
    );
  }

  decrypt(request: DecryptRequest, options?: CallOptions): Promise<DecryptResponse> {
    return this.call(
      'Decrypt',
      { uid: request.uid, requestBytes: request.ciphertext.length, keyId: request.keyId, peer: options?.peer },
      () => this.plugin.decrypt(request, options),
      (response) => ({ response, keyId: request.keyId, bytes: response.plaintext.length }),
    );
  }

  /**
   * refused audits a call that never reached the plugin (its request could not be decoded), and its answer; it
   * settles once the record is on file.
   */
  refused(method: KmsMethod, requestBytes: number, failure: KmsCallError): Promise<void> {
    return written(
      this.audit.record({
        time: auditTime(this.now()),
        method,
        uid: '',
        keyId: '',
        code: codeName(failure.code),
        latencyMs: 0,
        requestBytes,
        responseBytes: 0,
        faults: [],
        message: failure.message,
      }),
    );
  }

  private async call<T>(
    method: KmsMethod,
    meta: CallMeta,
    invoke: () => Promise<T>,
    distort: (response: T, fx: Effects) => { response: T; keyId: string; bytes: number; healthz?: string },
  ): Promise<T> {
    const started = this.now();
    const fx = this.faults.effects(method);
    let keyId = meta.keyId;
    let responseBytes = 0;
    let code: number = GrpcStatus.OK;
    let message: string | undefined;
    let healthz: string | undefined;
    let refusal: string | undefined;
    try {
      if (fx.delayMs > 0) await this.sleep(fx.delayMs);
      while (fx.hang !== undefined && this.faults.stillHanging(fx.hang)) await this.faults.released;
      if (fx.error) throw new KmsCallError(fx.error.code, fx.error.message);
      const result = distort(await invoke(), fx);
      keyId = result.keyId;
      responseBytes = result.bytes;
      healthz = result.healthz;
      refusal = this.judge?.(method, { response: result.response });
      return result.response;
    } catch (error) {
      const failure = toCallError(error);
      code = failure.code;
      message = failure.message;
      refusal = this.judge?.(method, { error: failure });
      throw failure;
    } finally {
      // The answer waits until its record is on file; if that write fails, so does the call.
      const peer = await meta.peer;
      await written(
        this.audit.record({
          time: auditTime(started),
          method,
          uid: meta.uid,
          keyId,
          code: codeName(code),
          latencyMs: Math.round((this.now() - started) * 1000) / 1000,
          requestBytes: meta.requestBytes,
          responseBytes,
          faults: fx.faultIds,
          ...(message === undefined ? {} : { message }),
          ...(healthz === undefined ? {} : { healthz }),
          ...(refusal === undefined ? {} : { apiserverWillRefuse: refusal }),
          ...(peer ? { peer } : {}),
        }),
      );
    }
  }
}

// An answer the audit trail cannot show is never sent: a failed write becomes the call's error.
function written(record: Promise<void>): Promise<void> {
  return record.catch((failure: Error) => {
    throw new KmsCallError(GrpcStatus.INTERNAL, `audit trail write failed: ${failure.message}`);
  });
}

// A plugin's gRPC error (from the proxy's upstream) keeps its code and text; anything else is the plugin's own bug.
function toCallError(error: unknown): KmsCallError {
  if (error instanceof KmsCallError) return error;
  const e = error as { code?: unknown; details?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'number' && e.code in GrpcStatus) {
    return new KmsCallError(e.code, String(e.details ?? e.message ?? ''));
  }
  return new KmsCallError(GrpcStatus.INTERNAL, `fake-kms internal error: ${(error as Error)?.message ?? error}`);
}
