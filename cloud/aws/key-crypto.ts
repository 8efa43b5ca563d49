import type { CloudCore } from '../core/cloud-core.js';

/** EncryptionContext is KMS's map of non-secret strings bound to a ciphertext (an exact match opens it). */
export type EncryptionContext = Record<string, string>;

/**
 * KeyCrypto is where the AWS front's key material lives and its crypto happens. Key states, versions and grants are
 * always the core's: a backend only encrypts under the version the core names and decrypts what it made.
 */
export interface KeyCrypto {
  /** encrypt uses the key's primary version; the core refuses a key that cannot encrypt. */
  encrypt(keyId: string, plaintext: Buffer, context: EncryptionContext): Promise<{ blob: Buffer; versionId: string }>;
  /** keyOf names the key and version a ciphertext claims, without decrypting (authorization comes first). */
  keyOf(blob: Buffer): { keyId: string; versionId: string };
  /** decrypt uses the version the ciphertext names; the core refuses a key that cannot decrypt. */
  decrypt(blob: Buffer, context: EncryptionContext): Promise<{ plaintext: Buffer; keyId: string; versionId: string }>;
  close(): Promise<void>;
}

/** canonicalContext is the context as the core binds it: the pairs sorted by key, as JSON ('' when empty). */
export function canonicalContext(context: EncryptionContext): string {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.length ? JSON.stringify(Object.fromEntries(entries)) : '';
}

/**
 * coreCrypto keeps the material in the core's key store (AES-256-GCM, the context as AAD): no local-kms process.
 * What `kmslab cloud serve aws --crypto core` and the unit tests use.
 */
export function coreCrypto(core: CloudCore<unknown, unknown>): KeyCrypto {
  return {
    encrypt: async (keyId, plaintext, context) => {
      const out = core.keys.encrypt(keyId, plaintext, canonicalContext(context));
      return { blob: out.ciphertext, versionId: out.versionId };
    },
    keyOf: (blob) => core.keys.keyOfCiphertext(blob),
    decrypt: async (blob, context) => core.keys.decrypt(blob, canonicalContext(context)),
    close: async () => undefined,
  };
}
