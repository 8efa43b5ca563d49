import type { AuditRecord } from '../fake-kms/index.js';
import type { LabApiserver } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { cloudMark, cloudOf, isCryptoCall, tally, type CloudEvent } from './cloud-trails.js';
import { errorClass, ScenarioFailure } from './error-class.js';
import type { Evidence, Scenario, ScenarioContext } from './model.js';
import { SecretSet } from './secret-set.js';

/**
 * quotaFor is the cloud's request quota per second for its cryptographic operations (Encrypt and Decrypt share it,
 * as Alibaba's and AWS's do) in this scenario: what one apiserver's start needs in a second — a Status (the plugin's
 * cost: kmslab's Alibaba plugin 2 calls, its AWS plugin 1; a user's plugin is taken as ACK's 2) and the Encrypt of
 * its DEK seed — so that apiservers starting together ask for more. (One call less and an ACK-style plugin never
 * primes: each Status that gets through fills the second, and the seed's Encrypt right after it is throttled.)
 */
export function quotaFor(statusCalls: { encrypt: number; decrypt: number } | undefined): number {
  return (statusCalls ? statusCalls.encrypt + statusCalls.decrypt : 2) + 1;
}
// After recovery, a window in which nothing but the apiservers' own polls reaches the cloud: long enough for the
// 10 s retry loop of an apiserver still unhealthy to show, were the storm feeding itself.
const SETTLE_MS = 25_000;
// The cloud's throttling answer, in each trail's words (Alibaba KMS Rejected.Throttling, AWS ThrottlingException).
const THROTTLED = /Throttl/;

export const cloudThrottledRestart: Scenario = {
  name: 'cloud-throttled-restart',
  summary:
    'Every apiserver restarts at once against a cloud KMS whose request quota fits one apiserver start per second',
  proves: `apiservers restarted together against a cloud KMS limited to one apiserver start's calls per second (a Status and a DEK-seed Encrypt: 3 requests/s for an ACK-style plugin, 2 for kmslab's AWS plugin) are throttled (the cloud trail shows Encrypt and Decrypt refused with the service's throttling error, by no identity but the cluster's where it names one; the socket shows what the plugin answered), yet every apiserver serves every Secret within the bound, and the storm settles: once they serve, nothing more is throttled and the cloud sees only the apiservers' polls`,
  tags: ['cloud'],
  needs: { encryption: 'kms', apiservers: 2, kms: ['cloud-faults', 'cloud-audit'] },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const set = new SecretSet(ctx.namespace);
    await ctx.step(`create ${ctx.params.secrets} Secrets through every apiserver (a DEK seed each)`, async (ev) => {
      for (const [i, a] of lab.apiservers.entries())
        await set.create(a.api, `via-${i}`, Math.ceil(ctx.params.secrets / lab.apiservers.length));
      ev.created = set.size;
    });
    const rate = quotaFor(cloud.statusCalls);
    const limit = await ctx.step(
      `limit the cloud to ${rate} Encrypt+Decrypt per second (one apiserver start), its throttling error beyond`,
      async (ev) => {
        const fault = await cloud.addFault({ kind: 'throttle', action: 'Encrypt,Decrypt', ratePerSecond: rate });
        ev.fault = fault.id;
        ev.ratePerSecond = rate;
        ev.statusCalls = cloud.statusCalls ?? 'unknown (taken as 1 Encrypt + 1 Decrypt)';
        return { fault: fault.id, socket: await auditMark(lab), cloud: await cloudMark(cloud) };
      },
    );
    try {
      const restartedAt = await ctx.step(`restart all ${lab.apiservers.length} apiservers at once`, async (ev) => {
        const t = lab.clock.now();
        await restartTogether(ctx, lab.apiservers, ev, t, lab.clock.now);
        return t;
      });
      const servedAt = await ctx.step(
        "every apiserver writes, and reads every Secret (the others' new ones too), within the bound",
        async (ev) => {
          ev.boundSeconds = ctx.params.waitTimeoutMs / 1000;
          const deadline = lab.clock.now() + ctx.params.waitTimeoutMs;
          const left = () => Math.max(1_000, deadline - lab.clock.now());
          // A write needs only the apiserver's own DEK seed; reading another's new Secret needs a cloud Decrypt of
          // its seed, which the quota may refuse: the read then fails until a retry gets through.
          for (const [i, a] of lab.apiservers.entries()) {
            const seen = new Set<string>();
            await ctx.wait(
              `${a.name} to take a write`,
              async () =>
                set.create(a.api, `after-storm-${i}`, 1).then(
                  () => true,
                  (error: unknown) => void seen.add(errorClass(error)),
                ),
              { timeoutMs: left(), intervalMs: 1_000 },
            );
            ev[`${a.name}WritesAfterSeconds`] = (lab.clock.now() - restartedAt) / 1000;
            if (seen.size) ev[`${a.name}WriteErrorsMeanwhile`] = [...seen];
          }
          for (const a of lab.apiservers) {
            const seen = new Set<string>();
            await ctx.wait(
              `${a.name} to read every Secret`,
              async () => {
                const { failures } = await set.verify(a.api);
                if (!failures.length) return true;
                const error = await set.errorOf(a.api, { namespace: ctx.namespace, name: failures[0]!.name });
                if (error !== undefined) seen.add(errorClass(error));
                return undefined;
              },
              { timeoutMs: left(), intervalMs: 1_000 },
            );
            ev[`${a.name}ReadsAllAfterSeconds`] = (lab.clock.now() - restartedAt) / 1000;
            if (seen.size) ev[`${a.name}ReadErrorsMeanwhile`] = [...seen];
          }
          ev.read = set.size;
          ev.secondsUntilAllServe = (lab.clock.now() - restartedAt) / 1000;
          return lab.clock.now();
        },
      );
      await ctx.step(
        'the cloud throttled the storm: its trail, and what the plugin answered at the socket',
        async (ev) => {
          const calls = (await cloud.audit({ afterSeq: limit.cloud })).filter(
            (e) => isCryptoCall(e) && Date.parse(e.time) < servedAt + 1_000,
          );
          const throttled = calls.filter((e) => THROTTLED.test(e.errorCode ?? ''));
          const served = calls.filter((e) => !e.errorCode);
          ev.cloud = tally(calls);
          ev.cloudServedPeakPerSecond = peakPerSecond(served);
          ev.cloudAttemptsPerServed = served.length ? Number((calls.length / served.length).toFixed(2)) : null;
          ev.socket = socketTally(await lab.kms.audit({ afterSeq: limit.socket }));
          if (!throttled.length)
            throw new ScenarioFailure(
              `the cloud throttled nothing during the restart (${calls.length} Encrypt/Decrypt calls: ${JSON.stringify(tally(calls))})`,
            );
          // A front that throttles before it authenticates cannot name the caller (kmslab's AWS front): `unknown`.
          ev.throttledCallers = [...new Set(throttled.map((e) => e.principal ?? 'unknown'))];
          const strangers = throttled.filter((e) => e.principal !== undefined && e.principal !== cloud.principal);
          if (strangers.length)
            throw new ScenarioFailure(
              `throttled calls by ${[...new Set(strangers.map((e) => e.principal ?? 'unknown'))].join(', ')}, not only by ${cloud.principal}`,
            );
          ev.throttledWith = [...new Set(throttled.map((e) => e.errorCode))];
        },
      );
      await ctx.step(`the storm settles: nothing throttled in the ${SETTLE_MS / 1000} s after`, async (ev) => {
        const mark = await cloudMark(cloud);
        const socketMark = await auditMark(lab);
        await ctx
          .wait('the cloud to see only what the apiservers do by themselves', async () => undefined, {
            timeoutMs: SETTLE_MS,
            intervalMs: SETTLE_MS,
          })
          .catch(() => undefined);
        const calls = (await cloud.audit({ afterSeq: mark })).filter(isCryptoCall);
        ev.cloud = tally(calls);
        ev.cloudCallsPerSecond = Number((calls.length / (SETTLE_MS / 1000)).toFixed(2));
        ev.socket = socketTally(await lab.kms.audit({ afterSeq: socketMark }));
        const throttled = calls.filter((e) => THROTTLED.test(e.errorCode ?? ''));
        if (throttled.length)
          throw new ScenarioFailure(
            `the storm goes on: ${throttled.length} calls throttled in the ${SETTLE_MS / 1000} s after every apiserver served (${JSON.stringify(tally(calls))})`,
          );
      });
    } finally {
      // The lab's cloud outlives this scenario: its quota goes, whatever failed.
      await cloud.clearFaults(limit.fault).catch(() => undefined);
    }
  },
};

