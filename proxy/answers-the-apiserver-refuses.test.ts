import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Server, ServerCredentials, status as Code, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { KmsControlClient, type AuditRecord } from '../fake-kms/index.js';
import {
  DecryptResponse,
  EncryptResponse,
  KeyManagementServiceService,
  StatusResponse,
} from '../gen/kms/v2/service.js';
import { kmsClient } from '../test/support/kms-client.js';
import type { KmsProxy } from './kms-proxy.js';
import { startProxyUnderTest } from './proxy-under-test.test-helper.js';
import { UpstreamPlugin } from './upstream-plugin.js';

// A plugin behind the proxy that answers whatever a test sets: messages, or raw bytes (protobuf-es cannot write
// invalid UTF-8 into a string field, a careless plugin in another language can).
type Answer<T> = T | Buffer;
const answers: { status: Answer<StatusResponse>; encrypt: Answer<EncryptResponse>; decrypt: Answer<DecryptResponse> } =
  {} as never;
const good = () => {
  answers.status = { version: 'v2', healthz: 'ok', keyId: 'key-1' };
  answers.encrypt = { ciphertext: Buffer.alloc(40, 7), keyId: 'key-1', annotations: {} };
  answers.decrypt = { plaintext: Buffer.alloc(32, 1) };
};
const raw =
  <T>(serialize: (v: T) => Buffer) =>
  (v: T | Buffer) =>
    Buffer.isBuffer(v) ? v : serialize(v);

// StatusResponse {version: "v2", healthz: "ok", key_id: <bytes>} written field by field.
const statusWithKeyIdBytes = (keyId: Buffer) =>
  Buffer.from(new BinaryWriter().uint32(10).string('v2').uint32(18).string('ok').uint32(26).bytes(keyId).finish());

let dir: string;
let upstream: Server;
let proxy: KmsProxy;
let grpc: ReturnType<typeof kmsClient>;
let control: KmsControlClient;

