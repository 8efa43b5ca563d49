import type { EncryptionRule, ProviderSpec } from '../harness/kube/encryption-config.js';
import type { Lab, LabKmsV1 } from '../harness/lab.js';
import { expectAllKmsV2, storedAs } from './checks.js';
import { createSecrets, restartEach } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

/**
 * kmsV1Migration moves a cluster from KMS v1 to v2 the documented way, on the newest apiserver that still serves v1
 * (behind the KMSv1 gate): v2 first with v1 kept to read, every Secret rewritten, then v1 gone. On the way it
 * measures the v1 call pattern: a DEK per write, a Decrypt per stored object when a restarted apiserver lists them.
 */
export const kmsV1Migration: Scenario = {
  name: 'kms-v1-migration',
  summary: 'A cluster on KMS v1 moves to KMS v2: v2 first, v1 kept to read, every Secret rewritten, v1 removed',
  proves:
    'KMS v1 stores each Secret under a DEK of its own (one Encrypt per write, one Decrypt per Secret when a restarted apiserver lists them); with KMS v2 put first and v1 kept second every Secret still reads and new writes are v2; a rewrite moves 100% to v2 with the current key_id; with v1 removed and its plugin stopped every Secret reads, also after a restart',
  tags: ['migration'],
  needs: { encryption: 'kms-v1', apiserver: 'real' },
  async run(lab, ctx) {
    const v1 = lab.kmsV1;
    if (!v1) throw new ScenarioFailure('the lab runs no KMS v1 plugin (it needs encryption: kms-v1)');
    const prefix = `/registry/secrets/${ctx.namespace}/`;
    const set = new SecretSet(ctx.namespace);
    const before = v1.calls();
    await createSecrets(lab, ctx, set, `create ${ctx.params.secrets} Secrets under KMS v1`);
    await ctx.step('raw etcd: every Secret is KMS v1, each under a DEK of its own', async (ev) => {
      const stored = (ev.stored = await storedAs(lab, prefix));
      const kmsV1 = stored.byClass['kms-v1'] ?? 0;
      if (kmsV1 !== set.size) throw new ScenarioFailure(`${kmsV1} of ${set.size} Secrets are KMS v1`);
      ev.encrypts = v1.calls().encryptDek - before.encryptDek;
      if (ev.encrypts !== set.size) throw new ScenarioFailure(`${ev.encrypts} Encrypts for ${set.size} writes`);
    });
    await ctx.step('restart the apiserver: one Decrypt per Secret as it lists them', async (ev) => {
      const mark = v1.calls().decryptDek;
      await restartEach(ctx, lab.apiservers, 'ready');
      ev.read = await set.verifyAll(lab.api);
      ev.decrypts = v1.calls().decryptDek - mark;
      if (ev.decrypts !== set.size) throw new ScenarioFailure(`${ev.decrypts} Decrypts for ${set.size} Secrets`);
    });
    const keyId = await ctx.step('KMS v2 first, v1 kept to read: every Secret reads, new writes are v2', async (ev) => {
      await setProviders(lab, [v2Of(lab), v1Of(v1), { identity: {} }]);
      ev.read = await set.verifyAll(lab.api);
      const { keyId } = await lab.kms.status();
      const probe = new SecretSet(`${ctx.namespace}-probe`);
      await lab.api.ensureNamespace(probe.namespace);
      await probe.create(lab.api, 'new', 1);
      ev.newWrite = await expectAllKmsV2(lab, `/registry/secrets/${probe.namespace}/`, keyId);
      return keyId;
    });
    await ctx.step('migrate: rewrite every Secret', async (ev) => {
      const m = await set.rewrite(lab.api);
      Object.assign(ev, m);
      if (m.rewritten !== set.size) throw new ScenarioFailure(`${m.unchanged} Secrets were not stored anew`);
    });
    await ctx.step('raw etcd: 100% of Secrets on KMS v2 with the current key_id', async (ev) => {
      ev.stored = await expectAllKmsV2(lab, prefix, keyId, set.size);
    });
    await ctx.step('v1 removed and its plugin stopped: every Secret reads, also after a restart', async (ev) => {
      await setProviders(lab, [v2Of(lab), { identity: {} }]);
      await v1.stop();
      ev.read = await set.verifyAll(lab.api);
      await restartEach(ctx, lab.apiservers, 'ready');
      ev.readAfterRestart = await set.verifyAll(lab.api);
    });
  },
};

const v2Of = (lab: Lab): ProviderSpec => ({ kms: { name: lab.providerName, socket: lab.kmsSocket } });
const v1Of = (v1: LabKmsV1): ProviderSpec => ({ kmsV1: { name: v1.providerName, socket: v1.socket } });

/** setProviders restarts every apiserver on a config with these providers for Secrets. */
async function setProviders(lab: Lab, providers: ProviderSpec[]): Promise<void> {
  const rules: EncryptionRule[] = [{ resources: ['secrets'], providers }];
  for (const a of lab.apiservers) await a.setEncryption(rules, 'restart');
}
