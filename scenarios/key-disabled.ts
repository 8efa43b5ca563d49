import { auditMark } from './audit-mark.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import { expectFailure, succeeds } from './expect-failure.js';
import { createSecrets, kmsHealthFails, LIVEZ_HOLD, restartEach } from './common-steps.js';
import { DisabledKey, healthStyleSeen, refusalsAfterRestart, STYLE_MEANS } from './disabled-key.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

export const keyDisabled: Scenario = {
  name: 'key-disabled',
  summary: 'The KMS key the Secrets use is disabled, the apiserver restarts, then the key is re-enabled',
  proves:
    'a disabled key turns /healthz/kms-providers red while cached DEKs keep reads and writes going; after a restart the apiserver cannot get a DEK seed (the audit trail shows the refused calls) and every Secret read and write fails; re-enabling the key brings every Secret back byte-identical',
  tags: ['core', 'plugin'],
  needs: { encryption: 'kms', kms: ['disable', 'enable'] },
  async run(lab, ctx) {
    const set = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, set);
    const key = new DisabledKey(lab, (await lab.kms.status()).keyId);
    const keyId = key.keyId;
    await key.whileDisabled(async () => {
      const disabledMark = await ctx.step('disable the key they use', async (ev) => {
        const mark = await auditMark(lab);
        await key.disable();
        ev.keyId = keyId;
        return mark;
      });
      const style = await ctx.step('/healthz/kms-providers reports the disabled key', async (ev) => {
        // The apiserver repeats the plugin's own healthz text: the fake KMS names the key_id, other plugins may not.
        ev.namesKeyId = (await kmsHealthFails(lab, ctx, ev)).includes(keyId);
        const seen = await healthStyleSeen(lab, disabledMark, keyId);
        ev.healthStyle = seen.style;
        ev.statusSaid = seen.said;
        ev.styleMeans = STYLE_MEANS[seen.style];
        return seen.style;
      });
      await ctx.step('until a restart, cached DEKs keep reads and writes working', async (ev) => {
        ev.read = await set.verifyAll(lab.api);
        await set.create(lab.api, 'while-disabled', 1);
        ev.write = 'ok';
      });
      const restartMark = await ctx.step('restart the apiserver: every Secret read and write fails', async (ev) => {
        const mark = await auditMark(lab);
        const t = lab.clock.now();
        await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
        ev.secondsToLive = (lab.clock.now() - t) / 1000;
        const read = await set.expectAllUnreadable(lab.api);
        ev.readError = read.message;
        ev.readErrorClass = errorClass(read);
        if (ev.readErrorClass !== 'kms-not-primed') throw new ScenarioFailure(`reads failed with ${read.message}`);
        ev.writeError = (await expectFailure(set.create(lab.api, 'after-restart', 1), 'kms-not-primed')).message;
        return mark;
      });
      await ctx.step('the audit trail shows the KMS refusing the disabled key', async (ev) => {
        ev.healthStyle = style;
        Object.assign(ev, await refusalsAfterRestart(lab, restartMark, keyId, style));
      });
      await ctx.step('re-enable the key: every Secret reads back byte-identical', async (ev) => {
        const t = lab.clock.now();
        await key.enable();
        await ctx.wait(
          'Secrets to read again',
          async () => ((await succeeds(lab.api.readSecret(set.refs[0]!))) ? true : undefined),
          {
            timeoutMs: 90_000,
          },
        );
        ev.recoverySeconds = (lab.clock.now() - t) / 1000;
        ev.read = await set.verifyAll(lab.api);
        await set.create(lab.api, 'after-enable', 1);
      });
    });
  },
};
