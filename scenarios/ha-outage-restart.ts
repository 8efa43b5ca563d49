import { LIVEZ_HOLD, restartEach } from './common-steps.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

/** Both apiservers restarted while the plugin is down: neither serves Secrets; both recover once it is back. */
export const haOutageRestart: Scenario = {
  name: 'ha-outage-restart',
  summary: 'Both apiservers restart during a KMS outage, then the plugin returns',
  proves:
    'apiservers restarted while the plugin is gone serve no Secret on any of them (no DEK seed was ever obtained), and each recovers by itself when the plugin returns, with every Secret intact through every apiserver',
  tags: ['ha'],
  needs: { encryption: 'kms', apiservers: 2 },
  async run(lab, ctx) {
    const set = new SecretSet(ctx.namespace);
    await ctx.step(`create ${ctx.params.secrets} Secrets through both apiservers`, async (ev) => {
      for (const [i, a] of lab.apiservers.entries())
        await set.create(a.api, `via-${i}`, Math.ceil(ctx.params.secrets / lab.apiservers.length));
      ev.created = set.size;
    });
    await ctx.step('stop the plugin and restart every apiserver', async (ev) => {
      await lab.kms.stopPlugin();
      await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
      for (const a of lab.apiservers) {
        const failure = await set.expectAllUnreadable(a.api);
        ev[`${a.name}ErrorClass`] = errorClass(failure);
        if (errorClass(failure) !== 'kms-not-primed') throw new ScenarioFailure(`${a.name}: ${failure.message}`);
      }
    });
    await ctx.step('start the plugin: every apiserver recovers by itself, nothing lost', async (ev) => {
      const t = lab.clock.now();
      await lab.kms.startPlugin();
      for (const a of lab.apiservers) {
        await ctx.wait(
          `${a.name} to read again`,
          async () =>
            (await a.api.readSecret(set.refs[0]!).then(
              () => true,
              () => undefined,
            ))
              ? true
              : undefined,
          { timeoutMs: 120_000 },
        );
        ev[`${a.name}RecoverySeconds`] = (lab.clock.now() - t) / 1000;
      }
      for (const a of lab.apiservers) ev[a.name] = await set.verifyAll(a.api);
    });
  },
};