beforeEach(async () => {
  good();
  dir = mkdtempSync(join(tmpdir(), 'kms-proxy-refuses-'));
  upstream = new Server();
  const s = KeyManagementServiceService;
  upstream.addService(
    {
      status: { ...s.status, responseSerialize: raw(s.status.responseSerialize) },
      encrypt: { ...s.encrypt, responseSerialize: raw(s.encrypt.responseSerialize) },
      decrypt: { ...s.decrypt, responseSerialize: raw(s.decrypt.responseSerialize) },
    },
    {
      status: (_: unknown, cb: (e: null, r: unknown) => void) => cb(null, answers.status),
      encrypt: (_: unknown, cb: (e: null, r: unknown) => void) => cb(null, answers.encrypt),
      decrypt: (_: unknown, cb: (e: null, r: unknown) => void) => cb(null, answers.decrypt),
    },
  );
  await new Promise<void>((resolve, reject) =>
    upstream.bindAsync(`unix://${join(dir, 'plugin.sock')}`, ServerCredentials.createInsecure(), (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  ({ proxy, grpc, control } = await startProxyUnderTest(dir, join(dir, 'plugin.sock')));
});
afterEach(async () => {
  grpc.close();
  await proxy.close();
  upstream.forceShutdown();
});

const lastRecord = async (): Promise<AuditRecord> => (await control.audit()).at(-1)!;
const seed = () => ({ plaintext: Buffer.alloc(32, 3), uid: randomUUID() });
const decryptRequest = () => ({ ciphertext: Buffer.alloc(40, 7), keyId: 'key-1', annotations: {}, uid: randomUUID() });

test('answers the apiserver accepts pass without a mark', async () => {
  await grpc.status();
  await grpc.encrypt(seed());
  await grpc.decrypt(decryptRequest());
  expect((await control.audit()).map((r) => r.apiserverWillRefuse)).toEqual([undefined, undefined, undefined]);
});

test.each([
  [
    'Status version v1',
    () => (answers.status = { version: 'v1', healthz: 'ok', keyId: 'key-1' }),
    'status',
    /expected KMSv2 API version v2, got "v1"/,
  ],
  [
    'an empty Status key_id',
    () => (answers.status = { version: 'v2', healthz: 'ok', keyId: '' }),
    'status',
    /keyID is empty/,
  ],
  [
    'an empty ciphertext',
    () => (answers.encrypt = { ciphertext: Buffer.alloc(0), keyId: 'key-1', annotations: {} }),
    'encrypt',
    /encrypted DEK source is empty/,
  ],
  [
    'a 2 KiB ciphertext',
    () => (answers.encrypt = { ciphertext: Buffer.alloc(2048), keyId: 'key-1', annotations: {} }),
    'encrypt',
    /2048 bytes, which exceeds the max size of 1024/,
  ],
  [
    'an empty Encrypt key_id',
    () => (answers.encrypt = { ciphertext: Buffer.alloc(40), keyId: '', annotations: {} }),
    'encrypt',
    /keyID is empty/,
  ],
  [
    'a bad annotation key',
    () =>
      (answers.encrypt = {
        ciphertext: Buffer.alloc(40),
        keyId: 'key-1',
        annotations: { 'Not DNS': Buffer.from('x') },
      }),
    'encrypt',
    /annotation key "Not DNS" is not a lower-case RFC 1123 subdomain/,
  ],
  [
    'an Encrypt key_id other than the Status one',
    () => (answers.encrypt = { ciphertext: Buffer.alloc(40), keyId: 'key-2', annotations: {} }),
    'encrypt',
    /key_id of Encrypt \("key-2"\) differs from the key_id of the last Status \("key-1"\)/,
  ],
  [
    'a 2 MiB Decrypt plaintext',
    () => (answers.decrypt = { plaintext: Buffer.alloc(2 * 1024 * 1024, 9) }),
    'decrypt',
    /only ever wraps 32-byte DEK seeds: a 2097152-byte plaintext/,
  ],
] as const)(
  '%s is forwarded as the plugin gave it, and audited as one the apiserver will refuse',
  async (_, set, method, why) => {
    await grpc.status(); // the apiserver has seen key-1
    set();
    const got =
      method === 'status'
        ? await grpc.status()
        : method === 'encrypt'
          ? await grpc.encrypt(seed())
          : await grpc.decrypt(decryptRequest());
    // Byte for byte (protobuf equality: a 2 MiB Buffer is too slow for a deep toEqual).
    const encode = { status: StatusResponse, encrypt: EncryptResponse, decrypt: DecryptResponse }[method] as {
      encode(m: unknown): { finish(): Uint8Array };
    };
    expect(Buffer.from(encode.encode(got).finish()).equals(Buffer.from(encode.encode(answers[method]).finish()))).toBe(
      true,
    );
    expect((await lastRecord()).apiserverWillRefuse).toMatch(why);
  },
);

test('a 5,000-byte key_id is forwarded whole but cut in the audit trail', async () => {
  answers.status = { version: 'v2', healthz: 'ok', keyId: 'k'.repeat(5_000) };
  expect((await grpc.status()).keyId).toHaveLength(5_000);
  const record = await lastRecord();
  expect(record.apiserverWillRefuse).toMatch(/keyID is 5000 bytes, which exceeds the max size of 1024/);
  expect(record.keyId.length).toBeLessThan(1_100);
  expect(record.keyId).toContain('(5000 chars)');
  expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8')).not.toContain('k'.repeat(1_100));
});

test('invalid UTF-8 is refused as the apiserver refuses it, never passed on repaired', async () => {
  answers.status = statusWithKeyIdBytes(Buffer.from([0x6b, 0x65, 0x79, 0xc3])); // "key" and half a character
  const e = (await grpc.status().catch((error: ServiceError) => error)) as ServiceError;
  expect(Code[e.code]).toBe('INTERNAL');
  expect(e.details).toContain('string field contains invalid UTF-8');
  expect(e.details).toContain('key_id');
  const record = await lastRecord();
  expect(record).toMatchObject({ method: 'Status', code: 'INTERNAL' });
  expect(record.apiserverWillRefuse).toMatch(/refuses invalid UTF-8 in a string field \(key_id\)/);
  expect(JSON.stringify(record)).not.toContain('\ufffd');
});

test("conformance's client reads such an answer leniently and notes which field held it", async () => {
  answers.status = statusWithKeyIdBytes(Buffer.from([0x6b, 0xff]));
  const client = new UpstreamPlugin(join(dir, 'plugin.sock'), 3_000, { invalidUtf8: 'note' });
  try {
    expect((await client.status()).keyId).toBe('k\ufffd');
    answers.status = { version: 'v2', healthz: 'ok', keyId: 'k\u00e9' }; // valid UTF-8 beyond ASCII is fine
    expect((await client.status()).keyId).toBe('k\u00e9');
    expect(client.invalidUtf8).toEqual([{ method: 'Status', fields: ['key_id'] }]);
  } finally {
    client.close();
  }
});
