import { createHash } from 'node:crypto';
import type { SimClock } from '../clock.js';
import {
  EncryptedDEKSourceType,
  decodeKmsV2Value,
  encodeKmsV2Value,
  kmsV2Prefix,
  openLegacy,
  openWithSeed,
  sealWithSeed,
} from '../envelope.js';
import type { Random } from '../random.js';
import { annotationsProblem, encryptedDEKSourceProblem, keyIdProblem } from '../kms-rules.js';
import { callPlugin, type KmsPlugin } from './kms-plugin.js';

/** The constants of kube-apiserver's KMS v2 code (kmsv2-behaviour.md §4), in milliseconds. */
export const KMS_V2_TIMING = {
  writeKeyTtl: 3 * 60_000,
  healthyPoll: 60_000,
  unhealthyPoll: 10_000,
  probeCacheOk: 20_000,
  probeCacheFailed: 3_000,
  defaultCallTimeout: 3_000,
};

/**
 * DEK_CACHE is how kube-apiserver's read cache of DEK seeds ages (kmsv2 cacheTTL and AllowExpiredGet): an entry
 * expires a day after it was last put there (a Decrypt, or a write with the seed), and an expired one is still
 * served until the next put sweeps it. Tests change these to prove a scenario notices.
 */
export const DEK_CACHE = { ttlMs: 24 * 3_600_000, servesExpired: true };

/** WriteState is the provider's current DEK seed and what the plugin made of it. */
export interface WriteState {
  keyId: string;
  seed: Buffer;
  encryptedDEKSource: Buffer;
  annotations: Record<string, Buffer>;
  expiresAt: number;
}

export const keyIdHash = (keyId: string) => `sha256:${createHash('sha256').update(keyId).digest('hex')}`;
const rfc3339 = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/**
 * KmsV2Provider models one `kms: {apiVersion: v2}` provider inside one apiserver process: the Status probe (which
 * also rotates the DEK seed on a key_id change and extends the write key's life), the write path with its expiry,
 * and the read path with its DEK cache. Error texts follow the real apiserver's, so error classes compare.
 */
export class KmsV2Provider {
  state: WriteState | undefined;
  readonly prefix: string;
  private version: string | undefined;
  private readonly dekCache = new Map<string, { dek: Buffer; expiresAt: number }>();
  private lastProbe: { at: number; error?: Error } | undefined;
  private inflight: Promise<void> | undefined;

  constructor(
    readonly name: string,
    private readonly clock: SimClock,
    private readonly plugin: KmsPlugin,
    private readonly random: Random,
    readonly timeoutMs = KMS_V2_TIMING.defaultCallTimeout,
  ) {
    this.prefix = kmsV2Prefix(name);
  }

  /** check is the health probe with its result cache (20 s after success, 3 s after failure); one at a time. */
  async check(): Promise<void> {
    while (this.inflight) await this.inflight.catch(() => undefined);
    const now = this.clock.now();
    const last = this.lastProbe;
    if (last) {
      const ttl = last.error ? KMS_V2_TIMING.probeCacheFailed : KMS_V2_TIMING.probeCacheOk;
      if (now - last.at < ttl) {
        if (last.error) throw new Error(last.error.message.replace(/^.*?error: (rpc error:)/, '$1'));
        return;
      }
    }
    const run = this.probe().then(
      () => {
        this.lastProbe = { at: this.clock.now() };
      },
      (error: Error) => {
        this.lastProbe = { at: this.clock.now(), error };
        throw error;
      },
    );
    this.inflight = run;
    try {
      await run;
    } finally {
      this.inflight = undefined;
    }
  }

  private async probe(): Promise<void> {
    let status;
    try {
      status = await callPlugin(this.clock, this.plugin, this.timeoutMs, () => this.plugin.status());
    } catch (error) {
      throw new Error(
        `failed to perform status section of the healthz check for KMS Provider ${this.name}, error: ${(error as Error).message}`,
      );
    }
    const returnedAt = this.clock.now();
    const errors: string[] = [];
    if (status.healthz !== 'ok') errors.push(`got unexpected healthz status: ${status.healthz}`);
    if (status.version !== 'v2' && status.version !== 'v2beta1') {
      errors.push(`expected KMSv2 API version v2, got ${status.version}`);
    } else if (this.version !== undefined && this.version !== status.version) {
      errors.push(
        `KMSv2 API version should not change after the initial status response version ${this.version}, got ${status.version}`,
      );
    } else this.version = status.version;
    const invalid = keyIdProblem(status.keyId);
    // A valid key_id is acted on even when healthz or the version is wrong (kubernetes/kubernetes#138950).
    if (invalid) errors.push(`got invalid KMSv2 KeyID hash "${keyIdHash(status.keyId)}": ${invalid}`);
    else {
      const rotation = await this.rotateOrExtend(status.keyId, returnedAt);
      if (rotation) errors.push(rotation);
    }
    if (errors.length) {
      throw new Error(
        `kmsv2 Provider ${this.name} is not healthy, error: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`,
      );
    }
  }

