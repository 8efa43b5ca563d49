import type { LabCloud } from '../harness/kms/index.js';
import type { Lab } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { cloudMark, cloudOf, isCryptoCall, tally, type CloudEvent } from './cloud-trails.js';
import { kmsHealthFails, kmsHealthPasses, LIVEZ_HOLD, restartEach } from './common-steps.js';
import { errorClass, ScenarioFailure } from './error-class.js';
import { secretsKept } from './etcd-bytes.js';
import type { Scenario, ScenarioContext } from './model.js';
import { firstRefusal, statusStyle } from './socket-answers.js';

// What each cloud answers a call on a key in that state (Alibaba's code, then AWS's, as their trails record them).
const REFUSED = {
  PendingDeletion: /^(Rejected\.PendingDeletion|KMSInvalidStateException)$/,
  Disabled: /^(Rejected\.Disabled|DisabledException)$/,
  Destroyed: /^(Forbidden\.KeyNotFound|NotFoundException)$/,
} as const;
// The state a key returns to when its deletion is cancelled: Alibaba's state table (Enabled); AWS's
// CancelKeyDeletion documentation (Disabled: "you must enable it before you can use it").
const AFTER_CANCEL = { alibaba: 'Enabled', aws: 'Disabled' } as const;
// The services' shortest window (7 days on both), so that nothing but the cancel ends it.
const CANCELLED_WINDOW = '7d';
// The window of a deletion that is not cancelled: a lab setting of the schedule call (the API allows whole days).
// Longer than health takes to turn red (the probe's 20 s cache after a success), so the key is seen pending first.
const DESTROY_WINDOW_MS = 30_000;
// How long after a key's state changes the plugin's next call shows it: the apiserver asks for Status every 10 s
// while unhealthy; slack for two busy cores.
const NEXT_CALL_MS = 60_000;

type Marks = { socket: number; cloud: number; at: number };

/**
 * scheduleDeletion is the common start: Secrets written and their etcd bytes kept, then the key scheduled for
 * deletion; health turns red, the cloud refuses the cluster's identity (the key is unusable at once), cached DEKs
 * keep reads and writes going. `pending` tracks the key for the scenario's `finally`.
 */
async function scheduleDeletion(
  lab: Lab,
  ctx: ScenarioContext,
  cloud: LabCloud,
  window: string,
  pending: Set<string>,
  refused: { as: RegExp; what: string } = { as: REFUSED.PendingDeletion, what: 'the key is pending deletion' },
) {
  const { set, stored } = await secretsKept(lab, ctx);
  const marks = await ctx.step(`schedule the cluster's key for deletion (window ${window})`, async (ev) => {
    const m: Marks = { socket: await auditMark(lab), cloud: await cloudMark(cloud), at: lab.clock.now() };
    const key = await cloud.scheduleDeletion(undefined, window);
    pending.add('scheduled');
    ev.state = key.state;
    if (key.deleteAt) ev.deletesAt = new Date(key.deleteAt).toISOString();
    if (key.state !== 'PendingDeletion') throw new ScenarioFailure(`the key is ${key.state}, not PendingDeletion`);
    return m;
  });
  await ctx.step('/healthz/kms-providers fails: the key is unusable at once', async (ev) => {
    await kmsHealthFails(lab, ctx, ev);
    ev.secondsSinceScheduled = (lab.clock.now() - marks.at) / 1000;
    ev.statusAnswers = await statusStyle(lab, marks.socket);
    ev.firstFailedAnswer = await firstRefusal(lab, marks.socket);
  });
  await ctx.step(`the cloud trail shows ${cloud.principal} refused: ${refused.what}`, async (ev) => {
    ev.refused = tally(await refusedSince(cloud, marks.cloud, refused.as));
  });
  await ctx.step('cached DEKs keep every read and write going', async (ev) => {
    ev.read = await set.verifyAll(lab.api);
    await set.create(lab.api, 'while-pending', 1);
    ev.write = 'ok';
  });
  return { set, stored, marks };
}

/**
 * refusedSince: the cluster identity's Encrypt and Decrypt calls since the mark, which must include refusals with
 * the given code and no call served; it returns the refusals.
 */
