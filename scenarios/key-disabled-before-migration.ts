import { auditMark } from './audit-mark.js';
import { keyIdOf } from './checks.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import type { Scenario } from './model.js';
import { waitForKeyId } from './rotate.js';
import { SecretSet, secretKey } from './secret-set.js';

export const keyDisabledBeforeMigration: Scenario = {
  name: 'key-disabled-before-migration',
  summary: 'The old key is disabled after a rotation but before the Secrets were migrated',
  proves:
    'after a restart, Secrets still on the disabled key fail to read with the decrypt error and the audit trail shows the refused Decrypts, while new writes (on the new key) work; re-enabling the old key brings every Secret back',
  tags: ['core', 'plugin'],
  needs: { encryption: 'kms', kms: ['rotate', 'disable', 'enable'] },
  async run(lab, ctx) {
    const set = new SecretSet(ctx.namespace);
    const a = await ctx.step(`create ${ctx.params.secrets} Secrets under key A`, async (ev) => {
      await set.create(lab.api, 'secret', ctx.params.secrets);
      ev.keyId = (await lab.kms.status()).keyId;
      return ev.keyId as string;
    });
    const b = await ctx.step('rotate to key B and wait until the apiservers use it', async (ev) => {
      const { keyId } = await lab.kms.rotate();
      const fresh = new SecretSet(ctx.namespace);
      for (const [i, apiserver] of lab.apiservers.entries())
        await waitForKeyId(lab, ctx, apiserver, fresh, `canary-${i}`, keyId);
      ev.keyId = keyId;
      return keyId;
    });
    const restartMark = await ctx.step('disable A before migrating, then restart (empty DEK cache)', async (ev) => {
      await lab.kms.disable(a);
      const mark = await auditMark(lab);
      const t = lab.clock.now();
      // Not /readyz: the Secret watch cache cannot list undecryptable objects, so informer-sync keeps it red.
      for (const apiserver of lab.apiservers) await apiserver.restart('live');
      ev.secondsToLive = (lab.clock.now() - t) / 1000;
      const ready = await lab.api.request('GET', '/readyz?verbose');
      ev.readyz = ready.status;
      ev.readyzFailing = ready.body.split('\n').filter((l) => l.startsWith('[-]'));
      return mark;
    });
    await ctx.step(
      'Secrets on A fail with the decrypt error; the audit trail shows the refused Decrypts',
      async (ev) => {
        const failure = await set.expectAllUnreadable(lab.api);
        ev.readError = failure.message;
        ev.readErrorClass = errorClass(failure);
        if (ev.readErrorClass !== 'kms-decrypt-failed')
          throw new ScenarioFailure(`reads failed with ${failure.message}`);
        // Whatever code the plugin refuses a disabled key with (the fake KMS: FAILED_PRECONDITION).
        const refused = (await lab.kms.audit({ method: 'Decrypt', afterSeq: restartMark })).filter(
          (r) => r.code !== 'OK',
        );
        ev.refusedCodes = [...new Set(refused.map((r) => r.code))];
        ev.refusedDecrypts = refused.length;
        if (refused.length === 0 || refused.some((r) => r.keyId !== a)) {
          throw new ScenarioFailure(
            `expected refused Decrypts of ${a}, saw ${JSON.stringify(refused.map((r) => r.keyId))}`,
          );
        }
      },
    );
    await ctx.step('new writes still work, on key B', async (ev) => {
      const fresh = new SecretSet(ctx.namespace);
      const [ref] = await fresh.create(lab.api, 'after-disable', 1);
      ev.keyId = await keyIdOf(lab, secretKey(ref!));
      if (ev.keyId !== b) throw new ScenarioFailure(`new write stored with ${String(ev.keyId)}, expected ${b}`);
    });
    await ctx.step('re-enable A: every Secret reads back', async (ev) => {
      await lab.kms.enable(a);
      ev.read = await set.verifyAll(lab.api);
    });
  },
};
