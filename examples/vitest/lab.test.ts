// A kmslab lab inside your own vitest suite. `await using` closes the lab (and stops every process it started)
// when the test ends, pass or fail. The sim backend runs in milliseconds; use backend: 'local' for the real
// kube-apiserver and etcd (`npx kmslab build` first).
import { expect, test } from 'vitest';
import { expectAllKmsV2, startLab } from 'kmslab';

test('Secrets are stored as KMS v2 under the current key, and rotation moves new writes to the new key', async () => {
  await using lab = await startLab({ backend: 'sim', name: 'vitest-example' });
  const ns = 'payments';
  await lab.api.ensureNamespace(ns);
  await lab.api.createSecret({ namespace: ns, name: 'db' }, { password: 'correct horse' });

  const before = await lab.kms.status();
  const stored = await expectAllKmsV2(lab, `/registry/secrets/${ns}/`, before.keyId);
  expect(stored.total).toBe(1);

  const next = await lab.kms.rotate();
  // The apiserver notices the new key_id from the plugin's Status: wait on the lab's clock (virtual on the sim).
  await lab.clock.waitFor(
    async () => {
      await lab.api.updateSecret({ namespace: ns, name: 'db' });
      const s = await lab.etcd.inspect(`/registry/secrets/${ns}/`);
      return s.summary.byKeyId[lab.providerName]?.[next.keyId] === 1 ? true : undefined;
    },
    { timeoutMs: 120_000, what: 'a rewrite stored under the new key' },
  );
  expect((await lab.api.readSecret({ namespace: ns, name: 'db' })).data.password?.toString()).toBe('correct horse');
});
