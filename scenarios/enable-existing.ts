import { kmsThenIdentity } from '../harness/kube/encryption-config.js';
import { expectAllKmsV2, expectAllPlaintext, storedAs } from './checks.js';
import { ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import { SecretSet, secretKey } from './secret-set.js';

export const enableExisting: Scenario = {
  name: 'enable-existing',
  summary: 'Turn on KMS v2 in a running cluster whose Secrets are plaintext, then migrate them',
  proves:
    'Secrets written before encryption stay plaintext until rewritten; after the hot reload new Secrets are encrypted, a rewrite of every Secret brings coverage to 100% with data intact, and the old plaintext survives in etcd history until compaction',
  tags: ['core'],
  needs: { encryption: 'identity' },
  async run(lab, ctx) {
    const set = new SecretSet(ctx.namespace);
    const prefix = `/registry/secrets/${ctx.namespace}/`;
    await ctx.step(`create ${ctx.params.secrets} Secrets before encryption is on`, async (ev) => {
      await set.create(lab.api, 'old', ctx.params.secrets);
      ev.created = set.size;
    });
    const plaintextRevision = await ctx.step('raw etcd: they are plaintext', async (ev) => {
      ev.stored = await expectAllPlaintext(lab, prefix);
      const first = secretKey(set.refs[0]!);
      for await (const page of lab.etcd.scan(first)) return page.entries[0]!.modRevision;
      throw new ScenarioFailure(`${first} is missing from etcd`);
    });
    await ctx.step('enable KMS v2 (first) with identity second, by hot reload of every apiserver', async (ev) => {
      const t = lab.clock.now();
      for (const a of lab.apiservers)
        await a.setEncryption(lab.kmsRules ?? [kmsThenIdentity(lab.providerName, lab.kmsSocket)], 'reload');
      ev.reloadSeconds = (lab.clock.now() - t) / 1000;
    });
    const fresh = new SecretSet(ctx.namespace);
    await ctx.step('new Secrets are encrypted; old ones are still plaintext', async (ev) => {
      await fresh.create(lab.api, 'new', Math.max(1, Math.ceil(ctx.params.secrets / 4)));
      const s = await storedAs(lab, prefix);
      ev.coverage = s;
      const { keyId } = await lab.kms.status();
      if ((s.byKeyId[lab.providerName]?.[keyId] ?? 0) !== fresh.size || (s.byClass.identity ?? 0) !== set.size) {
        throw new ScenarioFailure(
          `expected ${fresh.size} KMS v2 and ${set.size} plaintext values; saw ${JSON.stringify(s.byClass)}`,
        );
      }
      ev.encryptedPercent = Math.round((1000 * fresh.size) / s.total) / 10;
    });
    await ctx.step('every Secret, old and new, still reads', async (ev) => {
      ev.read = (await set.verifyAll(lab.api)) + (await fresh.verifyAll(lab.api));
    });
    await ctx.step('migrate: rewrite every old Secret', async (ev) => {
      Object.assign(ev, await set.rewrite(lab.api));
      if (ev.rewritten !== set.size)
        throw new ScenarioFailure(`only ${ev.rewritten} of ${set.size} Secrets were rewritten`);
    });
    await ctx.step('raw etcd: 100% KMS v2 with the current key_id; every value intact', async (ev) => {
      const { keyId } = await lab.kms.status();
      ev.stored = await expectAllKmsV2(lab, prefix, keyId, set.size + fresh.size);
      ev.read = (await set.verifyAll(lab.api)) + (await fresh.verifyAll(lab.api));
    });
    await ctx.step('etcd history keeps the plaintext until compaction', async (ev) => {
      const key = secretKey(set.refs[0]!);
      const old = await lab.etcd.getAt(key, plaintextRevision);
      if (!old || old.subarray(0, 4).toString('latin1') !== 'k8s\u0000') {
        throw new ScenarioFailure(`expected the plaintext of ${key} at revision ${plaintextRevision}`);
      }
      ev.plaintextAtRevision = plaintextRevision;
      await lab.etcd.compact();
      const gone = await lab.etcd.getAt(key, plaintextRevision).then(
        () => false,
        (e: Error) => /compacted/.test(e.message),
      );
      if (!gone) throw new ScenarioFailure(`revision ${plaintextRevision} is still readable after compaction`);
      ev.afterCompaction = 'old revision gone';
    });
  },
};
