import { join, dirname } from 'node:path';
import { FakeKms } from '../fake-kms/index.js';
import type { EncryptionRule } from '../harness/kube/encryption-config.js';
import { expectAllKmsV2 } from './checks.js';
import { StoredBytes } from './etcd-bytes.js';
import { kmsHealthFails, LIVEZ_HOLD, restartEach } from './common-steps.js';
import { findEncrypted } from './encrypted-resources.js';
import { errorClass, ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import { ObjectSet } from './object-set.js';
import { SecretSet } from './secret-set.js';

/** The second provider's name: its values are stored as `k8s:enc:kms:v2:kmslab-b:`. */
const SECOND = 'kmslab-b';

/**
 * twoProviders runs a second KMS v2 plugin beside the lab's (in kmslab's process, its socket beside the lab's, its
 * keys kept in the lab dir so a restart keeps them): Secrets under the lab's provider, ConfigMaps under the second.
 * Losing the second plugin must cost ConfigMaps only.
 */
export const twoProviders: Scenario = {
  name: 'two-providers',
  summary: "Secrets under the lab's KMS plugin, ConfigMaps under a second one; the second plugin is lost, then back",
  proves:
    "each resource is stored under its own provider's prefix and key_id; /healthz/kms-providers checks both plugins (kms-provider-0 and kms-provider-1) as one check, which with the second plugin gone fails naming kms-provider-1 only; Secrets read and write throughout; after a restart without the second plugin no ConfigMap reads while every Secret does; the second plugin back on its keys, every ConfigMap reads, its etcd bytes untouched",
  tags: ['scope'],
  needs: { apiserver: 'real', plugins: 2 },
  async run(lab, ctx) {
    const socket = join(dirname(lab.kmsSocket), 'kms-b.sock');
    const stateDir = join(dirname(lab.kmsSocket), 'kms-b-state');
    const start = () => FakeKms.start({ socketPath: socket, stateDir, disabledKeyStatus: 'fail-rpc' });
    let second: FakeKms | undefined = await start();
    try {
      const rules: EncryptionRule[] = [
        {
          resources: ['secrets'],
          providers: [{ kms: { name: lab.providerName, socket: lab.kmsSocket } }, { identity: {} }],
        },
        { resources: ['configmaps'], providers: [{ kms: { name: SECOND, socket } }, { identity: {} }] },
      ];
      const sets = await ctx.step('restart every apiserver on two providers: Secrets and ConfigMaps', async (ev) => {
        for (const a of lab.apiservers) await a.setEncryption(rules, 'restart');
        const found = await findEncrypted(lab, rules);
        ev.providers = Object.fromEntries(found.resources.map((r) => [r.name, r.provider]));
        const configMaps = found.resources.find((r) => r.name === 'configmaps');
        if (!configMaps)
          throw new ScenarioFailure(`the config does not encrypt ConfigMaps: ${JSON.stringify(ev.providers)}`);
        return { secrets: new SecretSet(ctx.namespace), configMaps: new ObjectSet(configMaps, ctx.namespace) };
      });
      const { secrets, configMaps } = sets;
      await ctx.step(`create ${ctx.params.secrets} Secrets and ${ctx.params.secrets} ConfigMaps`, async (ev) => {
        await secrets.create(lab.api, 'secret', ctx.params.secrets);
        await configMaps.create(lab.api, 'config', ctx.params.secrets);
        ev.created = { secrets: secrets.size, configmaps: configMaps.size };
      });
      const keyIds = { first: (await lab.kms.status()).keyId, second: second.describe().keyId };
      const kept = await ctx.step('raw etcd: each resource under its own provider and key_id', async (ev) => {
        ev.secrets = await expectAllKmsV2(lab, secrets.etcdPrefix, keyIds.first, secrets.size);
        ev.configmaps = await expectAllKmsV2(lab, configMaps.etcdPrefix, keyIds.second, configMaps.size, SECOND);
        if (keyIds.first === keyIds.second) throw new ScenarioFailure(`both plugins report key_id ${keyIds.first}`);
        return StoredBytes.keep(lab, configMaps);
      });
      await ctx.step('/healthz/kms-providers is healthy with both plugins', async (ev) => {
        const verbose = await lab.api.request('GET', '/healthz/kms-providers?verbose');
        ev.status = verbose.status;
        ev.body = verbose.body.trim();
        if (verbose.status !== 200) throw new ScenarioFailure(`/healthz/kms-providers answered ${verbose.status}`);
      });
      await ctx.step('stop the second plugin: health names kms-provider-1 only; Secrets read and write', async (ev) => {
        await second!.close();
        second = undefined;
        // The check's own endpoint says why it fails (a verbose list would only mark it failed).
        const reason = await kmsHealthFails(lab, ctx, ev);
        if (!/kms-provider-1/.test(reason) || /kms-provider-0/.test(reason))
          throw new ScenarioFailure(
            `expected only kms-provider-1 to fail, the apiserver says: ${reason.slice(0, 300)}`,
          );
        ev.secretsRead = await secrets.verifyAll(lab.api);
        await secrets.create(lab.api, 'while-b-down', 1);
      });
      await ctx.step('restart without the second plugin: every Secret reads, no ConfigMap does', async (ev) => {
        await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
        ev.secretsRead = await secrets.verifyAll(lab.api);
        const read = await configMaps.expectAllUnreadable(lab.api);
        ev.configMapsUnreadable = configMaps.size;
        ev.readErrorClass = errorClass(read);
        ev.readError = read.message.slice(0, 300);
      });
      await ctx.step(
        'the second plugin back on its keys: every ConfigMap reads, its etcd bytes untouched',
        async (ev) => {
          second = await start();
          if (second.describe().keyId !== keyIds.second)
            throw new ScenarioFailure(`the second plugin came back with key_id ${second.describe().keyId}`);
          const t = lab.clock.now();
          await ctx.wait(
            'ConfigMaps to read again',
            async () => ((await configMaps.errorOf(lab.api, configMaps.refs[0]!)) === undefined ? true : undefined),
            { timeoutMs: 120_000 },
          );
          ev.recoverySeconds = (lab.clock.now() - t) / 1000;
          ev.configMapsRead = await configMaps.verifyAll(lab.api);
          ev.unchanged = await kept.expectUnchanged(lab);
        },
      );
    } finally {
      await second?.close();
    }
  },
};
