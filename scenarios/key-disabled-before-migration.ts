import { auditMark } from './audit-mark.js';
import { keyIdOf } from './checks.js';
import { LIVEZ_HOLD, findEncryptedStep, restartEach } from './common-steps.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import { DisabledKey } from './disabled-key.js';
import type { Scenario } from './model.js';
import { waitForKeyId } from './rotate.js';
import { SecretSet } from './secret-set.js';
import { Workload } from './workload.js';

export const keyDisabledBeforeMigration: Scenario = {
  name: 'key-disabled-before-migration',
  summary: 'The old key is disabled after a rotation but before the Secrets were migrated',
  proves:
    'after a restart, objects still on the disabled key (Secrets, and every other resource the config encrypts) fail to read with the decrypt error and the audit trail shows the refused Decrypts, while new writes (on the new key) work; re-enabling the old key brings every object back',
  tags: ['core', 'plugin'],
  needs: { encryption: 'kms', kms: ['rotate', 'disable', 'enable'] },
  async run(lab, ctx) {
    const encrypted = await findEncryptedStep(lab, ctx);
    const data = new Workload(ctx.namespace, encrypted);
    const a = await ctx.step(`create ${data.describe(ctx.params.secrets)} under key A`, async (ev) => {
      await data.create(lab.api, 'secret', ctx.params.secrets);
      ev.keyId = (await lab.kms.status()).keyId;
      return ev.keyId as string;
    });
    const b = await ctx.step('rotate to key B and wait until the apiservers use it', async (ev) => {
      const { keyId } = await lab.kms.rotate();
      const canaries = new SecretSet(ctx.namespace);
      for (const [i, apiserver] of lab.apiservers.entries())
        await waitForKeyId(lab, ctx, apiserver, canaries, `canary-${i}`, keyId);
      ev.keyId = keyId;
      return keyId;
    });
    const oldKey = new DisabledKey(lab, a);
    await oldKey.whileDisabled(async () => {
      const restartMark = await ctx.step('disable A before migrating, then restart (empty DEK cache)', async (ev) => {
        await oldKey.disable();
        const mark = await auditMark(lab);
        const t = lab.clock.now();
        // Not /readyz: the Secret watch cache cannot list undecryptable objects, so informer-sync keeps it red.
        await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD).catch((error: unknown) => {
          // Measured with *. and *.*: a start-up hook that cannot read its own objects (Services, PriorityClasses)
          // makes kube-apiserver exit, so the claim cannot even be tested; say so rather than only "exited".
          const message = (error as Error)?.message ?? String(error);
          if (encrypted.label === 'Secrets' || !/exited/.test(message)) throw error;
          throw new ScenarioFailure(
            `kube-apiserver did not come back with key A disabled: the config also encrypts objects it reads to start (${encrypted.label}), and it exits when a start-up hook cannot decrypt them — a key disabled before migrating takes the control plane down, not only those objects. ${message}`,
          );
        });
        ev.secondsToLive = (lab.clock.now() - t) / 1000;
        const ready = await lab.api.request('GET', '/readyz?verbose');
        ev.readyz = ready.status;
        ev.readyzFailing = ready.body.split('\n').filter((l) => l.startsWith('[-]'));
        return mark;
      });
      await ctx.step(
        `${encrypted.label} on A fail with the decrypt error; the audit trail shows the refused Decrypts`,
        async (ev) => {
          const failures = await data.expectAllUnreadable(lab.api);
          const secrets = failures[0]!.error;
          ev.readError = secrets.message;
          ev.readErrorClass = errorClass(secrets);
          ev.readErrorClasses = Object.fromEntries(failures.map((f) => [f.resource, errorClass(f.error)]));
          const wrong = failures.find((f) => errorClass(f.error) !== 'kms-decrypt-failed');
          if (wrong) throw new ScenarioFailure(`${wrong.resource}: reads failed with ${wrong.error.message}`);
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
        const fresh = new Workload(ctx.namespace, encrypted);
        await fresh.create(lab.api, 'after-disable', 1);
        const keyIds: Record<string, string | undefined> = {};
        for (const set of fresh.sets) keyIds[set.resource] = await keyIdOf(lab, set.etcdKeys[0]!);
        ev.keyId = keyIds.secrets;
        ev.keyIdsByResource = keyIds;
        const wrong = Object.entries(keyIds).find(([, id]) => id !== b);
        if (wrong) throw new ScenarioFailure(`new ${wrong[0]} stored with ${String(wrong[1])}, expected ${b}`);
      });
      await ctx.step(`re-enable A: ${encrypted.every} reads back`, async (ev) => {
        await oldKey.enable();
        ev.read = await data.verifyAll(lab.api);
      });
    });
  },
};
