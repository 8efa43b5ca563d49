import { ScenarioFailure, errorClass } from './error-class.js';
import { storedAs } from './checks.js';
import { findEncryptedStep } from './common-steps.js';
import { kmsRulesOf } from './encrypted-resources.js';
import { expectEncrypted, migrate, migrationEvidence } from './migration.js';
import type { Scenario } from './model.js';
import { Workload } from './workload.js';
import { replaceKms } from '../harness/kube/encryption-config.js';
import type { LabApiserver } from '../harness/lab.js';

/**
 * Changing the write provider of an HA control plane, one apiserver at a time (a new KMS provider name on the same
 * plugin, as when moving to a new key or plugin): read-key-first keeps every object readable everywhere;
 * write-key-first leaves the apiservers that lag unable to read what the updated ones wrote.
 */
export const haRotationRollout: Scenario = {
  name: 'ha-rotation-rollout',
  summary: 'Two apiservers move to a new KMS provider one at a time: read-key-first, then write-key-first',
  proves:
    'adding the new provider as a read provider on every apiserver before any writes with it keeps every object readable through every apiserver throughout the rollout; making it the write provider on one apiserver first leaves the lagging apiserver unable to read what the other wrote (identity refuses the encrypted data) until it gets the config; a rewrite then moves every resource the config encrypts to the newest provider',
  tags: ['ha'],
  needs: { encryption: 'kms', apiservers: 2 },
  async run(lab, ctx) {
    const [first, second] = lab.apiservers as [LabApiserver, LabApiserver];
    const rules = kmsRulesOf(lab);
    // Every KMS provider of the config gets its "-b" and "-c" successors (kmslab's own config: one provider).
    const config = (...suffixes: string[]) => replaceKms(rules, (name) => suffixes.map((s) => `${name}${s}`));
    const [a, b, c] = ['', '-b', '-c'].map((s) => `${lab.providerName}${s}`) as [string, string, string];
    const encrypted = await findEncryptedStep(lab, ctx, rules);
    const data = new Workload(ctx.namespace, encrypted);
    // Every object, through both apiservers: how many fail on each, and with what.
    const readEverywhere = async (set: Workload = data) => {
      const out: Record<string, { read: number; failed: number; errorClass?: string }> = {};
      for (const api of [first, second]) {
        const { read, failures } = await set.verify(api.api);
        out[api.name] = { read, failed: failures.length };
        if (failures.length) {
          const f = failures[0]!;
          out[api.name]!.errorClass = errorClass(
            await set.setFor(f.resource)!.errorOf(api.api, { namespace: ctx.namespace, name: f.name }),
          );
        }
      }
      return out;
    };
    await ctx.step(`create ${data.describe(ctx.params.secrets)} with provider ${a}`, async (ev) => {
      ev.created = await data.create(first.api, 'secret', ctx.params.secrets);
    });
    await ctx.step(`read-key-first: add ${b} as a read provider on every apiserver`, async (ev) => {
      for (const api of [first, second]) await api.setEncryption(config('', '-b'), 'restart');
      ev.reads = await readEverywhere();
    });
    await ctx.step(
      `read-key-first: make ${b} the write provider on ${first.name}, then on ${second.name}`,
      async (ev) => {
        await first.setEncryption(config('-b', ''), 'restart');
        await data.create(first.api, 'via-first', 2);
        const during = await readEverywhere();
        await second.setEncryption(config('-b', ''), 'restart');
        await data.create(second.api, 'via-second', 2);
        const after = await readEverywhere();
        ev.duringRollout = during;
        ev.afterRollout = after;
        const failed = [during, after].flatMap((r) => Object.values(r)).reduce((n, r) => n + r.failed, 0);
        if (failed)
          throw new ScenarioFailure(
            `${failed} reads failed during a read-key-first rollout: ${JSON.stringify({ during, after })}`,
          );
      },
    );
    await ctx.step(
      `write-key-first: make ${c} the write provider on ${first.name} only; ${second.name} lags`,
      async (ev) => {
        await first.setEncryption(config('-c', '-b', ''), 'restart');
        const fresh = new Workload(ctx.namespace, encrypted);
        await fresh.create(first.api, 'lagged', 3);
        const onLagging = await fresh.verify(second.api);
        const onUpdated = await fresh.verify(first.api);
        ev.readOnUpdated = onUpdated.read;
        ev.failedOnLagging = onLagging.failures.length;
        const error = await fresh.secrets.errorOf(second.api, fresh.secrets.refs[0]!);
        ev.laggingErrorClass = errorClass(error);
        ev.laggingError = String((error as Error)?.message ?? '').slice(0, 300);
        ev.storedWith = (await storedAs(lab, `/registry/secrets/${ctx.namespace}/lagged`)).byKeyId;
        if (onUpdated.failures.length || onLagging.failures.length !== fresh.size) {
          throw new ScenarioFailure(
            `expected the updated apiserver to read all ${fresh.size} new objects and the lagging one none; read ${onUpdated.read} and ${onLagging.read}`,
          );
        }
        await second.setEncryption(config('-c', '-b', ''), 'restart');
        const caught = await fresh.verify(second.api);
        ev.readOnceUpdated = caught.read;
        if (caught.failures.length)
          throw new ScenarioFailure(`${caught.failures.length} still unreadable once ${second.name} has ${c}`);
      },
    );
    await ctx.step(`finish: rewrite ${encrypted.every}; raw etcd: 100% on ${c}, readable everywhere`, async (ev) => {
      const migration = await migrate(first.api, encrypted);
      Object.assign(ev, migrationEvidence(migration));
      const { keyId } = await lab.kms.status();
      await expectEncrypted(lab, encrypted, keyId, ev, {
        workload: data,
        migration,
        provider: (r) => `${r.provider}-c`,
      });
      ev.reads = await readEverywhere();
      const failed = Object.values(ev.reads as Record<string, { failed: number }>).reduce((n, r) => n + r.failed, 0);
      if (failed) throw new ScenarioFailure(`${failed} reads failed after the migration: ${JSON.stringify(ev.reads)}`);
    });
  },
};
