import { LIVEZ_HOLD, restartEach } from './common-steps.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import { DisabledKey } from './disabled-key.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

/**
 * kubernetes/kubernetes#138950 measured: with the key disabled, whether a request fails depends on which apiserver
 * answers — one that still holds its DEK seeds serves everything, one restarted since serves nothing.
 */
export const haKeyDisabled: Scenario = {
  name: 'ha-key-disabled',
  summary: 'Two apiservers, the key disabled, one of them restarted: which requests fail depends on which answers',
  proves:
    "with the key disabled, an apiserver that has not restarted keeps serving every Secret (its own and the other's, whose seeds its watch cache decrypted) and keeps writing, while the restarted one serves no Secret at all; re-enabling the key brings it back with nothing lost",
  tags: ['ha'],
  needs: { encryption: 'kms', apiservers: 2, kms: ['disable', 'enable'] },
  async run(lab, ctx) {
    const [warm, cold] = lab.apiservers as [(typeof lab.apiservers)[0], (typeof lab.apiservers)[0]];
    const set = new SecretSet(ctx.namespace);
    await ctx.step('each apiserver writes half of the Secrets (each with its own DEK seed)', async (ev) => {
      await set.create(warm.api, `via-${warm.name}`, Math.ceil(ctx.params.secrets / 2));
      await set.create(cold.api, `via-${cold.name}`, Math.floor(ctx.params.secrets / 2));
      ev.created = set.size;
      for (const a of [warm, cold]) ev[a.name] = await set.verifyAll(a.api);
    });
    const key = new DisabledKey(lab, (await lab.kms.status()).keyId);
    await key.whileDisabled(async () => {
      await ctx.step('disable the key', async (ev) => {
        await key.disable();
        ev.keyId = key.keyId;
      });
      await ctx.step(`restart ${cold.name} only`, async (ev) => {
        const t = lab.clock.now();
        await restartEach(ctx, [cold], 'live', LIVEZ_HOLD);
        ev.secondsToLive = (lab.clock.now() - t) / 1000;
      });
      await ctx.step(`${warm.name} serves every Secret and writes; ${cold.name} serves none`, async (ev) => {
        ev.readOnWarm = await set.verifyAll(warm.api);
        await set.create(warm.api, 'written-while-disabled', 1);
        ev.writeOnWarm = 'ok';
        const failure = await set.expectAllUnreadable(cold.api);
        ev.coldErrorClass = errorClass(failure);
        if (ev.coldErrorClass !== 'kms-not-primed')
          throw new ScenarioFailure(`${cold.name} failed with ${failure.message}`);
      });
      await ctx.step('re-enable the key: both serve every Secret', async (ev) => {
        await key.enable();
        await ctx.wait(
          `${cold.name} to read again`,
          async () =>
            (await cold.api.readSecret(set.refs[0]!).then(
              () => true,
              () => undefined,
            ))
              ? true
              : undefined,
          { timeoutMs: 90_000 },
        );
        for (const a of [warm, cold]) ev[a.name] = await set.verifyAll(a.api);
      });
    });
  },
};
