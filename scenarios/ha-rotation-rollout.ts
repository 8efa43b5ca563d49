import { ScenarioFailure, errorClass } from './error-class.js';
import { storedAs } from './checks.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';
import type { EncryptionRule } from '../harness/kube/encryption-config.js';

/**
 * Changing the write provider of an HA control plane, one apiserver at a time (a new KMS provider name on the same
 * plugin, as when moving to a new key or plugin): read-key-first keeps every Secret readable everywhere;
 * write-key-first leaves the apiservers that lag unable to read what the updated ones wrote.
 */
export const haRotationRollout: Scenario = {
  name: 'ha-rotation-rollout',
  summary: 'Two apiservers move to a new KMS provider one at a time: read-key-first, then write-key-first',
  proves:
    'adding the new provider as a read provider on every apiserver before any writes with it keeps every Secret readable through every apiserver throughout the rollout; making it the write provider on one apiserver first leaves the lagging apiserver unable to read what the other wrote (identity refuses the encrypted data) until it gets the config',
  tags: ['ha'],
  needs: { encryption: 'kms', apiservers: 2 },
  async run(lab, ctx) {
    const [first, second] = lab.apiservers as [(typeof lab.apiservers)[0], (typeof lab.apiservers)[0]];
    const kms = (name: string) => ({ kms: { name, socket: lab.kmsSocket } });
    const config = (...names: string[]): EncryptionRule[] => [
      { resources: ['secrets'], providers: [...names.map(kms), { identity: {} }] },
    ];
    const [a, b, c] = [lab.providerName, `${lab.providerName}-b`, `${lab.providerName}-c`];
    const set = new SecretSet(ctx.namespace);
    // Every Secret, through both apiservers: how many fail on each, and with what.
    const readEverywhere = async () => {
      const out: Record<string, { read: number; failed: number; errorClass?: string }> = {};
      for (const api of [first, second]) {
        const { read, failures } = await set.verify(api.api);
        out[api.name] = { read, failed: failures.length };
        if (failures.length) {
          out[api.name]!.errorClass = errorClass(
            await api.api.readSecret(set.refs.find((r) => r.name === failures[0]!.name)!).catch((e: unknown) => e),
          );
        }
      }
      return out;
    };
    await ctx.step(`create ${ctx.params.secrets} Secrets with provider ${a}`, async (ev) => {
      await set.create(first.api, 'secret', ctx.params.secrets);
      ev.created = set.size;
    });
    await ctx.step(`read-key-first: add ${b} as a read provider on every apiserver`, async (ev) => {
      for (const api of [first, second]) await api.setEncryption(config(a, b), 'restart');
      ev.reads = await readEverywhere();
    });
    await ctx.step(
      `read-key-first: make ${b} the write provider on ${first.name}, then on ${second.name}`,
      async (ev) => {
        await first.setEncryption(config(b, a), 'restart');
        await set.create(first.api, 'via-first', 2);
        const during = await readEverywhere();
        await second.setEncryption(config(b, a), 'restart');
        await set.create(second.api, 'via-second', 2);
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
        await first.setEncryption(config(c, b, a), 'restart');
        const fresh = new SecretSet(ctx.namespace);
        await fresh.create(first.api, 'lagged', 3);
        const onLagging = await fresh.verify(second.api);
        const onUpdated = await fresh.verify(first.api);
        ev.readOnUpdated = onUpdated.read;
        ev.failedOnLagging = onLagging.failures.length;
        const error = await second.api.readSecret(fresh.refs[0]!).catch((e: unknown) => e);
        ev.laggingErrorClass = errorClass(error);
        ev.laggingError = String((error as Error)?.message ?? '').slice(0, 300);
        ev.storedWith = (await storedAs(lab, `/registry/secrets/${ctx.namespace}/lagged`)).byKeyId;
        if (onUpdated.failures.length || onLagging.failures.length !== fresh.size) {
          throw new ScenarioFailure(
            `expected the updated apiserver to read all ${fresh.size} new Secrets and the lagging one none; read ${onUpdated.read} and ${onLagging.read}`,
          );
        }
        await second.setEncryption(config(c, b, a), 'restart');
        const caught = await fresh.verify(second.api);
        ev.readOnceUpdated = caught.read;
        if (caught.failures.length)
          throw new ScenarioFailure(`${caught.failures.length} still unreadable once ${second.name} has ${c}`);
      },
    );
  },
};
