// A scenario of your own: run it with `npx kmslab run ./examples/scenarios/` (any backend), list it with
// `npx kmslab scenarios --from ./examples/scenarios/`.
import { defineScenario, expectAllKmsV2, ScenarioFailure } from 'kmslab';

export default defineScenario({
  name: 'reads-survive-outage',
  summary: 'Secrets written before a KMS outage still read during it',
  proves: 'the apiserver serves reads from its cached DEKs while the plugin is unreachable, and raw etcd never changes',
  tags: ['example'],
  async run(lab, ctx) {
    const prefix = `/registry/secrets/${ctx.namespace}/`;
    const names = ['alpha', 'beta', 'gamma'];
    await ctx.step('write Secrets while the KMS is up', async (evidence) => {
      for (const name of names) await lab.api.createSecret({ namespace: ctx.namespace, name }, { value: name });
      evidence.stored = await expectAllKmsV2(lab, prefix, (await lab.kms.status()).keyId, names.length);
    });
    await ctx.step('stop the plugin: every Secret still reads', async (evidence) => {
      await lab.kms.stopPlugin();
      for (const name of names) {
        const s = await lab.api.readSecret({ namespace: ctx.namespace, name });
        if (s.data.value?.toString() !== name) throw new ScenarioFailure(`${name} read back wrong`);
      }
      evidence.read = names.length;
    });
    await ctx.step('start the plugin again', async () => {
      await lab.kms.startPlugin();
    });
  },
});
