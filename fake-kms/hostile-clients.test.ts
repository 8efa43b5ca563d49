import { randomUUID } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, Metadata, status as Code, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { kmsClient } from '../test/support/kms-client.js';
import { startFakeKms, type FakeKms } from './fake-kms.js';

// What a hostile or broken client may send to the plugin's socket: none of it may cost unbounded memory, disk or
// descriptors, and every refused call is still on the audit trail.
let dir: string;
let kms: FakeKms;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fake-kms-hostile-'));
  kms = await startFakeKms({
    socketPath: join(dir, 'sock', 'kms.sock'),
    stateDir: join(dir, 'state'),
    auditFile: join(dir, 'audit.jsonl'),
    limits: { idleMs: 600 },
  });
});
afterEach(() => kms.close());

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (e: ServiceError) => Code[e.code],
  );

test('a uid far beyond a UUID is refused, and neither memory nor the audit file keeps it', async () => {
  const grpc = kmsClient(kms.socketPath);
  for (const bytes of [1024 * 1024, 8 * 1024]) {
    for (let i = 0; i < 20; i++) {
      const uid = 'u'.repeat(bytes);
      expect(await code(grpc.encrypt({ plaintext: Buffer.alloc(32, 1), uid }))).toBe('INVALID_ARGUMENT');
    }
  }
  expect(await code(grpc.encrypt({ plaintext: Buffer.alloc(32, 1), uid: randomUUID() }))).toBe('OK');
  grpc.close();
  const refused = kms.service.audit.query({ code: 'INVALID_ARGUMENT' });
  expect(refused).toHaveLength(40);
  for (const r of refused) expect(r.uid.length).toBeLessThan(300);
  expect(refused[0]!.message).toMatch(/request is 1048614 bytes; at most 65536 accepted/);
  expect(refused[39]!.message).toMatch(/uid is 8192 bytes; this plugin accepts at most 128/);
  // 20 MiB of uids came in; what was kept is a few hundred bytes per call.
  expect(statSync(join(dir, 'audit.jsonl')).size).toBeLessThan(40 * 1024);
}, 30_000);

test('undecodable and oversized requests are answered INVALID_ARGUMENT and audited, not dropped', async () => {
  const raw = new Client(`unix://${kms.socketPath}`, credentials.createInsecure());
  const send = (path: string, body: Buffer) =>
    new Promise<string>((resolve) =>
      raw.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        body,
        new Metadata(),
        { deadline: Date.now() + 5000 },
        (error) => resolve(error ? Code[error.code]! : 'OK'),
      ),
    );
  expect(await send('/v2.KeyManagementService/Encrypt', Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff]))).toBe(
    'INVALID_ARGUMENT',
  );
  expect(await send('/v2.KeyManagementService/Decrypt', Buffer.alloc(200 * 1024, 0x41))).toBe('INVALID_ARGUMENT');
  expect(await send('/v2.KeyManagementService/Status', Buffer.from([0xff]))).toBe('INVALID_ARGUMENT');
  raw.close();
  const audit = kms.service.audit.query();
  expect(audit.map((r) => [r.method, r.code])).toEqual([
    ['Encrypt', 'INVALID_ARGUMENT'],
    ['Decrypt', 'INVALID_ARGUMENT'],
    ['Status', 'INVALID_ARGUMENT'],
  ]);
  expect(audit[1]!.requestBytes).toBe(200 * 1024);
  expect(audit[1]!.message).toMatch(/at most 65536/);
});

test('connections that half-close, send garbage or say nothing are closed; a real client keeps working', async () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const emptySettings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  const open = (first?: Buffer, fin = false): Socket => {
    const s = createConnection(kms.socketPath);
    s.on('error', () => undefined);
    if (first) s.write(first);
    if (fin) s.end();
    return s;
  };
  const clients = [
    ...Array.from({ length: 10 }, () => open(Buffer.concat([preface, emptySettings, Buffer.from('garbage')]), true)),
    ...Array.from({ length: 10 }, () => open(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))),
    ...Array.from({ length: 10 }, () => open()),
    ...Array.from({ length: 10 }, () => open(Buffer.concat([preface, emptySettings]))),
  ];
  await new Promise((r) => setTimeout(r, 300));
  expect(kms.connections).toBeGreaterThanOrEqual(20);
  await new Promise((r) => setTimeout(r, 2500));
  expect(kms.connections).toBe(0);
  for (const c of clients) c.destroy();

  const grpc = kmsClient(kms.socketPath);
  expect((await grpc.status()).healthz).toBe('ok');
  grpc.close();
}, 20_000);
