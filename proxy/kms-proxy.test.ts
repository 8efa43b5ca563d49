import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code, type ServiceError } from '@grpc/grpc-js';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { KmsControlClient, startFakeKms, type FakeKms } from '../fake-kms/index.js';
import { kmsClient } from '../test/support/kms-client.js';
import type { KmsProxy, ProxyStatus } from './kms-proxy.js';
import { startProxyUnderTest } from './proxy-under-test.test-helper.js';

// The proxy in front of a plugin: here the fake KMS plays "any plugin", reached only through its socket.
let dir: string;
let upstream: FakeKms;
let proxy: KmsProxy;
let grpc: ReturnType<typeof kmsClient>;
let control: KmsControlClient;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kms-proxy-'));
  upstream = await startFakeKms({
    socketPath: join(dir, 'plugin', 'kms.sock'),
    controlSocketPath: join(dir, 'plugin', 'control.sock'),
  });
  ({ proxy, grpc, control } = await startProxyUnderTest(dir, upstream.socketPath));
});
afterEach(async () => {
  grpc.close();
  await proxy.close();
  await upstream.close();
});

const code = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (e: ServiceError) => Code[e.code],
  );

test('forwards every call unchanged, and audits each one in its own trail', async () => {
  const direct = kmsClient(upstream.socketPath);
  expect(await grpc.status()).toEqual(await direct.status());
  const seed = Buffer.from(randomUUID().replaceAll('-', ''), 'hex');
  const w = await grpc.encrypt({ plaintext: seed, uid: randomUUID() });
  // What came through the proxy opens directly at the plugin, and the other way round.
  expect((await direct.decrypt({ ...w, uid: randomUUID(), ciphertext: w.ciphertext })).plaintext).toEqual(seed);
  const v = await direct.encrypt({ plaintext: seed, uid: randomUUID() });
  expect((await grpc.decrypt({ ...v, uid: randomUUID() })).plaintext).toEqual(seed);
  direct.close();
  const audit = await control.audit();
  expect(audit.map((r) => [r.method, r.code])).toEqual([
    ['Status', 'OK'],
    ['Encrypt', 'OK'],
    ['Decrypt', 'OK'],
  ]);
  expect(audit[1]).toMatchObject({ keyId: w.keyId, requestBytes: 16, responseBytes: w.ciphertext.length });
  expect(readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
});

test("the plugin's own errors come back with their code and text; the proxy's faults apply on top", async () => {
  const up = new KmsControlClient(join(dir, 'plugin', 'control.sock'));
  await up.addFault({ kind: 'error', method: 'Decrypt', code: 'PERMISSION_DENIED', message: 'kms:Decrypt denied' });
  const err = await grpc
    .decrypt({ ciphertext: Buffer.from('x'), keyId: 'k', uid: randomUUID(), annotations: {} })
    .catch((e: ServiceError) => e);
  expect(Code[(err as ServiceError).code]).toBe('PERMISSION_DENIED');
  expect((err as ServiceError).details).toBe('kms:Decrypt denied');
  await control.addFault({ kind: 'healthz', value: 'lying' });
  await control.addFault({ kind: 'error', method: 'Encrypt', code: 'UNAVAILABLE', count: 1 });
  expect((await grpc.status()).healthz).toBe('lying');
  expect(await code(grpc.encrypt({ plaintext: Buffer.alloc(32, 1), uid: randomUUID() }))).toBe('UNAVAILABLE');
  expect(await code(grpc.encrypt({ plaintext: Buffer.alloc(32, 1), uid: randomUUID() }))).toBe('OK');
  const refused = (await control.audit({ code: 'PERMISSION_DENIED' }))[0]!;
  expect(refused).toMatchObject({ method: 'Decrypt', message: 'kms:Decrypt denied', faults: [] });
});

test("a forwarded call gives up at the caller's deadline, even when the plugin never answers", async () => {
  const up = new KmsControlClient(join(dir, 'plugin', 'control.sock'));
  await up.addFault({ kind: 'hang', method: 'Status' });
  const t = Date.now();
  expect(await code(grpc.status())).toBe('DEADLINE_EXCEEDED'); // kmsClient's deadline: 5 s
  expect(Date.now() - t).toBeLessThan(9_000);
  await up.clearFaults();
}, 15_000);

test('stop takes the socket away (the plugin runs on); /status asks the plugin afresh', async () => {
  const up = new KmsControlClient(join(dir, 'plugin', 'control.sock'));
  await control.stopPlugin();
  expect(existsSync(proxy.socketPath)).toBe(false);
  expect((await up.status()).listening).toBe(true);
  const rotated = await up.rotate();
  const s = (await control.status()) as unknown as ProxyStatus;
  expect(s).toMatchObject({ listening: false, keyId: rotated.keyId, plugin: { keyId: rotated.keyId, healthz: 'ok' } });
  await control.startPlugin();
  grpc.close();
  grpc = kmsClient(proxy.socketPath);
  expect((await grpc.status()).keyId).toBe(rotated.keyId);
  // The proxy has no keys of its own to drive.
  await expect(control.rotate()).rejects.toMatchObject({ status: 404 });
}, 20_000);
