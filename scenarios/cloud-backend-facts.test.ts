import { randomBytes } from 'node:crypto';
import { expect, test } from 'vitest';
import { EncryptedDEKSourceType, encodeKmsV2Value } from '../sim/index.js';
import { lateAnswers } from './cloud-unreachable.js';
import { seedVersion } from './cloud-rotate-same-key-id.js';

const VERSION = '4d6d8b17-0c1e-4f7a-9a55-2b8e7f0a1c3d';
const uuid = Buffer.from(VERSION.replace(/-/g, ''), 'hex');

const stored = (seed: Buffer, annotations: Record<string, Buffer> = {}) =>
  encodeKmsV2Value('kmslab', {
    encryptedData: randomBytes(80),
    keyID: 'key-1',
    encryptedDEKSource: seed,
    annotations,
    encryptedDEKSourceType: EncryptedDEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
  });

test("seedVersion reads the version from ACK's annotation, and from an AWS ciphertext in each of the front's layouts", () => {
  const ali = stored(randomBytes(60), { 'x-acs-kms-key-version-id.ack.alibabacloud.com': Buffer.from(VERSION) });
  expect(seedVersion('alibaba', ali)).toMatchObject({ keyId: 'key-1', version: VERSION });
  for (const format of [0x01, 0x4b]) {
    const blob = Buffer.concat([Buffer.from([format]), uuid, randomBytes(48)]);
    expect(seedVersion('aws', stored(blob)).version).toBe(VERSION);
    // aws-encryption-provider's storage-version byte "1" before the KMS blob.
    expect(seedVersion('aws', stored(Buffer.concat([Buffer.from('1'), blob]))).version).toBe(VERSION);
  }
});

test('seedVersion refuses a value that does not say its version, naming why', () => {
  expect(() => seedVersion('alibaba', stored(randomBytes(60)))).toThrow(/no x-acs-kms-key-version-id.* annotation/);
  expect(() => seedVersion('aws', stored(Buffer.concat([Buffer.from([0x07]), uuid])))).toThrow(/no version header/);
});

test("lateAnswers: an answer within 0.1 s of the apiserver's 3 s deadline is late, one at 2.8 s is not", () => {
  const a = (ms: number) => ({ method: 'Status' as const, by: 'apiserver' as const, code: 'UNAVAILABLE', ms });
  expect(lateAnswers([a(2_800), a(2_899), a(2_900), a(3_001)]).map((x) => x.ms)).toEqual([2_900, 3_001]);
});