async function refusedSince(cloud: LabCloud, afterSeq: number, code: RegExp): Promise<CloudEvent[]> {
  const calls = (await cloud.audit({ afterSeq })).filter((e) => isCryptoCall(e) && e.principal === cloud.principal);
  const served = calls.filter((e) => !e.errorCode);
  if (served.length) throw new ScenarioFailure(`the cloud still served ${JSON.stringify(tally(served))}`);
  const refused = calls.filter((e) => code.test(e.errorCode ?? ''));
  if (!refused.length)
    throw new ScenarioFailure(
      `no call by ${cloud.principal} refused with ${code.source} (since: ${JSON.stringify(tally(calls))})`,
    );
  return refused;
}

/**
 * waitForRefusal waits until the cloud refuses the cluster identity's calls with the given code. Each try asks
 * /healthz/kms-providers, whose check makes the apiserver call Status (at most every 3 s after a failure) rather
 * than wait for its own 10 s poll.
 */
function waitForRefusal(
  lab: Lab,
  ctx: ScenarioContext,
  cloud: LabCloud,
  afterSeq: number,
  code: RegExp,
  what: string,
  timeoutMs = NEXT_CALL_MS,
) {
  return ctx.wait(
    `the plugin's next call to be refused: ${what}`,
    async () => {
      await lab.api.request('GET', '/healthz/kms-providers');
      return (await refusedSince(cloud, afterSeq, code).catch(() => undefined))?.[0];
    },
    { timeoutMs, intervalMs: 1_000 },
  );
}

/** tallyCalls counts the socket's calls by method and code ("Decrypt OK", "Status Unavailable"). */
function tallyCalls(records: { method: string; code: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) out[`${r.method} ${r.code}`] = (out[`${r.method} ${r.code}`] ?? 0) + 1;
  return out;
}

export const cloudKeyDeletion: Scenario = {
  name: 'cloud-key-deletion',
  summary: "The cluster's key is scheduled for deletion at the cloud, then the deletion is cancelled",
  proves:
    "a key pending deletion is unusable at once: /healthz/kms-providers turns red and the cloud refuses the cluster's identity (Rejected.PendingDeletion / KMSInvalidStateException) while cached DEKs keep reads and writes going; cancelled, the key comes back as the service brings it back — Enabled on Alibaba, Disabled on AWS (still refused with DisabledException until enabled) — and nothing is lost: after an apiserver restart every Secret reads, its etcd bytes unchanged",
  tags: ['cloud'],
  needs: {
    encryption: 'kms',
    kms: ['cloud-schedule-deletion', 'cloud-cancel-deletion', 'cloud-enable', 'cloud-audit'],
  },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const state = new Set<string>();
    try {
      const { set, stored } = await scheduleDeletion(lab, ctx, cloud, CANCELLED_WINDOW, state);
      const expected = AFTER_CANCEL[cloud.name];
      await ctx.step(
        `cancel the deletion: the key comes back ${expected}, as the service brings it back`,
        async (ev) => {
          const mark = await cloudMark(cloud);
          const key = await cloud.cancelDeletion();
          state.delete('scheduled');
          if (key.state === 'Disabled') state.add('disabled');
          ev.state = key.state;
          if (key.state !== expected)
            throw new ScenarioFailure(
              `the cancelled key came back ${key.state}; ${cloud.name} brings it back ${expected}`,
            );
          if (expected === 'Disabled') {
            // Observed, not only reported: the plugin is refused for a disabled key, and health stays red.
            const refused = await waitForRefusal(lab, ctx, cloud, mark, REFUSED.Disabled, 'the key is disabled');
            ev.refusedAfterCancel = { action: refused.action, errorCode: refused.errorCode };
            ev.healthAfterCancel = (await lab.api.request('GET', '/healthz/kms-providers')).status;
            if (ev.healthAfterCancel === 200)
              throw new ScenarioFailure('/healthz/kms-providers passes although the key came back disabled');
          }
        },
      );
      await ctx.step(
        expected === 'Disabled' ? 'enable the key: /healthz/kms-providers passes' : '/healthz/kms-providers passes',
        async (ev) => {
          const at = lab.clock.now();
          if (state.has('disabled')) {
            await cloud.enable();
            state.delete('disabled');
            ev.enabled = true;
          }
          await kmsHealthPasses(lab, ctx, NEXT_CALL_MS);
          ev.secondsToGreen = (lab.clock.now() - at) / 1000;
        },
      );
      await ctx.step(
        'restart the apiserver: every Secret reads, its etcd bytes unchanged; writes go on',
        async (ev) => {
          const mark = await cloudMark(cloud);
          await restartEach(ctx, lab.apiservers, 'ready');
          ev.read = await set.verifyAll(lab.api);
          ev.etcdBytesUnchanged = await stored.expectUnchanged(lab);
          await set.create(lab.api, 'after-cancel', 1);
          ev.write = 'ok';
          const calls = (await cloud.audit({ afterSeq: mark })).filter(
            (e) => isCryptoCall(e) && e.principal === cloud.principal,
          );
          ev.cloudCalls = tally(calls);
          if (!calls.some((e) => e.action === 'Decrypt' && !e.errorCode))
            throw new ScenarioFailure(
              `no Decrypt served by the cloud after the restart: ${JSON.stringify(tally(calls))}`,
            );
        },
      );
    } finally {
      // Whatever failed, the key is usable again (the lab's cloud outlives this scenario).
      if (state.has('scheduled')) await cloud.cancelDeletion().catch(() => undefined);
      if (state.size) await cloud.enable().catch(() => undefined);
    }
  },
};

