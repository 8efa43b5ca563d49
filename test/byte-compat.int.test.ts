import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LocalLab } from '../harness/index.js';
import { KmsV2Provider, decodeSecret, encodeSecret, realTime, systemRandom, type KmsPlugin } from '../sim/index.js';
import { isolateHome, uniqueName } from './support/env.js';
import { kmsClient } from './support/kms-client.js';

isolateHome();

// The sim's KMS v2 provider (the code the sim apiserver writes and reads with), pointed at the lab's real plugin
// over gRPC, against the real etcd and kube-apiserver: the bytes must be interchangeable in both directions.
describe('byte compatibility: sim envelope ⇄ real kube-apiserver', () => {
  let lab: LocalLab;
  let client: ReturnType<typeof kmsClient>;
  let provider: KmsV2Provider;
  beforeAll(async () => {
    lab = await LocalLab.start({ name: uniqueName('bytes') });
    client = kmsClient(lab.kmsSocket);
    const plugin: KmsPlugin = {
      socket: lab.kmsSocket,
      reachable: () => true,
      status: () => client.status(),
      encrypt: (r) => client.encrypt(r),
      decrypt: (r) => client.decrypt(r),
    };
    provider = new KmsV2Provider(lab.providerName, realTime, plugin, systemRandom);
    await provider.check(); // a real Status and Encrypt: the sim now holds its own DEK seed
  });
  afterAll(async () => {
    client?.close();
    await lab?.close();
  });

  test('a Secret the sim writes into the real etcd reads back through the real apiserver', async () => {
    const ref = { namespace: 'default', name: 'written-by-sim' };
    const key = `/registry/secrets/${ref.namespace}/${ref.name}`;
    const data = { token: Buffer.from('from the model'), bin: Buffer.from([0, 255, 10, 13]) };
    const mark = (await lab.kms.audit({ limit: 1 }))[0]!.seq;
    await lab.etcd.put(
      key,
      provider.seal(key, encodeSecret({ ...ref, uid: randomUUID(), createdAt: Date.now(), data })),
    );

    const read = await lab.api.readSecret(ref);
    expect(read.data).toEqual(data);
    // The apiserver had never seen the sim's seed, so it asked the plugin to unwrap it (once: its watch cache may
    // already have done so when the new value arrived, and the GET then found the DEK cached).
    const decrypts = await lab.kms.audit({ method: 'Decrypt', afterSeq: mark });
    expect(decrypts.map((d) => [d.keyId, d.code])).toEqual([[provider.state!.keyId, 'OK']]);
  });

  test('a Secret the real apiserver writes is decrypted by the sim to the exact stored object', async () => {
    const ref = { namespace: 'default', name: 'written-by-apiserver' };
    const key = `/registry/secrets/${ref.namespace}/${ref.name}`;
    const data = { password: Buffer.from(`p-${randomUUID()}`), bin: Buffer.from([1, 2, 3, 0]) };
    await lab.api.createSecret(ref, data);

    const { plaintext, stale } = await provider.open(key, (await lab.etcd.get(key))!);
    expect(stale).toBe(false);
    expect(decodeSecret(plaintext)).toMatchObject({ ...ref, type: 'Opaque', data });
  });
});
