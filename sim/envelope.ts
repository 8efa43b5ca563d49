import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { EncryptedDEKSourceType, EncryptedObject } from '../gen/storage/v2/encrypted_object.js';
import { readEncryptedObjectFacts } from './encrypted-object-facts.js';
import { encryptedObjectFactsProblem, encryptedObjectProblem, type EncryptedObjectFacts } from './kms-rules.js';
import type { Random } from './random.js';

/**
 * The storage format kube-apiserver writes to etcd, in one place: value prefixes of every provider, the KMS v2
 * EncryptedObject, and its crypto. The inspector, the sim apiserver and the tests all use this module.
 */

export { EncryptedDEKSourceType, EncryptedObject };

/**
 * StorageClass is how a raw etcd value is stored. `invalid`: its prefix names a format, but the apiserver would
 * refuse to read it (the reason is in `error`); `unknown`: neither a Kubernetes object nor a known prefix.
 */
export type StorageClass = 'identity' | 'aescbc' | 'aesgcm' | 'secretbox' | 'kms-v1' | 'kms-v2' | 'invalid' | 'unknown';

export interface KmsV2Details {
  keyId: string;
  dekSourceType: 'AES_GCM_KEY' | 'HKDF_SHA256_XNONCE_AES_GCM_SEED' | `unknown(${number})`;
  encryptedDEKSourceBytes: number;
  encryptedDataBytes: number;
  annotationKeys: string[];
}

/** Classified is one value's storage: its class, the provider (or key) name in its prefix, and KMS v2 details. */
export interface Classified {
  class: StorageClass;
  /** The name in the prefix: the KMS provider name, or the aes/secretbox key name. */
  name?: string;
  /** For identity: how the object itself is serialised. */
  encoding?: 'protobuf' | 'json';
  kmsV2?: KmsV2Details;
  /** For invalid and unknown values: why. */
  error?: string;
  /** For invalid values: the format their prefix promised. */
  claims?: Exclude<StorageClass, 'invalid' | 'unknown' | 'identity'>;
}

export const KMS_V2_PREFIX = 'k8s:enc:kms:v2:';
const ENCRYPTED = 'k8s:enc:';
type Encrypted = NonNullable<Classified['claims']>;
const KMS_V2_PATTERN = /^k8s:enc:kms:v2:([^:]*):/;
// Each prefix other than KMS v2's (classify reads that one by bytes), and what the apiserver's read path needs after it before it can even try to decrypt.
const PREFIXES: Array<[RegExp, Encrypted, (body: Buffer) => string | undefined]> = [
  [/^k8s:enc:kms:v1:([^:]*):/, 'kms-v1', kmsV1Problem],
  [
    /^k8s:enc:aescbc:v1:([^:]*):/,
    'aescbc',
    (b) =>
      b.length < 32 || b.length % 16 !== 0
        ? `AES-CBC data is ${b.length} bytes: not a 16-byte IV plus whole 16-byte blocks`
        : undefined,
  ],
  [
    /^k8s:enc:aesgcm:v1:([^:]*):/,
    'aesgcm',
    (b) => (b.length < 28 ? `AES-GCM data is ${b.length} bytes, shorter than nonce and tag (28)` : undefined),
  ],
  [
    /^k8s:enc:secretbox:v1:([^:]*):/,
    'secretbox',
    (b) => (b.length < 40 ? `secretbox data is ${b.length} bytes, shorter than nonce and tag (40)` : undefined),
  ],
];
// Provider names are short; looking at the head is enough and keeps large values cheap.
const HEAD_BYTES = 320;
const PROTOBUF_MAGIC = Buffer.from('k8s\u0000', 'latin1');
const ENCRYPTED_BYTES = Buffer.from(ENCRYPTED, 'latin1');
const KMS_V2_BYTES = Buffer.from(KMS_V2_PREFIX, 'latin1');

/** kmsV2Prefix is the prefix the apiserver writes for a KMS v2 provider name. */
export function kmsV2Prefix(provider: string): string {
  return `${KMS_V2_PREFIX}${provider}:`;
}

/**
 * classify reads a raw etcd value: its prefix, and for encrypted values whether the apiserver could read them
 * (KMS v2 EncryptedObjects are decoded and checked against the apiserver's own rules). A value that breaks them is
 * `invalid`, never counted as encrypted.
 */