  private async rotateOrExtend(keyId: string, returnedAt: number): Promise<string | undefined> {
    if (this.state && this.state.keyId === keyId) {
      this.state.expiresAt = returnedAt + KMS_V2_TIMING.writeKeyTtl;
      return undefined;
    }
    const seed = this.random.bytes(32);
    const uid = uuid(this.random);
    let problem: string | undefined;
    try {
      const r = await callPlugin(this.clock, this.plugin, this.timeoutMs, () =>
        this.plugin.encrypt({ plaintext: seed, uid }),
      );
      problem =
        encryptedDEKSourceProblem(r.ciphertext) ??
        keyIdProblem(r.keyId) ??
        (r.keyId !== keyId ? 'key_id of Encrypt differs from Status' : annotationsProblem(r.annotations));
      if (!problem) {
        this.state = {
          keyId,
          seed,
          encryptedDEKSource: r.ciphertext,
          annotations: r.annotations,
          expiresAt: returnedAt + KMS_V2_TIMING.writeKeyTtl,
        };
        // Not put in the read cache yet: the apiserver caches a seed on its first write with it (envelope.go
        // TransformToStorage) or when it decrypts it, so a restarted apiserver that has not written counts none.
        return undefined;
      }
    } catch (error) {
      problem = (error as Error).message;
    }
    return `failed to rotate DEK uid=${uid}, useSeed=true, errState=<nil>, errGen=${problem}, statusKeyIDHash=${keyIdHash(keyId)}, stateKeyIDHash=${
      this.state ? keyIdHash(this.state.keyId) : ''
    }, expirationTimestamp=${this.state ? rfc3339(this.state.expiresAt) : ''}`;
  }

  /** seal is TransformToStorage: needs a primed, unexpired write state; never calls the plugin. */
  seal(etcdKey: string, plaintext: Buffer): Buffer {
    const s = this.state;
    if (!s) throw new Error('got unexpected nil transformer');
    const now = this.clock.now();
    if (now > s.expiresAt) {
      throw new Error(
        `encryptedDEKSource with keyID hash "${keyIdHash(s.keyId)}" expired at ${rfc3339(s.expiresAt)} (current time is ${rfc3339(now)})`,
      );
    }
    // Every write puts its seed back in the read cache (its day starts again) and sweeps out expired ones.
    this.cacheDek(
      cacheKey(EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED, s.encryptedDEKSource, s.keyId, s.annotations),
      s.seed,
    );
    return encodeKmsV2Value(this.name, {
      encryptedData: sealWithSeed(s.seed, plaintext, etcdKey, this.random),
      keyID: s.keyId,
      encryptedDEKSource: s.encryptedDEKSource,
      annotations: s.annotations,
      encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
    });
  }

  /** open is TransformFromStorage: the DEK comes from the cache, or from a Decrypt call whose failure is not cached. */
  async open(etcdKey: string, value: Buffer): Promise<{ plaintext: Buffer; stale: boolean }> {
    const { object } = decodeKmsV2Value(value);
    const type = object.encryptedDEKSourceType as number;
    if (
      type !== EncryptedDEKSourceType.AES_GCM_KEY &&
      type !== EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED
    ) {
      throw new Error(`unknown encryptedDEKSourceType: ${type}`);
    }
    if (!this.state) throw new Error('got unexpected nil transformer');
    const key = cacheKey(type, object.encryptedDEKSource, object.keyID, object.annotations);
    let dek = this.cachedDek(key);
    if (!dek) {
      try {
        const uid = uuid(this.random);
        dek = (
          await callPlugin(this.clock, this.plugin, this.timeoutMs, () =>
            this.plugin.decrypt({
              ciphertext: object.encryptedDEKSource,
              uid,
              keyId: object.keyID,
              annotations: object.annotations,
            }),
          )
        ).plaintext;
      } catch (error) {
        throw new Error(`failed to decrypt DEK, error: ${(error as Error).message}`);
      }
      this.cacheDek(key, dek);
    }
    const plaintext =
      type === EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED
        ? openWithSeed(dek, object.encryptedData, etcdKey)
        : openLegacy(dek, object.encryptedData, etcdKey);
    return {
      plaintext,
      stale: object.keyID !== this.state.keyId || type !== EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
    };
  }

  /** The entries the cache holds, expired ones included until the next put sweeps them (as the real size metric). */
  get dekCacheSize(): number {
    return this.dekCache.size;
  }

  // kube-apiserver's read cache (kmsv2/cache.go) gives an entry a day from each put; a read never extends it, and an
  // expired entry is still served (AllowExpiredGet) until the next put sweeps it out. So a seed leaves the cache only
  // at a write or a Decrypt made after its day ran out (kubernetes#132967) — in an outage, only while writes still go.
  private cachedDek(key: string): Buffer | undefined {
    const entry = this.dekCache.get(key);
    if (!entry) return undefined;
    return DEK_CACHE.servesExpired || this.clock.now() < entry.expiresAt ? entry.dek : undefined;
  }

  private cacheDek(key: string, dek: Buffer): void {
    const now = this.clock.now();
    for (const [k, e] of this.dekCache) if (e.expiresAt <= now) this.dekCache.delete(k);
    this.dekCache.set(key, { dek, expiresAt: now + DEK_CACHE.ttlMs });
  }
}

function cacheKey(type: number, source: Buffer, keyId: string, annotations: Record<string, Buffer>): string {
  const h = createHash('sha256').update(String(type)).update(source).update(keyId);
  for (const k of Object.keys(annotations).sort()) h.update(k).update(annotations[k]!);
  return h.digest('hex');
}

/** uuid draws a version-4 UUID from the model's random source (the apiserver sends a fresh one per call). */
export function uuid(random: Random): string {
  const b = random.bytes(16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
