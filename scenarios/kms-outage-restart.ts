import { ScenarioFailure, errorClass } from './error-class.js';
import { expectFailure, succeeds } from './expect-failure.js';
import { createSecrets, LIVEZ_HOLD, restartEach } from './common-steps.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

export const kmsOutageRestart: Scenario = {
  name: 'kms-outage-restart',
  summary: 'The apiserver restarts while the KMS plugin is down',
  proves:
    'an apiserver started without its plugin has no DEK seed: every Secret read and write fails (unexpected nil transformer), /livez is held back by storage readiness; when the plugin returns it recovers by itself with nothing lost',
  tags: ['core'],
  needs: { encryption: 'kms' },
  async run(lab, ctx) {
    const set = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, set);
    await ctx.step('stop the plugin', async () => {
      await lab.kms.stopPlugin();
    });
    await ctx.step('restart every apiserver while the plugin is down (wait for /livez)', async (ev) => {
      const t = lab.clock.now();
      await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
      ev.secondsToLive = (lab.clock.now() - t) / 1000;
      const ready = await lab.api.request('GET', '/readyz');
      ev.readyz = ready.status;
      if (ready.status === 200) throw new ScenarioFailure('/readyz is 200 although the KMS plugin is down');
    });
    await ctx.step('every Secret read and write fails: no DEK seed was ever obtained', async (ev) => {
      const read = await set.expectAllUnreadable(lab.api);
      ev.readError = read.message;
      ev.readErrorClass = errorClass(read);
      if (ev.readErrorClass !== 'kms-not-primed') throw new ScenarioFailure(`reads failed with ${read.message}`);
      ev.writeError = (await expectFailure(set.create(lab.api, 'while-down', 1), 'kms-not-primed')).message;
    });
    await ctx.step('start the plugin: the apiserver recovers by itself', async (ev) => {
      const t = lab.clock.now();
      await lab.kms.startPlugin();
      await ctx.wait(
        'Secrets to read again',
        async () => ((await succeeds(lab.api.readSecret(set.refs[0]!))) ? true : undefined),
        {
          timeoutMs: 90_000,
        },
      );
      ev.recoverySeconds = (lab.clock.now() - t) / 1000;
      await ctx.wait(
        '/readyz to pass',
        async () => ((await lab.api.request('GET', '/readyz')).status === 200 ? true : undefined),
        {
          timeoutMs: 90_000,
        },
      );
      ev.readySeconds = (lab.clock.now() - t) / 1000;
    });
    await ctx.step('nothing lost: every Secret reads back intact, writes work', async (ev) => {
      ev.read = await set.verifyAll(lab.api);
      await set.create(lab.api, 'after', 1);
    });
  },
};