export const cloudKeyDestroyed: Scenario = {
  name: 'cloud-key-destroyed',
  summary:
    "The cluster's key is scheduled for deletion and the window ends: the cloud destroys it, then the apiserver restarts",
  proves:
    "when a deletion window ends the cloud destroys the key (the plugin's calls refused with Forbidden.KeyNotFound / NotFoundException; the deletion can no longer be cancelled); an apiserver that has not restarted still serves every Secret from its cached DEKs, but after a restart no Secret reads, for good: their bytes are still in etcd, under a key no one has. The way out for those objects is KEP-3926's unsafe delete (scenario unsafe-delete)",
  tags: ['cloud'],
  needs: { encryption: 'kms', kms: ['cloud-schedule-deletion', 'cloud-cancel-deletion', 'cloud-audit'] },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const state = new Set<string>();
    try {
      // On a busy machine the window may end before the apiserver's first failed Status: gone then, not pending.
      const { set, stored, marks } = await scheduleDeletion(lab, ctx, cloud, `${DESTROY_WINDOW_MS / 1000}s`, state, {
        as: new RegExp(`${REFUSED.PendingDeletion.source}|${REFUSED.Destroyed.source}`),
        what: 'the key is pending deletion (or already gone)',
      });
      await ctx.step('the window ends: the cloud destroys the key, for good', async (ev) => {
        const gone = await waitForRefusal(
          lab,
          ctx,
          cloud,
          marks.cloud,
          REFUSED.Destroyed,
          'the key is gone (its deletion window ends)',
          DESTROY_WINDOW_MS + NEXT_CALL_MS,
        );
        ev.refused = { action: gone.action, errorCode: gone.errorCode, at: gone.time };
        ev.secondsSinceScheduled = (lab.clock.now() - marks.at) / 1000;
        const cancel = await cloud.cancelDeletion().then(
          () => undefined,
          (error: unknown) => error as Error,
        );
        if (!cancel) throw new ScenarioFailure('the cloud cancelled the deletion of a key whose window had ended');
        state.delete('scheduled');
        ev.cancelRefused = cancel.message.slice(0, 200);
      });
      await ctx.step('before a restart, cached DEKs still serve every Secret', async (ev) => {
        ev.read = await set.verifyAll(lab.api);
      });
      await ctx.step('restart the apiserver: no Secret reads, for good; their bytes are still in etcd', async (ev) => {
        const m = { socket: await auditMark(lab), cloud: await cloudMark(cloud), at: lab.clock.now() };
        await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
        ev.secondsToLive = (lab.clock.now() - m.at) / 1000;
        const read = await set.expectAllUnreadable(lab.api);
        ev.readError = read.message.slice(0, 300);
        ev.readErrorClass = errorClass(read);
        ev.etcdBytesUnchanged = await stored.expectUnchanged(lab);
        // Both trails: what the restarted apiserver asked the plugin, and what the cloud refused it.
        ev.statusAnswers = await statusStyle(lab, m.socket);
        ev.socketCalls = tallyCalls(await lab.kms.audit({ afterSeq: m.socket }));
        ev.cloudRefused = tally(await refusedSince(cloud, m.cloud, /./));
        ev.wayOut =
          'KEP-3926: delete each with ignoreStoreReadErrorWithClusterBreakingPotential (kmslab run unsafe-delete)';
      });
    } finally {
      // A key whose window has not ended yet is given back; a destroyed one cannot be (this lab's own cloud).
      if (state.has('scheduled')) {
        await cloud.cancelDeletion().catch(() => undefined);
        await cloud.enable().catch(() => undefined);
      }
    }
  },
};