export function classify(value: Uint8Array): Classified {
  const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (!startsWith(buf, ENCRYPTED_BYTES)) {
    if (startsWith(buf, PROTOBUF_MAGIC)) return { class: 'identity', encoding: 'protobuf' };
    if (buf[0] === 0x7b) return { class: 'identity', encoding: 'json' };
    return { class: 'unknown', error: 'neither a Kubernetes object (protobuf or JSON) nor a k8s:enc: prefix' };
  }
  // KMS v2 first, by bytes: nearly every encrypted value in a cluster with a KMS is one, and scans are per value.
  if (startsWith(buf, KMS_V2_BYTES)) {
    const colon = buf.indexOf(0x3a, KMS_V2_BYTES.length);
    if (colon !== -1 && colon < HEAD_BYTES) return classifyKmsV2(buf, providerName(buf, colon), colon + 1);
  }
  const head = buf.toString('latin1', 0, Math.min(buf.length, HEAD_BYTES));
  for (const [pattern, cls, bodyProblem] of PREFIXES) {
    const m = pattern.exec(head);
    if (!m) continue;
    const problem = bodyProblem(buf.subarray(m[0].length));
    return problem ? { class: 'invalid', claims: cls, name: m[1]!, error: problem } : { class: cls, name: m[1]! };
  }
  return { class: 'unknown', error: `unrecognised prefix ${JSON.stringify(head.slice(0, 40))}` };
}

// A KMS v2 value's EncryptedObject, read in place and checked against the apiserver's own rules.
function classifyKmsV2(buf: Buffer, name: string, body: number): Classified {
  let facts: EncryptedObjectFacts;
  try {
    facts = readEncryptedObjectFacts(buf, body);
  } catch (error) {
    return {
      class: 'invalid',
      claims: 'kms-v2',
      name,
      error: `EncryptedObject does not decode: ${(error as Error).message}`,
    };
  }
  const problem = encryptedObjectFactsProblem(facts);
  return problem
    ? { class: 'invalid', claims: 'kms-v2', name, error: problem, kmsV2: details(facts) }
    : { class: 'kms-v2', name, kmsV2: details(facts) };
}

// The provider name of a KMS v2 value; the last one is reused while values keep naming it (a scan reads millions).
let lastName = { bytes: Buffer.alloc(0), text: '' };
function providerName(buf: Buffer, colon: number): string {
  const start = KMS_V2_BYTES.length;
  const n = colon - start;
  const last = lastName.bytes;
  let i = 0;
  if (last.length === n) while (i < n && last[i] === buf[start + i]) i++;
  if (last.length !== n || i < n) {
    const bytes = Buffer.from(buf.subarray(start, colon));
    lastName = { bytes, text: bytes.toString('latin1') };
  }
  return lastName.text;
}