// restartTogether restarts every apiserver at the same moment and waits until each answers /livez (a start whose
// KMS is unusable holds it about a minute), recording when each did.
async function restartTogether(
  ctx: ScenarioContext,
  apiservers: LabApiserver[],
  ev: Evidence,
  startedAt: number,
  now: () => number,
): Promise<void> {
  const outcomes = apiservers.map((a) =>
    a.restart('live').then(
      () => {
        ev[`${a.name}LiveAfterSeconds`] = (now() - startedAt) / 1000;
        return undefined;
      },
      (error: unknown) => ({ error }),
    ),
  );
  const all = Promise.all(outcomes);
  let settled = false;
  void all.then(() => (settled = true));
  // The restarts have their own limits (their errors, with the log tail, are the ones reported): this shows progress.
  await ctx
    .wait(
      'every apiserver to answer /livez (about a minute for one whose KMS was unusable at start)',
      async () => settled || undefined,
      {
        timeoutMs: 300_000,
        intervalMs: 250,
      },
    )
    .catch(() => undefined);
  for (const outcome of await all) if (outcome) throw outcome.error;
}

// socketTally counts the plugin's answers at the socket by method and code, and a Status that answered unhealthy by
// what it said (the AWS style: healthz "err: …" with the key_id).
function socketTally(records: AuditRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) {
    const k = `${r.method} ${r.code}${r.healthz ? ` healthz ${r.healthz.replace(/^(err).*?(Throttl\w*).*$/s, '$1 $2').slice(0, 40)}` : ''}`;
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

// peakPerSecond is the most calls the cloud served within one second of its trail's time (whole seconds, as the
// trails record them; the quota's window is not aligned with them, so this may reach twice the rate).
function peakPerSecond(events: CloudEvent[]): number {
  const per = new Map<string, number>();
  for (const e of events) per.set(e.time.slice(0, 19), (per.get(e.time.slice(0, 19)) ?? 0) + 1);
  return Math.max(0, ...per.values());
}
