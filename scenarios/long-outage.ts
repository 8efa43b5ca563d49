import type { Lab, ObjectRef } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { createSecrets, restartEach } from './common-steps.js';
import { ScenarioFailure, errorClass } from './error-class.js';
import type { Scenario, ScenarioContext } from './model.js';
import { SecretSet } from './secret-set.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** kube-apiserver keeps a DEK seed in its read cache this long after it last put it there (v1.37 kmsv2 cacheTTL). */
export const DEK_CACHE_TTL = 24 * HOUR;
/** How long the lab runs on before the outage: the older seed has half its day left when the plugin goes. */
const BEFORE_OUTAGE = 12 * HOUR;
/** How often the outage is probed: the times below are known to this much (each probe is a virtual-time step). */
const PROBE = MINUTE;

/**
 * longOutage (kubernetes#132967) keeps the plugin away for more than a day, on the model only: reads outlive the
 * 3-minute write expiry, but each DEK seed leaves the read cache 24 h after it was last put there — by a Decrypt or
 * a write, never by a read — so reads fail seed by seed, at times set by the past, not by the outage.
 */
export const longOutage: Scenario = {
  name: 'long-outage',
  summary: 'The KMS is gone for 36 h (model): when do reads start failing?',
  proves:
    "model result (sim, virtual time): in an outage writes stop when the write key expires, but reads go on until each DEK seed's read-cache entry expires 24 h after it was last put there — Secrets read through a Decrypt 12 h before the outage fail 12 h into it, those written with the apiserver's own seed 24 h after its last successful write — and the plugin's return brings every read and write back",
  tags: ['model', 'slow'],
  needs: { encryption: 'kms', apiserver: 'model' },
  async run(lab, ctx) {
    const older = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, older, `create ${ctx.params.secrets} Secrets (seed 1)`);
    const decryptedAt = await ctx.step(
      'restart the apiserver: a new seed; seed 1 is read back through a Decrypt',
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
    const newer = new SecretSet(ctx.namespace);
    await ctx.step(
      `${BEFORE_OUTAGE / HOUR} h later, create ${ctx.params.secrets} Secrets with the new seed (seed 2)`,
      async (ev) => {
        await lab.clock.sleep(BEFORE_OUTAGE);
        await newer.create(lab.api, 'newer', ctx.params.secrets);
        ev.virtualTime = hours(lab, decryptedAt);
      },
    );
    const outage = await ctx.step('the plugin goes away', async (ev) => {
      await lab.kms.stopPlugin();
      ev.virtualTime = hours(lab, decryptedAt);
      return lab.clock.now();
    });
    const probe = new OutageProbe(lab, ctx, outage);
    const lastWrite = await ctx.step('writes fail once the write key expires; every Secret still reads', async (ev) => {
      const last = await probe.untilWritesFail();
      ev.writesFailAfter = minutes(last.failedAt - outage);
      ev.writeErrorClass = last.errorClass;
      ev.readsAfterWritesFail = await older.verifyAll(lab.api).then(() => newer.verifyAll(lab.api));
      return last.lastOk;
    });
    await ctx.step('seed 1 fails 24 h after its Decrypt — 12 h into the outage; seed 2 still reads', async (ev) => {
      const failedAt = await probe.untilUnreadable(older.refs[0]!, decryptedAt + DEK_CACHE_TTL + HOUR);
      ev.hoursIntoOutage = hours(lab, outage, failedAt);
      ev.hoursAfterDecrypt = hours(lab, decryptedAt, failedAt);
      ev.readErrorClass = probe.lastErrorClass;
      expectAround('seed 1 reads failing', failedAt, decryptedAt + DEK_CACHE_TTL);
      if (probe.lastErrorClass !== 'kms-decrypt-failed') {
        throw new ScenarioFailure(`seed 1 failed with ${probe.lastErrorClass}, not a failed Decrypt`);
      }
      ev.seed2Read = await newer.verifyAll(lab.api);
      ev.seed1Unreadable = await older.expectAllUnreadable(lab.api).then((e) => errorClass(e));
    });
    await ctx.step('seed 2 fails 24 h after the last successful write', async (ev) => {
      const failedAt = await probe.untilUnreadable(newer.refs[0]!, lastWrite + DEK_CACHE_TTL + HOUR);
      ev.hoursIntoOutage = hours(lab, outage, failedAt);
      ev.hoursAfterLastWrite = hours(lab, lastWrite, failedAt);
      ev.readErrorClass = probe.lastErrorClass;
      expectAround('seed 2 reads failing', failedAt, lastWrite + DEK_CACHE_TTL);
      ev.allUnreadable = errorClass(await newer.expectAllUnreadable(lab.api));
    });
    await ctx.step('the plugin returns: every Secret reads and writes work again', async (ev) => {
      const t = lab.clock.now();
      await lab.kms.startPlugin();
      await ctx.wait('a write to succeed', async () =>
        (await newer.create(lab.api, 'after-outage', 1).then(
          () => true,
          () => false,
        ))
          ? true
          : undefined,
      );
      ev.secondsToWrite = (lab.clock.now() - t) / 1000;
      ev.read = (await older.verifyAll(lab.api)) + (await newer.verifyAll(lab.api));
    });
  },
};

/** OutageProbe polls reads and writes through an outage on the lab's clock, a minute apart. */
class OutageProbe {
  lastErrorClass = '';
  private readonly probes: SecretSet;
  private n = 0;

  constructor(
    private readonly lab: Lab,
    private readonly ctx: ScenarioContext,
    private readonly outage: number,
  ) {
    this.probes = new SecretSet(ctx.namespace);
  }

  /** untilWritesFail writes a probe Secret a minute apart; returns the last success and the first failure. */
  async untilWritesFail(): Promise<{ lastOk: number; failedAt: number; errorClass: string }> {
    let lastOk = this.outage;
    return this.ctx.wait(
      'a write to fail',
      async () => {
        try {
          await this.probes.create(this.lab.api, `probe-${this.n++}`, 1);
          lastOk = this.lab.clock.now();
          return undefined;
        } catch (error) {
          return { lastOk, failedAt: this.lab.clock.now(), errorClass: errorClass(error) };
        }
      },
      { timeoutMs: 30 * MINUTE, intervalMs: PROBE },
    );
  }

  /** untilUnreadable reads one Secret a minute apart until it fails; returns when. */
  async untilUnreadable(ref: ObjectRef, by: number): Promise<number> {
    return this.ctx.wait(
      `${ref.name} to become unreadable`,
      async () => {
        try {
          await this.lab.api.readSecret(ref);
          return undefined;
        } catch (error) {
          this.lastErrorClass = errorClass(error);
          return this.lab.clock.now();
        }
      },
      { timeoutMs: Math.max(PROBE, by - this.lab.clock.now()), intervalMs: PROBE },
    );
  }
}

/** expectAround fails unless a moment probed a minute apart lies within one probe after the expected one. */
function expectAround(what: string, at: number, expected: number): void {
  if (at < expected || at > expected + PROBE + 1_000) {
    throw new ScenarioFailure(
      `${what} at ${(at / HOUR).toFixed(3)} h of virtual time; the 24 h cache says ${(expected / HOUR).toFixed(3)} h`,
    );
  }
}

const hours = (lab: Lab, from: number, to = lab.clock.now()) => Math.round(((to - from) / HOUR) * 1000) / 1000;
const minutes = (ms: number) => Math.round((ms / MINUTE) * 100) / 100;
