import { expectAllKmsV2, expectAllPlaintext } from './checks.js';
import { kmsRulesOf } from './encrypted-resources.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';
import { counted, MigrationWrites } from './svm-agreement.js';
import { migrateWithSvm } from './svm-rotate.js';

/**
 * svmEnableExisting is the StorageVersionMigration path of enable-existing: plaintext Secrets, KMS v2 turned on by
 * hot reload, then upstream's migrator rewrites them. For the times, the lab's own rewrite first moves a second,
 * equal set; the migration then patches every Secret, those already moved without a write.
 */
export const svmEnableExisting: Scenario = {
  name: 'svm-enable-existing',
  summary: 'Turn on KMS v2 over plaintext Secrets and migrate them with a StorageVersionMigration',
  proves:
    "Secrets written in plaintext before KMS v2 is turned on (hot reload) are moved by a StorageVersionMigration for secrets, run by kube-controller-manager's storage-version-migrator-controller, to 100% k8s:enc:kms:v2: on the current key_id in raw etcd, with one write counted under that key_id's hash per plaintext Secret; the lab's own rewrite of an equal set is timed beside it",
  tags: ['migration', 'svm'],
  needs: {
    encryption: 'identity',
    apiserver: 'real',
    controllers: ['storage-version-migrator-controller'],
  },
  async run(lab, ctx) {
    const bySvm = new SecretSet(ctx.namespace);
    const byLab = new SecretSet(`${ctx.namespace}-own`);
    await lab.api.ensureNamespace(byLab.namespace);
    await ctx.step(
      `create ${ctx.params.secrets} Secrets in each of two namespaces before encryption is on`,
      async (ev) => {
        for (const set of [bySvm, byLab]) await set.create(lab.api, 'plain', ctx.params.secrets);
        ev.created = bySvm.size + byLab.size;
        for (const set of [bySvm, byLab]) ev[set.namespace] = await expectAllPlaintext(lab, set.etcdPrefix);
      },
    );
    await ctx.step('enable KMS v2 (first) with identity second, by hot reload of every apiserver', async (ev) => {
      const t = lab.clock.now();
      for (const a of lab.apiservers) await a.setEncryption(kmsRulesOf(lab), 'reload');
      ev.reloadSeconds = (lab.clock.now() - t) / 1000;
    });
    const keyId = (await lab.kms.status()).keyId;
    const labSeconds = await ctx.step(
      `the lab's own rewrite of ${byLab.namespace}'s ${byLab.size} Secrets (raw etcd checked after the migration)`,
      async (ev) => {
        const t = lab.clock.now();
        Object.assign(ev, await byLab.rewrite(lab.api));
        ev.seconds = (lab.clock.now() - t) / 1000;
        return ev.seconds;
      },
    );
    const nudge = counted(() => bySvm.create(lab.api, 'nudge', 1));
    const { svmSeconds, writes } = await ctx.step('a StorageVersionMigration for secrets succeeds', async (ev) => {
      const writes = await MigrationWrites.start(lab, keyId);
      ev.plaintextBefore = writes.staleBefore;
      const t = lab.clock.now();
      ev.conditions = await migrateWithSvm(lab, ctx, 'secrets-to-kms', ev, nudge.write);
      ev.seconds = (lab.clock.now() - t) / 1000;
      return { svmSeconds: ev.seconds, writes };
    });
    await ctx.step(
      "raw etcd: 100% of Secrets KMS v2 on the current key_id, as many as the apiserver's write counter says; both times recorded",
      async (ev) => {
        ev.keyId = keyId;
        ev.stored = await expectAllKmsV2(lab, '/registry/secrets/', keyId, bySvm.size + byLab.size);
        ev.writes = await writes.expectAgrees(lab, nudge.times);
        ev.read = (await bySvm.verifyAll(lab.api)) + (await byLab.verifyAll(lab.api));
        ev.svmSeconds = svmSeconds;
        ev.labRewriteSeconds = labSeconds;
      },
    );
  },
};
