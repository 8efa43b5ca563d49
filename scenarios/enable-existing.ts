import { expectAllPlaintext, storedAs } from './checks.js';
import { findEncryptedStep } from './common-steps.js';
import { kmsRulesOf } from './encrypted-resources.js';
import { ScenarioFailure } from './error-class.js';
import { expectEncrypted, migrate, migrationEvidence, readOthers } from './migration.js';
import type { Scenario } from './model.js';
import { secretKey } from './secret-set.js';
import { Workload } from './workload.js';

export const enableExisting: Scenario = {
  name: 'enable-existing',
  summary: 'Turn on KMS v2 in a running cluster whose Secrets are plaintext, then migrate them',
  proves:
    'objects written before encryption stay plaintext until rewritten; after the hot reload new ones are encrypted, a rewrite of every resource the config encrypts brings coverage to 100% with data intact, and the old plaintext survives in etcd history until compaction',
  tags: ['core'],
  needs: { encryption: 'identity' },
  async run(lab, ctx) {
    const encrypted = await findEncryptedStep(lab, ctx);
    const providerOf = (resource: string) =>
      encrypted.resources.find((r) => r.name === resource)?.provider ?? lab.providerName;
    const old = new Workload(ctx.namespace, encrypted);
    await ctx.step(`create ${old.describe(ctx.params.secrets)} before encryption is on`, async (ev) => {
      ev.created = await old.create(lab.api, 'old', ctx.params.secrets);
    });
    const plaintextRevision = await ctx.step('raw etcd: they are plaintext', async (ev) => {
      for (const set of old.sets) ev[`stored ${set.resource}`] = await expectAllPlaintext(lab, set.etcdPrefix);
      const first = secretKey(old.secrets.refs[0]!);
      for await (const page of lab.etcd.scan(first)) return page.entries[0]!.modRevision;
      throw new ScenarioFailure(`${first} is missing from etcd`);
    });
    await ctx.step('enable KMS v2 (first) with identity second, by hot reload of every apiserver', async (ev) => {
      const t = lab.clock.now();
      for (const a of lab.apiservers) await a.setEncryption(kmsRulesOf(lab), 'reload');
      ev.reloadSeconds = (lab.clock.now() - t) / 1000;
    });
    const fresh = new Workload(ctx.namespace, encrypted);
    await ctx.step(`new ${encrypted.label} are encrypted; old ones are still plaintext`, async (ev) => {
      await fresh.create(lab.api, 'new', Math.max(1, Math.ceil(ctx.params.secrets / 4)));
      const { keyId } = await lab.kms.status();
      for (const set of old.sets) {
        const s = await storedAs(lab, set.etcdPrefix);
        ev[`coverage ${set.resource}`] = s;
        const added = fresh.setFor(set.resource)!.size;
        if ((s.byKeyId[providerOf(set.resource)]?.[keyId] ?? 0) !== added || (s.byClass.identity ?? 0) !== set.size) {
          throw new ScenarioFailure(
            `${set.resource}: expected ${added} KMS v2 (${providerOf(set.resource)}) and ${set.size} plaintext values; saw ${JSON.stringify(s.byClass)}`,
          );
        }
      }
      ev.encryptedPercent = Math.round((1000 * fresh.size) / (fresh.size + old.size)) / 10;
    });
    await ctx.step(`${encrypted.every}, old and new, still reads`, async (ev) => {
      ev.read = (await old.verifyAll(lab.api)) + (await fresh.verifyAll(lab.api));
    });
    const migration = await ctx.step(`migrate: rewrite ${encrypted.every}`, async (ev) => {
      const m = await migrate(lab.api, encrypted);
      Object.assign(ev, migrationEvidence(m));
      for (const set of old.sets) {
        const { rewritten } = m.counts[set.resource]!;
        if (rewritten < set.size)
          throw new ScenarioFailure(
            `only ${rewritten} ${set.noun} were rewritten; the ${set.size} written in plaintext needed to be`,
          );
      }
      return m;
    });
    await ctx.step('raw etcd: 100% KMS v2 with the current key_id; every value intact', async (ev) => {
      const { keyId } = await lab.kms.status();
      await expectEncrypted(lab, encrypted, keyId, ev, { workload: old, migration });
      ev.read = (await old.verifyAll(lab.api)) + (await fresh.verifyAll(lab.api));
      ev.othersRead = await readOthers(lab.api, migration, old);
    });
    await ctx.step('etcd history keeps the plaintext until compaction', async (ev) => {
      const key = secretKey(old.secrets.refs[0]!);
      const before = await lab.etcd.getAt(key, plaintextRevision);
      if (!before || before.subarray(0, 4).toString('latin1') !== 'k8s\u0000') {
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
