import { describe, expect, test } from 'vitest';
import { startLab, type Lab } from '../harness/index.js';
import { keyIdOf } from '../scenarios/checks.js';
import { runFleet, type FleetEvent } from '../sim/index.js';
import { isolateHome, uniqueName } from './support/env.js';

// The fleet model held to a real kube-apiserver: the same sequence on a local lab and in `runFleet`, and the KMS
// calls the plugin answered (Encrypt and Decrypt, from its audit trail) must be equal. Status is left out, as in the
// sim's differential tests: its count follows the machine's timing (the lab's own /readyz polls run the probe).
// The model replays the sequence in its own virtual time; only counts are compared. KMSLAB_FLEET_K8S=v1.34.4 runs it
// on another version (the model then decodes one object at a time, as 1.34–1.36 do).
isolateHome();

const N = 12;
const VERSION = process.env.KMSLAB_FLEET_K8S;
const minor = Number((VERSION ?? 'v1.37').split('.')[1]);
// kube-apiserver 1.37 decodes watch events ten at a time (ConcurrentWatchObjectDecode on by default); earlier ones one.
const listDecodeConcurrency = minor >= 37 ? 10 : 1;
const version = VERSION ? { k8sVersion: VERSION } : {};
const answered = async (lab: Lab, method: 'Encrypt' | 'Decrypt') =>
  (await lab.kms.audit()).filter((r) => r.method === method && r.code === 'OK').length;

async function writeSecrets(lab: Lab, apiserver: number, prefix: string, n: number): Promise<void> {
  const api = lab.apiservers[apiserver]!.api;
  for (let i = 0; i < n; i++) await api.createSecret({ namespace: 'fleet', name: `${prefix}-${i}` }, { v: `${i}` });
}

describe('fleet model = real local backend at small scale (KMS v2)', () => {
  test('start, N writes, a rotation, a write with the new key_id, a restart', async () => {
    await using lab = await startLab({ name: uniqueName('fleet'), removeOnClose: true, ...version });
    await lab.api.ensureNamespace('fleet');
    await writeSecrets(lab, 0, 'before', N);
    const rotated = await lab.kms.rotate();
    // Until the apiserver has seen the new key_id (the probe behind /healthz/kms-providers), writes keep the old
    // seed; count every write, whichever seed it got.
    let writes = 0;
    for (let attempt = 0; ; attempt++) {
      expect(attempt, 'the apiserver never wrote with the new key_id').toBeLessThan(60);
      await lab.api.request('GET', '/healthz/kms-providers');
      await writeSecrets(lab, 0, `after-${attempt}`, 1);
      writes++;
      if ((await keyIdOf(lab, `/registry/secrets/fleet/after-${attempt}-0`)) === rotated.keyId) break;
      await new Promise((r) => setTimeout(r, 2000));
    }
    await lab.apiservers[0]!.restart();
    await lab.api.readSecret({ namespace: 'fleet', name: 'before-0' });

    const events: FleetEvent[] = [
      { atMs: 1_000, op: 'writes', apiserver: 0, count: N, fresh: true },
      { atMs: 2_000, op: 'rotate' },
      // After the model's next Status (60 s after its start): the write that carries the new seed.
      { atMs: 61_000, op: 'writes', apiserver: 0, count: writes, fresh: true },
      { atMs: 62_000, op: 'restart', apiserver: 0 },
    ];
    const model = runFleet(
      { apiservers: 1, objects: 0, durationMs: 5 * 60_000, events, healthCheckEveryMs: 0, listDecodeConcurrency },
      'v2',
    );
    const real = { Encrypt: await answered(lab, 'Encrypt'), Decrypt: await answered(lab, 'Decrypt') };
    expect(real).toEqual({ Encrypt: model.calls.Encrypt, Decrypt: model.calls.Decrypt });
    // 3 seeds; after the restart 2 seeds are stored, in N + `writes` Secrets (≥ 10): one Decrypt per seed when
    // objects are decoded one at a time, else the first ten decoded together all miss the DEK cache.
    expect(real).toEqual({ Encrypt: 3, Decrypt: listDecodeConcurrency === 1 ? 2 : 10 });
  });

  test('two apiservers: each decrypts the other’s seed once, as its watch cache first sees it', async () => {
    await using lab = await startLab({ name: uniqueName('fleet-ha'), apiservers: 2, removeOnClose: true, ...version });
    await lab.api.ensureNamespace('fleet');
    // The first Secret of a new seed, then wait until the other apiserver's watch cache has decrypted it, then the
    // rest: otherwise writes that arrive while that Decrypt is in flight miss the cache too (timing, not a rule).
    for (const [apiserver, prefix] of [
      [0, 'a'],
      [1, 'b'],
    ] as const) {
      const before = await answered(lab, 'Decrypt');
      await writeSecrets(lab, apiserver, `${prefix}-first`, 1);
      for (let i = 0; (await answered(lab, 'Decrypt')) === before; i++) {
        expect(i, 'the other apiserver never decrypted the new seed').toBeLessThan(100);
        await new Promise((r) => setTimeout(r, 100));
      }
      await writeSecrets(lab, apiserver, prefix, N);
    }
    await lab.apiservers[0]!.api.readSecret({ namespace: 'fleet', name: `b-${N - 1}` });
    await lab.apiservers[1]!.api.readSecret({ namespace: 'fleet', name: `a-${N - 1}` });

    const events: FleetEvent[] = [
      { atMs: 1_000, op: 'writes', apiserver: 0, count: N + 1, fresh: true },
      { atMs: 2_000, op: 'writes', apiserver: 1, count: N + 1, fresh: true },
    ];
    const model = runFleet(
      { apiservers: 2, objects: 0, durationMs: 60_000, events, healthCheckEveryMs: 0, listDecodeConcurrency },
      'v2',
    );
    const real = { Encrypt: await answered(lab, 'Encrypt'), Decrypt: await answered(lab, 'Decrypt') };
    expect(real).toEqual({ Encrypt: model.calls.Encrypt, Decrypt: model.calls.Decrypt });
    expect(real).toEqual({ Encrypt: 2, Decrypt: 2 });
  });
});
