import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { startLab, type EncryptionRule } from '../harness/index.js';
import { runFleet } from '../sim/index.js';
import { KmsV1Plugin } from './support/kms-v1-plugin.js';
import { isolateHome, uniqueName } from './support/env.js';

// KMS v1 → v2 on the newest kube-apiserver that still serves KMS v1 (v1.37.2, behind --feature-gates=KMSv1=true):
// Secrets written under a v1 plugin, then KMS v2 put first with v1 still there to read, every Secret rewritten,
// v1 removed and its plugin stopped. On the way it checks the KMS v1 call pattern the fleet model uses: one
// Encrypt per write, one Decrypt per stored object when a restarted apiserver LISTs them.
isolateHome();
const N = 20;
const dir = mkdtempSync(join(tmpdir(), 'kmsv1-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('KMS v1 → v2 migration', () => {
  test('v1 Secrets become v2 with no Secret unreadable at any step', async () => {
    const v1 = await KmsV1Plugin.start(join(dir, 'v1.sock'));
    try {
      const legacy = { kmsV1: { name: 'legacy', socket: v1.socketPath } };
      await using lab = await startLab({
        name: uniqueName('kmsv1'),
        removeOnClose: true,
        apiserverArgs: ['--feature-gates=KMSv1=true'],
        encryption: (): EncryptionRule[] => [{ resources: ['secrets'], providers: [legacy, { identity: {} }] }],
      });
      const apiserver = lab.apiservers[0]!;
      const v2 = { kms: { name: lab.providerName, socket: lab.kmsSocket } };
      const refs = Array.from({ length: N }, (_, i) => ({ namespace: 'migrate', name: `s-${i}` }));
      await lab.api.ensureNamespace('migrate');
      for (const ref of refs) await lab.api.createSecret(ref, { v: ref.name });
      const readAll = async () => {
        for (const ref of refs) expect((await lab.api.readSecret(ref)).data.v?.toString()).toBe(ref.name);
      };

      // KMS v1: one Encrypt per write (a fresh DEK each), stored as k8s:enc:kms:v1:legacy:.
      expect(v1.calls.encryptDek).toBe(N);
      let report = await lab.etcd.inspect('/registry/secrets/migrate/');
      expect(report.summary.byClass).toEqual({ 'kms-v1': N });

      // A restart: the watch cache LISTs every Secret, one Decrypt per object (each has its own DEK); reads then hit
      // the DEK cache (20 ≤ cachesize 1000). The fleet model says the same.
      const decryptsBefore = v1.calls.decryptDek;
      await apiserver.restart();
      await readAll();
      const listDecrypts = v1.calls.decryptDek - decryptsBefore;
      const model = runFleet(
        {
          apiservers: 1,
          objects: 0,
          durationMs: 60_000,
          healthCheckEveryMs: 0,
          events: [
            { atMs: 1_000, op: 'writes', apiserver: 0, count: N, fresh: true },
            { atMs: 2_000, op: 'restart', apiserver: 0 },
          ],
        },
        'v1',
      );
      expect({ Encrypt: v1.calls.encryptDek, Decrypt: listDecrypts }).toEqual({
        Encrypt: model.calls.Encrypt,
        Decrypt: model.calls.Decrypt,
      });
      expect(listDecrypts).toBe(N);

      // KMS v2 first, v1 kept to read: old Secrets read through v1 are stale, so a no-op PUT rewrites each with v2.
      await apiserver.setEncryption([{ resources: ['secrets'], providers: [v2, legacy, { identity: {} }] }], 'restart');
      await readAll();
      for (const ref of refs) await lab.api.updateSecret(ref);
      report = await lab.etcd.inspect('/registry/secrets/migrate/');
      expect(report.summary.byClass).toEqual({ 'kms-v2': N });

      // v1 gone from the config and its plugin stopped: everything still reads, after a restart too.
      await apiserver.setEncryption([{ resources: ['secrets'], providers: [v2, { identity: {} }] }], 'restart');
      await v1.close();
      await readAll();
      await apiserver.restart();
      await readAll();
    } finally {
      await v1.close();
    }
  });
});
