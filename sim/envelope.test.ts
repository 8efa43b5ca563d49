import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  classify,
  type EncryptedObject,
  decodeKmsV2Value,
  deriveWriteKey,
  encodeKmsV2Value,
  EncryptedDEKSourceType,
  openLegacy,
  openWithSeed,
  resourceOf,
  sealLegacy,
  sealWithSeed,
} from './envelope.js';
import { decodeSecret, encodeSecret } from './k8s-object.js';
import { Keyring, type KeyringSnapshot } from './keyring.js';
import { seededRandom } from './random.js';

// Values written by a real kube-apiserver (scripts/capture-fixtures.ts), one per provider, plus the fake KMS
// keyring of that throwaway lab so the KMS v2 value can be opened without any server.
const fixtures = JSON.parse(readFileSync(new URL('./fixtures/stored-values.json', import.meta.url), 'utf8')) as {
  apiserver: string;
  values: Array<{ key: string; value: string }>;
};
const stored = (key: string) => Buffer.from(fixtures.values.find((v) => v.key === key)!.value, 'base64');
const keyring = Keyring.restore(
  JSON.parse(readFileSync(new URL('./fixtures/throwaway-keyring.json', import.meta.url), 'utf8')) as KeyringSnapshot,
  { random: seededRandom(1), now: () => 0 },
);

