import { randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as Code, type ServiceError } from '@grpc/grpc-js';
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
  return { audit, client };
}

test('records of one event-loop turn share one write, which has not happened yet when record returns', async () => {
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
  const written = Array.from({ length: 50 }, (_, i) => audit.record(call(i)));
  expect(new Set(written).size).toBe(1); // one batch
  expect(readFileSync(file, 'utf8')).toBe(''); // nothing written before the turn ends
  expect(audit.query().length).toBe(50); // yet queries see the calls at once
  await written[0];
  expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(50);
  await audit.durable();
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
