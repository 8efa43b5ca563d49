import type { Lab } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { expectAllKmsV2 } from './checks.js';
import { keyIdHash } from '../sim/index.js';
import { deltaOf, dekSources, expectOneSeedForWrites } from './metric-checks.js';
import { metricsDelta, scrapeMetrics } from './step-metrics.js';
import { ScenarioFailure } from './error-class.js';
import { createSecrets } from './common-steps.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

/** Upstream's figure (TestKMSv2ProviderDEKSourceReuse): a thousand writes, one DEK seed. */
const SEED_REUSE_WRITES = 1000;

// Small Secrets, a few requests at a time: the point is the count, not the payload.
async function writeMany(lab: Lab, namespace: string, n: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await lab.api.createSecret({ namespace, name: `seed-reuse-${i}` }, { value: Buffer.from(`seed reuse ${i}`) });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

export const enableNew: Scenario = {
  name: 'enable-new',
  summary: 'A cluster configured with KMS v2 from the start stores every Secret encrypted',
  proves:
    'every Secret is stored as k8s:enc:kms:v2:<provider>: with the current key_id, reads back intact, and the KMS wrapped one DEK seed per apiserver, not one key per Secret; 1,000 more writes share that one seed (raw etcd, no Encrypt, every write counted under the key_id hash metric, DEK cache unchanged)',
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
    await ctx.step(
      `${SEED_REUSE_WRITES} more writes use one DEK seed: raw etcd, the KMS and the metrics agree`,
      async (ev) => {
        const [apiserver] = lab.apiservers;
        const { keyId } = await lab.kms.status();
        const mark = await auditMark(lab);
        const before = await scrapeMetrics(lab);
        await writeMany(lab, `${ctx.namespace}`, SEED_REUSE_WRITES);
        const delta = deltaOf(metricsDelta(before, await scrapeMetrics(lab)), apiserver!.name);
        const sources = await dekSources(lab, `/registry/secrets/${ctx.namespace}/seed-reuse-`);
        ev.writes = SEED_REUSE_WRITES;
        ev.keyIds = sources.size;
        Object.assign(
          ev,
          expectOneSeedForWrites(lab, {
            writes: SEED_REUSE_WRITES,
            dekSources: [...sources.values()].reduce((a, b) => a + b, 0),
            encrypts: (await lab.kms.audit({ method: 'Encrypt', afterSeq: mark })).length,
            keyIdHash: keyIdHash(keyId),
            delta,
          }),
        );
      },
    );
  },
};
