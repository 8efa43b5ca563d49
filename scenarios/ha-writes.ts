import type { HealthStyle } from '../fake-kms/index.js';
import type { Lab, LabApiserver } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { keyIdOf } from './checks.js';
import { LIVEZ_HOLD, restartEach } from './common-steps.js';
import { DisabledKey, disableInStyle } from './disabled-key.js';
import { errorClass, ScenarioFailure } from './error-class.js';
import { expectFailure } from './expect-failure.js';
import { readsAndWritesAgain, refusalsStep } from './disabled-key-writes.js';
import type { Scenario, ScenarioContext } from './model.js';
import { SecretSet } from './secret-set.js';
import { expectExpiryError, firstFailedWrite, PAST_EXPIRY_S, WRITE_KEY_TTL_S } from './write-key-expiry.js';

// Each apiserver asks for Status once a minute on its own: their last good answers may be up to that far apart.
const STATUS_POLL_S = 60;

/**
 * haWrites is kubernetes/kubernetes#138950 with two apiservers sharing one plugin, for one health style:
 * each apiserver keeps its own write key, so the style decides for both at once, and a restart of one of them shows
 * what a rolling restart does while the key is disabled.
 */
function haWrites(style: HealthStyle): Scenario {
  const goOn = style === 'not-ok-keep-key-id';
  return {
    name: goOn ? 'ha-writes-go-on' : 'ha-writes-stop',
    summary: goOn
      ? 'kubernetes#138950 on two apiservers: Status "not ok" with the same key_id keeps writes going through both'
      : 'kubernetes#138950 on two apiservers: a failing Status stops writes through both at the write-key expiry',
    proves: goOn
      ? 'with the key disabled and Status answering healthz not ok with the same key_id, both apiservers turn /healthz/kms-providers red yet both still write past the 3-minute expiry, under the disabled key_id; restarting one of them leaves it serving no Secret (refused a DEK seed) while the other still reads and writes everything; enabling the key brings both back with nothing lost'
      : 'with the key disabled and the Status RPC failing, writes through each apiserver fail with the expiry error 3 minutes after its last good Status (the two at most a Status poll apart) while both still read; restarting one of them leaves it serving nothing and the other still reading but not writing; enabling the key brings both back with nothing lost',
    tags: ['styles', 'slow', 'ha'],
    needs: { encryption: 'kms', apiservers: 2, kms: ['disable', 'enable', 'disabled-key-status'] },
    async run(lab, ctx) {
      const [warm, cold] = lab.apiservers as [LabApiserver, LabApiserver];
      const set = new SecretSet(ctx.namespace);
      await ctx.step('each apiserver writes half of the Secrets (each with its own DEK seed)', async (ev) => {
        await set.create(warm.api, `via-${warm.name}`, Math.ceil(ctx.params.secrets / 2));
        await set.create(cold.api, `via-${cold.name}`, Math.floor(ctx.params.secrets / 2));
        ev.created = set.size;
      });
      const key = new DisabledKey(lab, (await lab.kms.status()).keyId);
      await key.whileDisabled(async () => {
        const { lastGood, judgedAt } = await ctx.step(
          `health style ${style}: disable the key; /healthz/kms-providers turns red on both`,
          (ev) =>
            disableInStyle(lab, key, style, ev, async () => {
              for (const a of [warm, cold]) ev[`${a.name} red after seconds`] = await healthTurnsRed(lab, ctx, a);
            }),
        );
        if (goOn) {
          await ctx.step(`both write past the ${WRITE_KEY_TTL_S} s expiry, under the disabled key_id`, async (ev) => {
            const until = judgedAt + (WRITE_KEY_TTL_S + PAST_EXPIRY_S) * 1000;
            await ctx.wait(
              `${WRITE_KEY_TTL_S + PAST_EXPIRY_S} s after both turned red`,
              async () => (lab.clock.now() >= until ? true : undefined),
              { timeoutMs: Math.max(0, until - lab.clock.now()) + 10_000 },
            );
            ev.secondsAfterHealthRed = (lab.clock.now() - judgedAt) / 1000;
            for (const a of [warm, cold]) {
              const [ref] = await set.create(a.api, `past-expiry-${a.name}`, 1).catch((error: unknown) => {
                throw new ScenarioFailure(
                  `a write through ${a.name} ${(lab.clock.now() - judgedAt) / 1000} s after health turned red failed: ${(error as Error).message}`,
                );
              });
              const stored = await keyIdOf(lab, set.etcdKeyOf(ref!));
              if (stored !== key.keyId)
                throw new ScenarioFailure(
                  `the write through ${a.name} was stored under key_id ${stored}, not ${key.keyId}`,
                );
              ev[a.name] = await set.verifyAll(a.api);
            }
          });
        } else {
          await ctx.step(
            `writes through each fail once its write key expires (${WRITE_KEY_TTL_S} s after its last good Status); reads go on`,
            async (ev) => {
              const stops = await Promise.all(
                [warm, cold].map((a) => firstFailedWrite(lab, ctx, set, a.api, lastGood, `probe-${a.name}`)),
              );
              for (const [i, a] of [warm, cold].entries()) {
                ev[a.name] = stops[i];
                expectExpiryError(stops[i]!, WRITE_KEY_TTL_S - STATUS_POLL_S - 5);
              }
              // The last good Status was one of theirs: that apiserver stops at the full 3 minutes.
              expectExpiryError(
                stops.reduce((a, b) => (a.secondsAfterLastGoodStatus > b.secondsAfterLastGoodStatus ? a : b)),
                WRITE_KEY_TTL_S - 5,
              );
              for (const a of [warm, cold]) ev[`read via ${a.name}`] = await set.verifyAll(a.api);
            },
          );
        }
        const restartMark = await ctx.step(
          `restart ${cold.name} only: it serves no Secret; ${warm.name} still reads${goOn ? ' and writes' : ', writes still fail'}`,
          async (ev) => {
            const mark = await auditMark(lab);
            const t = lab.clock.now();
            await restartEach(ctx, [cold], 'live', LIVEZ_HOLD);
            ev.secondsToLive = (lab.clock.now() - t) / 1000;
            const read = await set.expectAllUnreadable(cold.api);
            ev.coldReadErrorClass = errorClass(read);
            if (ev.coldReadErrorClass !== 'kms-not-primed')
              throw new ScenarioFailure(`${cold.name} failed reads with ${read.message}`);
            ev.coldWriteError = (
              await expectFailure(set.create(cold.api, 'after-restart', 1), 'kms-not-primed')
            ).message;
            ev.warmRead = await set.verifyAll(warm.api);
            if (goOn) {
              await set.create(warm.api, 'warm-after-restart', 1).catch((error: unknown) => {
                throw new ScenarioFailure(
                  `${warm.name} stopped writing when ${cold.name} restarted: ${(error as Error).message}`,
                );
              });
              ev.warmWrite = 'ok';
            } else {
              ev.warmWriteError = (
                await expectFailure(set.create(warm.api, 'warm-after-restart', 1), 'kms-write-key-expired')
              ).message;
            }
            return mark;
          },
        );
        await refusalsStep(lab, ctx, restartMark, key.keyId, style, cold.name);
        await ctx.step('enable the key: both read every Secret back byte-identical and write', async (ev) => {
          const t = lab.clock.now();
          await key.enable();
          for (const a of [warm, cold]) {
            await readsAndWritesAgain(ctx, set, a.api, `after-enable-${a.name}`);
            ev[`${a.name} back after seconds`] = (lab.clock.now() - t) / 1000;
            ev[a.name] = await set.verifyAll(a.api);
          }
        });
      });
    },
  };
}

/** healthTurnsRed waits (up to a minute) for one apiserver's /healthz/kms-providers to fail; returns the seconds. */
async function healthTurnsRed(lab: Lab, ctx: ScenarioContext, a: LabApiserver): Promise<number> {
  const t = lab.clock.now();
  await ctx.wait(
    `${a.name}'s /healthz/kms-providers to fail`,
    async () => ((await a.api.request('GET', '/healthz/kms-providers')).status === 200 ? undefined : true),
    { timeoutMs: 60_000 },
  );
  return (lab.clock.now() - t) / 1000;
}

export const haWritesGoOn = haWrites('not-ok-keep-key-id');
export const haWritesStop = haWrites('fail-rpc');
