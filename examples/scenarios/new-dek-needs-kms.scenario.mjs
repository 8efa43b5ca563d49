// The same in plain JavaScript. A scenario fails with a message that says what was expected and what happened.
import { defineScenario } from 'kmslab';

export default defineScenario({
  name: 'new-dek-needs-kms',
  summary: 'With every Encrypt failing, a Secret write fails once the apiserver needs a new DEK',
  tags: ['example'],
  async run(lab, ctx) {
    await ctx.step('the first write works (the DEK made at startup is cached)', async () => {
      await lab.api.createSecret({ namespace: ctx.namespace, name: 'first' }, { v: '1' });
    });
    await ctx.step('restart the apiserver with Encrypt failing: writes fail', async (evidence) => {
      await lab.kms.addFault({ method: 'Encrypt', kind: 'error', code: 'UNAVAILABLE' });
      await lab.apiservers[0].restart('live');
      const failed = await lab.api.createSecret({ namespace: ctx.namespace, name: 'second' }, { v: '2' }).then(
        () => undefined,
        (error) => error,
      );
      if (!failed) throw new Error('a write succeeded although no DEK could be made');
      evidence.error = failed.message;
      await lab.kms.clearFaults();
    });
  },
});
