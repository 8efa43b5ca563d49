import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LocalLab, identityOnly, labHealth } from '../harness/index.js';
import { decodeKmsV2Value, openWithSeed } from '../sim/index.js';
import { kmsClient } from './support/kms-client.js';
import { isolateHome, uniqueName } from './support/env.js';

isolateHome();

describe('local lab: real etcd + kube-apiserver + fake KMS v2 plugin', () => {
  let lab: LocalLab;
  beforeAll(async () => {
    lab = await LocalLab.start({ name: uniqueName('lab') });
  });
  afterAll(() => lab?.close());

  test('a Secret is stored as k8s:enc:kms:v2:<provider>: with the current key_id, and reads back', async () => {
    const password = `p@ss-${randomUUID()}`;
    const ref = { namespace: 'default', name: 'db-credentials' };
    await lab.api.createSecret(ref, { password });

    const raw = (await lab.etcd.get(`/registry/secrets/${ref.namespace}/${ref.name}`))!;
    expect(raw).not.toBeNull();
    expect(raw.subarray(0, 22).toString()).toBe('k8s:enc:kms:v2:kmslab:');
    expect(raw.includes(Buffer.from(password))).toBe(false);
    const { provider, object } = decodeKmsV2Value(raw);
    expect(provider).toBe('kmslab');
    expect(object.keyID).toBe((await lab.kms.status()).keyId);

    const read = await lab.api.readSecret(ref);
    expect(read.data.password?.toString()).toBe(password);

    // Decrypt the stored bytes ourselves: the plugin unwraps the DEK seed, our envelope code does the rest.
    const kms = kmsClient(lab.record.kms.socket);
    try {
      const { plaintext: seed } = await kms.decrypt({
        ciphertext: object.encryptedDEKSource,
        keyId: object.keyID,
        uid: randomUUID(),
        annotations: object.annotations,
      });
      const stored = openWithSeed(seed, object.encryptedData, `/registry/secrets/${ref.namespace}/${ref.name}`);
      expect(stored.subarray(0, 4).toString('latin1')).toBe('k8s\u0000');
      expect(stored.includes(Buffer.from(password))).toBe(true);
    } finally {
      kms.close();
    }
  });

  test('the apiserver calls Encrypt for its DEK seed at startup, not once per Secret', async () => {
    for (let i = 0; i < 20; i++)
      await lab.api.createSecret({ namespace: 'default', name: `bulk-${i}` }, { n: String(i) });
    const encrypts = await lab.kms.audit({ method: 'Encrypt' });
    expect(encrypts).toHaveLength(1);
    expect(encrypts[0]!.code).toBe('OK');
    expect(encrypts[0]!.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a plugin killed with SIGKILL comes back on its state dir: after an apiserver restart every Secret decrypts', async () => {
    const ref = { namespace: 'default', name: 'survives-kill' };
    await lab.api.createSecret(ref, { v: 'still here' });
    const pid = lab.kmsMembers[0]!.process!.pid;
    const mark = (await lab.kms.audit({ limit: 1 }))[0]!.seq;
    await lab.kms.restart();
    expect(lab.kmsMembers[0]!.process!.pid).not.toBe(pid);
    // The restarted plugin continues the audit trail from its file.
    expect((await lab.kms.audit({ limit: 1 }))[0]!.seq).toBeGreaterThanOrEqual(mark);
    await lab.apiservers[0]!.restart();
    expect((await lab.api.readSecret(ref)).data.v?.toString()).toBe('still here');
    expect((await lab.api.readSecret({ namespace: 'default', name: 'db-credentials' })).data.password).toBeDefined();
    // The new plugin process unwrapped seeds wrapped by the old one: Decrypts happened, none refused.
    const after = await lab.kms.audit({ afterSeq: mark });
    expect(after.filter((r) => r.method === 'Decrypt' && r.code === 'OK').length).toBeGreaterThan(0);
    expect(after.filter((r) => r.code !== 'OK')).toEqual([]);
  });

  test('inspect counts every Secret as KMS v2 under the current key_id', async () => {
    const report = await lab.etcd.inspect('/registry/secrets/');
    const { keyId } = await lab.kms.status();
    expect(report.summary.byResource.secrets?.byClass).toEqual({ 'kms-v2': report.summary.total });
    expect(report.summary.byKeyId.kmslab).toEqual({ [keyId]: report.summary.total });
    expect(report.summary.total).toBeGreaterThanOrEqual(21);
  });
});

describe('local lab with identity only', () => {
  let lab: LocalLab;
  beforeAll(async () => {
    lab = await LocalLab.start({ name: uniqueName('plain'), encryption: () => [identityOnly()] });
  });
  afterAll(() => lab?.close());

  test('a Secret is plaintext in etcd and inspect says so', async () => {
    await lab.api.createSecret({ namespace: 'default', name: 'plain' }, { token: 'visible-in-etcd' });
    const raw = (await lab.etcd.get('/registry/secrets/default/plain'))!;
    expect(raw.subarray(0, 4).toString('latin1')).toBe('k8s\u0000');
    expect(raw.includes(Buffer.from('visible-in-etcd'))).toBe(true);
    const report = await lab.etcd.inspect('/registry/secrets/');
    expect(report.summary.byClass).toEqual({ identity: 1 });
    expect(await lab.kms.audit({ method: 'Encrypt' })).toHaveLength(0);
  });
});

describe('two kube-apiservers on one etcd (HA)', () => {
  let lab: LocalLab;
  beforeAll(async () => {
    lab = await LocalLab.start({ name: uniqueName('ha'), apiservers: 2 });
  });
  afterAll(() => lab?.close());

  test('each apiserver wraps its own DEK seed, and each reads what the other wrote', async () => {
    const [a, b] = lab.apiservers as [LocalLab['apiservers'][number], LocalLab['apiservers'][number]];
    await a.api.createSecret({ namespace: 'default', name: 'from-a' }, { v: 'a' });
    await b.api.createSecret({ namespace: 'default', name: 'from-b' }, { v: 'b' });
    const source = async (name: string) =>
      decodeKmsV2Value((await lab.etcd.get(`/registry/secrets/default/${name}`))!).object;
    const [sa, sb] = [await source('from-a'), await source('from-b')];
    expect(sa.keyID).toBe(sb.keyID);
    expect(sa.encryptedDEKSource.equals(sb.encryptedDEKSource)).toBe(false);
    expect((await b.api.readSecret({ namespace: 'default', name: 'from-a' })).data.v?.toString()).toBe('a');
    expect((await a.api.readSecret({ namespace: 'default', name: 'from-b' })).data.v?.toString()).toBe('b');
    expect((await labHealth(lab.record)).state).toBe('running');
  });
});