describe(`classify values stored by kube-apiserver ${fixtures.apiserver}`, () => {
  test('KMS v2: provider name, key_id, KDF seed type and annotation keys', () => {
    const c = classify(stored('/registry/secrets/default/fixture'));
    expect(c).toMatchObject({ class: 'kms-v2', name: 'kmslab' });
    expect(c.kmsV2).toMatchObject({
      keyId: keyring.primary.keyId,
      dekSourceType: 'HKDF_SHA256_XNONCE_AES_GCM_SEED',
      annotationKeys: ['key-version.kmslab.test'],
    });
    expect(c.error).toBeUndefined();
  });

  test.each([
    ['/registry/configmaps/default/fixture', 'aescbc', 'cbc-key'],
    ['/registry/serviceaccounts/default/fixture', 'aesgcm', 'gcm-key'],
    ['/registry/podtemplates/default/fixture', 'secretbox', 'box-key'],
  ])('%s is %s under key %s', (key, cls, name) => {
    expect(classify(stored(key))).toEqual({ class: cls, name });
  });

  test('identity values are recognised as protobuf or JSON; anything else is unknown, never plaintext', () => {
    expect(classify(stored('/registry/namespaces/default'))).toEqual({ class: 'identity', encoding: 'protobuf' });
    expect(classify(Buffer.from('{"kind":"Widget"}'))).toEqual({ class: 'identity', encoding: 'json' });
    expect(classify(Buffer.from([0x00, 0x01]))).toMatchObject({ class: 'unknown' });
    expect(classify(Buffer.from('k8s:enc:rot13:v9:x:abc'))).toMatchObject({ class: 'unknown', error: /prefix/ });
    const random = seededRandom('noise');
    for (let i = 0; i < 2000; i++) {
      const noise = random.bytes(1 + (i % 300));
      const c = classify(noise);
      const looksLikeObject = noise.subarray(0, 4).toString('latin1') === 'k8s\u0000' || noise[0] === 0x7b;
      expect(c.class).toBe(looksLikeObject ? 'identity' : 'unknown');
    }
  });

  test('KMS v1 and the AES/secretbox formats are named, and invalid when too short to be read', () => {
    expect(classify(Buffer.concat([Buffer.from('k8s:enc:kms:v1:legacy:\u0000\u0003abc'), Buffer.alloc(28)]))).toEqual({
      class: 'kms-v1',
      name: 'legacy',
    });
    expect(classify(Buffer.from('k8s:enc:kms:v1:legacy:\u0000\u0003abc'))).toMatchObject({
      class: 'invalid',
      claims: 'kms-v1',
    });
    expect(classify(Buffer.from('k8s:enc:aescbc:v1:k:0123456789abcdef012'))).toMatchObject({
      class: 'invalid',
      claims: 'aescbc',
    });
    expect(classify(Buffer.from('k8s:enc:aesgcm:v1:k:short'))).toMatchObject({ class: 'invalid', claims: 'aesgcm' });
    expect(classify(Buffer.from('k8s:enc:secretbox:v1:k:short'))).toMatchObject({
      class: 'invalid',
      claims: 'secretbox',
    });
  });

  // Every rule the apiserver applies when it reads an EncryptedObject back, one mutation of a valid value each,
  // with the boundary that is still valid beside it.
  const valid = (): EncryptedObject => decodeKmsV2Value(stored('/registry/secrets/default/fixture')).object;
  const mutations: Array<[string, (o: EncryptedObject) => void, RegExp | 'valid']> = [
    ['empty key_id', (o) => (o.keyID = ''), /keyID is empty/],
    ['1025-byte key_id', (o) => (o.keyID = 'k'.repeat(1025)), /keyID is 1025 bytes/],
    ['1024-byte key_id', (o) => (o.keyID = 'k'.repeat(1024)), 'valid'],
    ['multi-byte key_id over 1024 bytes', (o) => (o.keyID = 'é'.repeat(513)), /keyID is 1026 bytes/],
    ['empty DEK source', (o) => (o.encryptedDEKSource = Buffer.alloc(0)), /encrypted DEK source is empty/],
    ['1025-byte DEK source', (o) => (o.encryptedDEKSource = Buffer.alloc(1025, 1)), /1025 bytes, which exceeds/],
    ['1024-byte DEK source', (o) => (o.encryptedDEKSource = Buffer.alloc(1024, 1)), 'valid'],
    [
      'DEK source type 7',
      (o) => (o.encryptedDEKSourceType = 7 as EncryptedDEKSourceType),
      /unknown encryptedDEKSourceType: 7/,
    ],
    ['empty encrypted data', (o) => (o.encryptedData = Buffer.alloc(0)), /encrypted data is empty/],
    [
      'KDF data shorter than info, nonce and tag',
      (o) => (o.encryptedData = Buffer.alloc(59, 1)),
      /59 bytes, shorter than the 60/,
    ],
    ['annotation key with spaces', (o) => (o.annotations = { 'NOT A DNS NAME': Buffer.from('x') }), /annotation key/],
    ['single-label annotation key', (o) => (o.annotations = { localhost: Buffer.from('x') }), /at least two segments/],
    ['upper-case annotation key', (o) => (o.annotations = { 'Key.Example.com': Buffer.from('x') }), /annotation key/],
    ['64-character label', (o) => (o.annotations = { [`${'a'.repeat(64)}.example.com`]: Buffer.from('x') }), /63/],
    ['trailing-dot annotation key', (o) => (o.annotations = { 'a.example.com.': Buffer.from('x') }), 'valid'],
    ['annotations over 32 KiB', (o) => (o.annotations = { 'a.example.com': Buffer.alloc(32 * 1024 - 12, 1) }), /32768/],
    [
      'annotations of exactly 32 KiB',
      (o) => (o.annotations = { 'a.example.com': Buffer.alloc(32 * 1024 - 13, 1) }),
      'valid',
    ],
  ];
  test.each(mutations)('KMS v2 with %s', (_, mutate, expected) => {
    const o = valid();
    mutate(o);
    const c = classify(encodeKmsV2Value('kmslab', o));
    if (expected === 'valid') expect(c).toMatchObject({ class: 'kms-v2', name: 'kmslab' });
    else {
      expect(c).toMatchObject({ class: 'invalid', claims: 'kms-v2', name: 'kmslab' });
      expect(c.error).toMatch(expected);
    }
  });

  test("KMS v2 bytes that are not an EncryptedObject are invalid, with the decoder's reason", () => {
    const broken = classify(Buffer.from('k8s:enc:kms:v2:p:\u00ff\u00ff\u00ff'));
    expect(broken).toMatchObject({ class: 'invalid', claims: 'kms-v2', name: 'p' });
    expect(broken.error).toMatch(/EncryptedObject does not decode/);
  });

  test('the KMS v2 value decrypts offline to the exact object the apiserver stored', () => {
    const key = '/registry/secrets/default/fixture';
    const { object } = decodeKmsV2Value(stored(key));
    const seed = keyring.unwrap(object.encryptedDEKSource, object.keyID);
    expect(seed).toHaveLength(32);
    const plain = openWithSeed(seed, object.encryptedData, key);
    expect(plain.subarray(0, 4).toString('latin1')).toBe('k8s\u0000');
    expect(decodeSecret(plain)).toMatchObject({
      namespace: 'default',
      name: 'fixture',
      type: 'Opaque',
      data: { password: Buffer.from('fixture-password') },
    });
    // The etcd key is authenticated: the same bytes under another key do not open.
    expect(() => openWithSeed(seed, object.encryptedData, '/registry/secrets/default/other')).toThrow();
  });
});

