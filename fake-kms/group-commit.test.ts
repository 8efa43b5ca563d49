import { randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, credentials, status as Code, type ServiceError } from '@grpc/grpc-js';
import { afterEach, expect, test } from 'vitest';
import { kmsClient } from '../test/support/kms-client.js';
import { AuditTrail } from './audit.js';
import { GrpcListener } from './grpc-server.js';
import type { KmsPlugin } from './plugin.js';
import { KmsService } from './service.js';

// A plugin that answers at once, so only the audit trail stands between a call and its answer.
const echo: KmsPlugin = {
  status: async () => ({ version: 'v2', healthz: 'ok', keyId: 'k1' }),
  encrypt: async (r) => ({ ciphertext: Buffer.from(r.plaintext), keyId: 'k1', annotations: {} }),
  decrypt: async (r) => ({ plaintext: Buffer.from(r.ciphertext) }),
};

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function serve(file: string) {
  const audit = await AuditTrail.open({ file });
  const listener = new GrpcListener(
    new KmsService({ plugin: echo, audit }),
    join(mkdtempSync(join(tmpdir(), 'gc-')), 'kms.sock'),
  );
  await listener.open();
  const client = kmsClient(listener.socketPath);
  cleanup.push(
    () => listener.close(),
    () => audit.close(),
    () => client.close(),
  );
  return { audit, client, socketPath: listener.socketPath };
}

test('records of one event-loop turn share one write at its end; one at a time, each is written at once', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'gc-')), 'audit.jsonl');
  const audit = await AuditTrail.open({ file });
  const call = (i: number) => ({
    time: new Date().toISOString(),
    method: 'Encrypt' as const,
    uid: `u${i}`,
    keyId: 'k1',
    code: 'OK',
    latencyMs: 0,
    requestBytes: 32,
    responseBytes: 60,
    faults: [],
  });
  const lines = () => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).length;
  let made = 0;
  // One turn: `count` records. Returns how many of them were on file when record returned.
  const turn = async (count: number) => {
    const before = lines();
    const promises = [];
    let atOnce = 0;
    for (let i = 0; i < count; i++) {
      promises.push(audit.record(call(made++)));
      if (lines() > before + atOnce) atOnce++;
    }
    expect(audit.query().length).toBe(made); // queries see the calls at once
    await Promise.all(promises);
    expect(lines()).toBe(made);
    await new Promise((resolve) => setImmediate(resolve)); // the next turn
    return atOnce;
  };
  expect(await turn(1)).toBe(1); // a lone call is written at once
  expect(await turn(50)).toBe(1); // a burst after lone calls: the first at once, the rest at the end of the turn
  expect(await turn(50)).toBe(0); // a burst after a burst: all at the end of the turn
  expect(await turn(1)).toBe(0); // the first lone call after a burst waits for the end of its turn
  expect(await turn(1)).toBe(1); // then lone calls are written at once again
  expect(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).uid),
  ).toEqual(Array.from({ length: made }, (_, i) => `u${i}`));
  await audit.close();
});

test('many concurrent calls are all on file by the time each is answered', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'gc-')), 'audit.jsonl');
  const { client } = await serve(file);
  const uids = Array.from({ length: 64 }, () => randomUUID());
  await Promise.all(
    uids.map(async (uid) => {
      await client.encrypt({ plaintext: Buffer.alloc(32), uid });
      // Read at the moment this answer arrived: its record must already be there.
      expect(readFileSync(file, 'utf8')).toContain(uid);
    }),
  );
});

test('when the audit write fails, the call fails instead of being answered without a record', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'gc-')), 'audit.jsonl');
  const { audit, client } = await serve(file);
  await client.status(); // a working trail answers
  // Point the trail at a device where every write fails (ENOSPC): what a full disk looks like.
  Reflect.set(audit, 'fd', openSync('/dev/full', 'w'));
  const error = await client.encrypt({ plaintext: Buffer.alloc(32), uid: randomUUID() }).then(
    () => undefined,
    (e: ServiceError) => e,
  );
  expect(error?.code).toBe(Code.INTERNAL);
  expect(error?.details).toMatch(/audit trail write failed: .*ENOSPC/);
});

test('a request that cannot be decoded is refused only once its record is on file, and fails when that write does', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'gc-')), 'audit.jsonl');
  const { audit, socketPath } = await serve(file);
  const raw = new Client(`unix://${socketPath}`, credentials.createInsecure());
  cleanup.push(() => raw.close());
  const garbage = () =>
    new Promise<ServiceError>((resolve, reject) =>
      raw.makeUnaryRequest<Buffer, Buffer>(
        '/v2.KeyManagementService/Encrypt',
        (b) => b,
        (b) => b,
        Buffer.from([0xff, 0xff]), // field 31, wire type 7: not protobuf
        (error) => (error ? resolve(error) : reject(new Error('garbage was answered OK'))),
      ),
    );
  const refused = await garbage();
  expect(refused.code).toBe(Code.INVALID_ARGUMENT);
  expect(readFileSync(file, 'utf8')).toContain('"code":"INVALID_ARGUMENT"');
  Reflect.set(audit, 'fd', openSync('/dev/full', 'w'));
  const failed = await garbage();
  expect(failed.code).toBe(Code.INTERNAL);
  expect(failed.details).toMatch(/audit trail write failed: .*ENOSPC/);
});