function startsWith(buf: Buffer, prefix: Buffer): boolean {
  if (buf.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

function kmsV1Problem(body: Buffer): string | undefined {
  if (body.length < 2) return 'KMS v1 value has no DEK length';
  const dek = body.readUInt16BE(0);
  if (dek === 0 || body.length < 2 + dek + 28) {
    return `KMS v1 value is ${body.length} bytes after its prefix: too short for a ${dek}-byte encrypted DEK plus AES-GCM data`;
  }
  return undefined;
}

/** decodeKmsV2Value splits a KMS v2 value into its provider name and EncryptedObject. */
export function decodeKmsV2Value(value: Uint8Array): { provider: string; object: EncryptedObject } {
  const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const m = KMS_V2_PATTERN.exec(buf.subarray(0, HEAD_BYTES).toString('latin1'));
  if (!m) throw new Error('value is not KMS v2 (no k8s:enc:kms:v2:<name>: prefix)');
  return { provider: m[1]!, object: decodeObject(buf.subarray(m[0].length)) };
}

/** encodeKmsV2Value builds the bytes the apiserver stores: prefix, then the EncryptedObject. */
export function encodeKmsV2Value(provider: string, object: EncryptedObject): Buffer {
  return Buffer.concat([Buffer.from(kmsV2Prefix(provider)), Buffer.from(EncryptedObject.encode(object).finish())]);
}

function decodeObject(bytes: Buffer): EncryptedObject {
  const object = EncryptedObject.decode(bytes);
  const problem = encryptedObjectProblem(object);
  if (problem) throw new Error(problem);
  return object;
}

function details(o: EncryptedObjectFacts): KmsV2Details {
  const t = o.dekSourceType;
  return {
    keyId: o.keyId,
    dekSourceType:
      t === EncryptedDEKSourceType.AES_GCM_KEY
        ? 'AES_GCM_KEY'
        : t === EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED
          ? 'HKDF_SHA256_XNONCE_AES_GCM_SEED'
          : `unknown(${t})`,
    encryptedDEKSourceBytes: o.encryptedDEKSourceBytes,
    encryptedDataBytes: o.encryptedDataBytes,
    annotationKeys: o.annotations.length === 0 ? [] : o.annotations.map(([k]) => k).sort(),
  };
}

// ---- crypto of KMS v2 encryptedData ----

const INFO_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * deriveWriteKey is the per-write AES-256 key of KDF mode: HKDF-Expand only (no Extract, no salt) with SHA-256,
 * PRK = seed, L = 32. With L equal to the hash size that is one HMAC block: HMAC-SHA256(seed, info ‖ 0x01).
 * (node's hkdfSync always runs Extract first and would give a different key.)
 */
export function deriveWriteKey(seed: Uint8Array, info: Uint8Array): Buffer {
  return createHmac('sha256', seed).update(info).update(Buffer.of(0x01)).digest();
}

/** sealWithSeed encrypts an object in KDF mode: info(32) ‖ nonce(12) ‖ AES-256-GCM(ct ‖ tag), AAD = the etcd key. */
export function sealWithSeed(seed: Uint8Array, plaintext: Uint8Array, etcdKey: string, random: Random): Buffer {
  const info = random.bytes(INFO_BYTES);
  const nonce = random.bytes(NONCE_BYTES);
  return Buffer.concat([info, gcmSeal(deriveWriteKey(seed, info), nonce, plaintext, etcdKey)]);
}

/** openWithSeed reverses sealWithSeed; it throws if the data, seed or etcd key do not match. */
export function openWithSeed(seed: Uint8Array, encryptedData: Uint8Array, etcdKey: string): Buffer {
  const data = Buffer.from(encryptedData);
  if (data.length < INFO_BYTES + NONCE_BYTES + TAG_BYTES) throw new Error('encrypted data is too short for KDF mode');
  return gcmOpen(deriveWriteKey(seed, data.subarray(0, INFO_BYTES)), data.subarray(INFO_BYTES), etcdKey);
}

/** openLegacy decrypts type-0 data (1.27-era, DEK used directly): nonce(12) ‖ ct ‖ tag, AAD = the etcd key. */
export function openLegacy(dek: Uint8Array, encryptedData: Uint8Array, etcdKey: string): Buffer {
  return gcmOpen(Buffer.from(dek), Buffer.from(encryptedData), etcdKey);
}

/**
 * sealLegacy writes type-0 data as 1.27 did: the nonce is 4 random bytes ‖ a little-endian uint64 counter
 * (first write 1,000,000,001). 1.29+ never writes this; tests use it to make legacy fixtures.
 */
export function sealLegacy(
  dek: Uint8Array,
  plaintext: Uint8Array,
  etcdKey: string,
  counter: bigint,
  random: Random,
): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  random.bytes(4).copy(nonce, 0);
  nonce.writeBigUInt64LE(counter, 4);
  return gcmSeal(Buffer.from(dek), nonce, plaintext, etcdKey);
}

function gcmSeal(key: Buffer, nonce: Buffer, plaintext: Uint8Array, aad: string): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(aad));
  return Buffer.concat([nonce, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function gcmOpen(key: Buffer, data: Buffer, aad: string): Buffer {
  const nonce = data.subarray(0, NONCE_BYTES);
  const tag = data.subarray(data.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)), decipher.final()]);
}

/** resourceOf names the resource an etcd key belongs to: `/registry/secrets/ns/n` → `secrets`, `/registry/apiregistration.k8s.io/apiservices/n` → `apiregistration.k8s.io/apiservices`. */
export function resourceOf(key: string, etcdPrefix = '/registry/'): string {
  // By index, not split: the inspector names the resource of every key it reads.
  const start = key.startsWith(etcdPrefix) ? etcdPrefix.length : key.startsWith('/') ? 1 : 0;
  const first = key.indexOf('/', start);
  if (first === -1) return key.slice(start);
  const dot = key.indexOf('.', start);
  // A group-qualified resource (a dot in its first segment) names group/resource when a name follows.
  const second = dot !== -1 && dot < first ? key.indexOf('/', first + 1) : -1;
  return key.slice(start, second === -1 ? first : second);
}
