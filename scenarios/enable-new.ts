import { expectAllKmsV2 } from './checks.js';
import { ScenarioFailure } from './error-class.js';
import { createSecrets } from './common-steps.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

export const enableNew: Scenario = {
  name: 'enable-new',
  summary: 'A cluster configured with KMS v2 from the start stores every Secret encrypted',
  proves:
    'every Secret is stored as k8s:enc:kms:v2:<provider>: with the current key_id, reads back intact, and the KMS wrapped one DEK seed per apiserver, not one key per Secret',
  tags: ['core', 'plugin'],
  needs: { encryption: 'kms' },
  async run(lab, ctx) {
    const set = new SecretSet(ctx.namespace);
    const prefix = `/registry/secrets/${ctx.namespace}/`;
    const encryptsBefore = (await lab.kms.audit({ method: 'Encrypt' })).length;
    await createSecrets(lab, ctx, set, `create ${ctx.params.secrets} Secrets of varied sizes`);
    await ctx.step('raw etcd: every Secret is KMS v2 with the current key_id', async (ev) => {
      const { keyId } = await lab.kms.status();
      ev.keyId = keyId;
      ev.stored = await expectAllKmsV2(lab, prefix, keyId, set.size);
    });
    await ctx.step('API reads return the original data', async (ev) => {
      ev.read = await set.verifyAll(lab.api);
    });
    await ctx.step('the KMS wrapped a DEK seed at startup and none per Secret', async (ev) => {
      const encrypts = await lab.kms.audit({ method: 'Encrypt' });
      const whileWriting = encrypts.length - encryptsBefore;
      ev.encryptCalls = encrypts.length;
      ev.encryptCallsWhileWriting = whileWriting;
      if (encrypts.length !== lab.apiservers.length || encrypts.some((r) => r.code !== 'OK')) {
        throw new ScenarioFailure(
          `expected exactly one DEK-seed Encrypt per apiserver (${lab.apiservers.length}), saw ${encrypts.length}`,
        );
      }
      if (whileWriting > 0) throw new ScenarioFailure(`${whileWriting} Encrypt calls while writing Secrets`);
    });
  },
};
