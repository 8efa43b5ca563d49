import type { HealthStyle } from '../fake-kms/index.js';
import { keyIdOf } from './checks.js';
import { createSecrets, kmsHealthFails, LIVEZ_HOLD, restartEach } from './common-steps.js';
import { DisabledKey, disableInStyle, refusalsAfterRestart } from './disabled-key.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import { expectFailure, succeeds } from './expect-failure.js';
import type { Scenario, ScenarioContext } from './model.js';
import type { Lab, LabApi } from '../harness/lab.js';
import { SecretSet } from './secret-set.js';
import { auditMark } from './audit-mark.js';
import { PAST_EXPIRY_S, WRITE_KEY_TTL_S, writesStopAtExpiry } from './write-key-expiry.js';

/**
 * disabledKeyWrites is kubernetes/kubernetes#138950 on the real apiserver, for one health style: the plugin is set
 * to it, its key disabled, and the scenario shows what happens to writes past the 3-minute write-key expiry, what a
 * restart then does, and that re-enabling the key brings back everything, writes made while it was disabled too.
 */
function disabledKeyWrites(style: HealthStyle): Scenario {
  const goOn = style === 'not-ok-keep-key-id';
  return {
    name: goOn ? 'disabled-key-writes-go-on' : 'disabled-key-writes-stop',
    summary: goOn
      ? 'kubernetes#138950: a plugin whose Status says "not ok" with the same key_id keeps writes going under a disabled key'
      : 'kubernetes#138950: a plugin whose Status fails once its key is disabled stops writes at the write-key expiry',
    proves: goOn
      ? 'with the key disabled and Status answering healthz not ok with the same key_id, /healthz/kms-providers turns red yet every Status extends the write key: writes still succeed past the 3-minute expiry, stored in raw etcd under the disabled key_id; after a restart the apiserver asks for a DEK seed, is refused, and serves no Secret — those written while the key was disabled included — until the key is enabled again, when every Secret reads back byte-identical'
      : 'with the key disabled and the Status RPC failing, the write key is no longer extended: writes fail with the expiry error 3 minutes after the last good Status while reads go on; after a restart the apiserver never asks for a DEK seed (no Encrypt, only refused Status calls) and serves no Secret; enabling the key again brings reads and writes back with nothing lost',
    tags: ['styles', 'slow'],
    needs: { encryption: 'kms', kms: ['disable', 'enable', 'disabled-key-status'] },
    async run(lab, ctx) {
      const set = new SecretSet(ctx.namespace);
      await createSecrets(lab, ctx, set);
      const key = new DisabledKey(lab, (await lab.kms.status()).keyId);
      await key.whileDisabled(async () => {
        const { lastGood, judgedAt } = await ctx.step(
          `health style ${style}: disable the key; /healthz/kms-providers turns red`,
          (ev) => disableInStyle(lab, key, style, ev, () => kmsHealthFails(lab, ctx, ev)),
        );
        if (goOn) {
          await ctx.step(
            `writes go on past the ${WRITE_KEY_TTL_S} s write-key expiry, under the disabled key_id`,
            async (ev) => {
              // Counted from when the style was judged, not from the disable: only a not-ok Status answered since
              // can have extended the write key that far.
              const until = judgedAt + (WRITE_KEY_TTL_S + PAST_EXPIRY_S) * 1000;
              const extended = await auditMark(lab);
              await ctx.wait(
                `${WRITE_KEY_TTL_S + PAST_EXPIRY_S} s after /healthz/kms-providers turned red`,
                async () => (lab.clock.now() >= until ? true : undefined),
                { timeoutMs: Math.max(0, until - lab.clock.now()) + 10_000 },
              );
              const statuses = await lab.kms.audit({ method: 'Status', afterSeq: extended });
              ev.notOkStatusesMeanwhile = statuses.filter((r) => r.code === 'OK' && r.healthz !== undefined).length;
              const [ref] = await set.create(lab.api, 'past-expiry', 1).catch((error: unknown) => {
                ev.writeErrorClass = errorClass(error);
                throw new ScenarioFailure(
                  `a write ${(lab.clock.now() - judgedAt) / 1000} s after /healthz/kms-providers turned red failed: ${(error as Error).message}`,
                );
              });
              ev.secondsAfterLastHealthyStatus = (lab.clock.now() - lastGood) / 1000;
              ev.secondsAfterHealthRed = (lab.clock.now() - judgedAt) / 1000;
              const stored = await keyIdOf(lab, set.etcdKeyOf(ref!));
              ev.storedKeyId = stored;
              if (stored !== key.keyId)
                throw new ScenarioFailure(`the write was stored under key_id ${stored}, not ${key.keyId}`);
              ev.read = await set.verifyAll(lab.api);
            },
          );
        } else {
          await ctx.step(
            `writes fail once the write key expires (${WRITE_KEY_TTL_S} s after the last good Status); reads go on`,
            async (ev) => {
              await writesStopAtExpiry(lab, ctx, set, lastGood, ev);
              ev.read = await set.verifyAll(lab.api);
            },
          );
        }
        const restartMark = await ctx.step(
          'restart the apiserver: no DEK seed, every Secret read and write fails',
          async (ev) => {
            const mark = await auditMark(lab);
            const t = lab.clock.now();
            await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
            ev.secondsToLive = (lab.clock.now() - t) / 1000;
            const read = await set.expectAllUnreadable(lab.api);
            ev.readErrorClass = errorClass(read);
            if (ev.readErrorClass !== 'kms-not-primed') throw new ScenarioFailure(`reads failed with ${read.message}`);
            ev.writeError = (await expectFailure(set.create(lab.api, 'after-restart', 1), 'kms-not-primed')).message;
            return mark;
          },
        );
        await refusalsStep(lab, ctx, restartMark, key.keyId, style, 'the restarted apiserver');
        await ctx.step('enable the key: every Secret reads back byte-identical, writes work', async (ev) => {
          const t = lab.clock.now();
          await key.enable();
          await readsAndWritesAgain(ctx, set, lab.api, 'after-enable');
          ev.recoverySeconds = (lab.clock.now() - t) / 1000;
          ev.read = await set.verifyAll(lab.api);
        });
      });
    },
  };
}

/** refusalsStep is the step that reads, in the audit trail since `mark`, what a restart asked of the plugin. */
export function refusalsStep(
  lab: Lab,
  ctx: ScenarioContext,
  mark: number,
  keyId: string,
  style: HealthStyle,
  restarted: string,
): Promise<void> {
  return ctx.step(
    style === 'not-ok-keep-key-id'
      ? `the audit trail shows ${restarted} asking for a DEK seed and refused`
      : 'the audit trail shows refused Status calls and no request for a DEK seed',
    async (ev) => void Object.assign(ev, await refusalsAfterRestart(lab, mark, keyId, style)),
  );
}

/** readsAndWritesAgain waits (up to 150 s) until a Secret of the set reads and a new one writes through `api`. */
export async function readsAndWritesAgain(ctx: ScenarioContext, set: SecretSet, api: LabApi, name: string) {
  let attempt = 0;
  await ctx.wait(
    `Secrets to read and write again (as ${name})`,
    async () =>
      (await succeeds(api.readSecret(set.refs[0]!))) && (await succeeds(set.create(api, `${name}-${attempt++}`, 1)))
        ? true
        : undefined,
    { timeoutMs: 150_000, intervalMs: 2000 },
  );
}

export const disabledKeyWritesGoOn = disabledKeyWrites('not-ok-keep-key-id');
export const disabledKeyWritesStop = disabledKeyWrites('fail-rpc');