describe('KMS v2 crypto', () => {
  test('the write key is HKDF-Expand only (RFC 5869 test case 1: PRK and info in, first 32 bytes of OKM out)', () => {
    const prk = Buffer.from('077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5', 'hex');
    const info = Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex');
    expect(deriveWriteKey(prk, info).toString('hex')).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf',
    );
  });

  test('KDF mode round-trips, with a fresh info and nonce per write', () => {
    const random = seededRandom('kdf');
    const seed = random.bytes(32);
    const a = sealWithSeed(seed, Buffer.from('object'), '/registry/secrets/ns/a', random);
    const b = sealWithSeed(seed, Buffer.from('object'), '/registry/secrets/ns/a', random);
    expect(a.equals(b)).toBe(false);
    expect(a).toHaveLength(32 + 12 + 6 + 16);
    expect(openWithSeed(seed, a, '/registry/secrets/ns/a').toString()).toBe('object');
  });

  test('legacy type-0 data: counter nonce, little-endian, readable with the DEK', () => {
    const random = seededRandom('legacy');
    const dek = random.bytes(32);
    const data = sealLegacy(dek, Buffer.from('old'), '/registry/secrets/ns/old', 1_000_000_001n, random);
    expect(data.readBigUInt64LE(4)).toBe(1_000_000_001n);
    expect(openLegacy(dek, data, '/registry/secrets/ns/old').toString()).toBe('old');
  });

  test('encode/decode is symmetric and writes the DEK source type as the apiserver does', () => {
    const object = {
      encryptedData: Buffer.alloc(60, 3),
      keyID: 'k1',
      encryptedDEKSource: Buffer.from([9]),
      annotations: {},
      encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
    };
    const bytes = encodeKmsV2Value('p', object);
    expect(bytes.subarray(0, 17).toString()).toBe('k8s:enc:kms:v2:p:');
    expect(bytes[17]).toBe(0x0a);
    expect(bytes.subarray(-2)).toEqual(Buffer.from([0x28, 0x01]));
    expect(decodeKmsV2Value(bytes)).toEqual({ provider: 'p', object });
  });
});

test('resourceOf names core and grouped resources', () => {
  expect(resourceOf('/registry/secrets/ns/n')).toBe('secrets');
  expect(resourceOf('/registry/namespaces/default')).toBe('namespaces');
  expect(resourceOf('/registry/apiregistration.k8s.io/apiservices/v1.')).toBe('apiregistration.k8s.io/apiservices');
});

test('a Secret encodes as the apiserver stores it and decodes back', () => {
  const secret = {
    namespace: 'ns',
    name: 'n',
    uid: 'u-1',
    createdAt: 1_700_000_000_000,
    data: { k: Buffer.from([0, 1, 255]) },
    type: 'Opaque',
  };
  const bytes = encodeSecret(secret);
  expect(bytes.subarray(0, 4).toString('latin1')).toBe('k8s\u0000');
  expect(decodeSecret(bytes)).toEqual(secret);
  expect(() => decodeSecret(Buffer.from('{"kind":"Secret"}'))).toThrow(/magic/);
});
