import type { Lab } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { createSecrets, restartEach } from './common-steps.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** kube-apiserver gives a DEK seed a day in its read cache from each time it is put there (v1.37 kmsv2 cacheTTL). */
export const DEK_CACHE_TTL = 24 * HOUR;
/** How long the outage lasts: well past every seed's day. */
const OUTAGE = 36 * HOUR;

/**
 * longOutage (kubernetes#132967) keeps the plugin away for 36 h, on the model only. kube-apiserver's read cache
 * expires a seed a day after it was last put there, but serves an expired entry until the next put sweeps it —
 * and in an outage the only puts are the writes made before the write key expires. So a seed whose day ends just
 * as the outage begins is lost at the next write; every other seed, the apiserver's own included, keeps reading.
 */
export const longOutage: Scenario = {
  name: 'long-outage',
  summary: 'The KMS is gone for 36 h (model): which reads fail, and when?',
  proves:
    "model result (sim, virtual time): a DEK seed read through a Decrypt 24 h before still reads — an expired cache entry is served until the next put — and is lost at the first write after its day ran out (that write sweeps the cache), here a minute into the outage; writes stop when the write key expires, after which nothing sweeps the cache: the apiserver's own seed still reads 36 h in, 24 h past its last put; the plugin's return brings every read and write back",
  tags: ['model', 'slow'],
  needs: { encryption: 'kms', apiserver: 'model' },
  async run(lab, ctx) {
    const older = new SecretSet(ctx.namespace);
    const newer = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, older, `create ${ctx.params.secrets} Secrets (seed 1)`);
    const decryptedAt = await ctx.step(
      'restart the apiserver: a new seed 2; seed 1 comes back through a Decrypt',
      async (ev) => {
        const mark = await auditMark(lab);
        await restartEach(ctx, lab.apiservers, 'ready');
        ev.read = await older.verifyAll(lab.api);
        const decrypts = await lab.kms.audit({ afterSeq: mark, method: 'Decrypt', code: 'OK' });
        ev.decrypts = decrypts.length;
        if (decrypts.length !== 1)
          throw new ScenarioFailure(`expected one Decrypt of seed 1, the KMS saw ${decrypts.length}`);
        return Date.parse(decrypts[0]!.time);
      },
    );
    const outage = await ctx.step(
      'a minute before seed 1’s day ends: Secrets with seed 2, then the plugin goes',
      async (ev) => {
        await lab.clock.sleep(decryptedAt + DEK_CACHE_TTL - MINUTE - lab.clock.now());
        await newer.create(lab.api, 'newer', ctx.params.secrets);
        await lab.kms.stopPlugin();
        ev.hoursAfterDecrypt = hours(decryptedAt, lab.clock.now());
        return lab.clock.now();
      },
    );
    await ctx.step(
      '30 s past its day, seed 1 still reads: an expired entry stays until a put sweeps it',
      async (ev) => {
        await lab.clock.sleep(decryptedAt + DEK_CACHE_TTL + 30_000 - lab.clock.now());
        ev.hoursAfterDecrypt = hours(decryptedAt, lab.clock.now());
        ev.read = await older.verifyAll(lab.api);
      },
    );
    const lastWrite = await ctx.step(
      'the next write sweeps it: seed 1 fails from then on, seed 2 reads',
      async (ev) => {
        const probe = new SecretSet(ctx.namespace);
        await probe.create(lab.api, 'sweeper', 1).catch((error: unknown) => {
          throw new ScenarioFailure(`the write that should sweep the cache failed: ${(error as Error).message}`);
        });
        const at = lab.clock.now();
        ev.minutesIntoOutage = (at - outage) / MINUTE;
        const lost = await older.expectAllUnreadable(lab.api);
        ev.readErrorClass = errorClass(lost);
        if (ev.readErrorClass !== 'kms-decrypt-failed') throw new ScenarioFailure(`seed 1 failed with ${lost.message}`);
        ev.seed2Read = await newer.verifyAll(lab.api);
        return at;
      },
    );
    await ctx.step('writes fail once the write key expires', async (ev) => {
      const failed = await ctx.wait('a write to fail', async () => (await write(lab, newer, 'probe')) ?? undefined, {
        timeoutMs: 10 * MINUTE,
        intervalMs: MINUTE,
      });
      ev.minutesIntoOutage = (lab.clock.now() - outage) / MINUTE;
      ev.writeErrorClass = failed;
      if (failed !== 'kms-write-key-expired') throw new ScenarioFailure(`writes failed with ${failed}`);
    });
    await ctx.step(`${OUTAGE / HOUR} h into the outage: seed 2 still reads, a day past its last put`, async (ev) => {
      await lab.clock.sleep(outage + OUTAGE - lab.clock.now());
      ev.hoursSinceLastPut = hours(lastWrite, lab.clock.now());
      ev.read = await newer.verifyAll(lab.api);
      ev.seed1 = errorClass(await older.expectAllUnreadable(lab.api));
    });
    await ctx.step('the plugin returns: every Secret reads and writes work again', async (ev) => {
      const t = lab.clock.now();
      await lab.kms.startPlugin();
      await ctx.wait('a write to succeed', async () => ((await write(lab, newer, 'after')) ? undefined : true));
      ev.secondsToWrite = (lab.clock.now() - t) / 1000;
      ev.read = (await older.verifyAll(lab.api)) + (await newer.verifyAll(lab.api));
    });
  },
};

/** write makes one Secret named after the set's size; returns the error class if it failed, undefined if written. */
async function write(lab: Lab, set: SecretSet, prefix: string): Promise<string | undefined> {
  return set.create(lab.api, `${prefix}-${set.size}`, 1).then(
    () => undefined,
    (error: unknown) => errorClass(error),
  );
}

const hours = (from: number, to: number) => Math.round(((to - from) / HOUR) * 1000) / 1000;
