import { formatDuration } from '../harness/common/duration.js';
import { auditMark } from './audit-mark.js';
import { cloudMark, cloudOf, isCryptoCall, tally, type CloudEvent } from './cloud-trails.js';
import { kmsHealthFails, kmsHealthPasses } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import { secretsKept } from './etcd-bytes.js';
import type { Scenario } from './model.js';
import { firstRefusal, statusStyle } from './socket-answers.js';

// The STS calls that fetch a role's temporary credentials (Alibaba's AssumeRole; AWS's AssumeRole, and
// AssumeRoleWithWebIdentity for IRSA): a fault on them fails every refresh, whichever the plugin makes.
const REFRESH_ACTIONS = ['AssumeRole', 'AssumeRoleWithWebIdentity'];
// What each cloud answers a call signed with an expired session (Alibaba; AWS KMS; AWS STS).
const EXPIRED = /^(InvalidSecurityToken\.Expired|ExpiredTokenException|ExpiredToken)$/;
// How long the apiserver takes to see a healthy plugin again once it is: its Status poll every 10 s while
// unhealthy, the probe's 3 s cache, slack for two busy cores.
const HEALTH_LAG_MS = 60_000;
// A plugin that fetches credentials when the old ones fail (AWS's SDK) needs no interval; one of a user's, unknown.
const UNKNOWN_REFRESH_MS = 120_000;

export const cloudCredentialsExpire: Scenario = {
  name: 'cloud-credentials-expire',
  summary:
    "The plugin's temporary credentials (the STS session of the cluster's role) expire while every refresh fails; then STS answers again",
  proves:
    "the outage starts at the first cloud call signed with the expired session (InvalidSecurityToken.Expired / ExpiredTokenException); /healthz/kms-providers turns red in the plugin's Status style while cached DEKs keep reads and writes going; once STS answers, the plugin's next refresh brings health back by itself, every Secret reads with its etcd bytes unchanged, and the cloud trail shows the refused refreshes, then a successful one, then the cluster's key used by the new session",
  tags: ['cloud'],
  needs: { encryption: 'kms', kms: ['cloud-expire-credentials', 'cloud-faults', 'cloud-audit'] },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const { set, stored } = await secretsKept(lab, ctx);
    const faults: string[] = [];
    try {
      const start = await ctx.step(
        `STS refuses every refresh, and the sessions of ${cloud.principal} end now`,
        async (ev) => {
          const marks = { socket: await auditMark(lab), cloud: await cloudMark(cloud) };
          // The fault first, so that no refresh can succeed between the expiry and the outage.
          for (const action of REFRESH_ACTIONS)
            faults.push((await cloud.addFault({ kind: 'region-outage', action })).id);
          const at = lab.clock.now();
          const { expired } = await cloud.expireCredentials();
          ev.sessionsEnded = expired;
          if (expired === 0)
            throw new ScenarioFailure(
              `no live session of the cluster's role to end: the plugin calls as ${cloud.principal} with keys that do not expire`,
            );
          ev.refreshFaults = REFRESH_ACTIONS.map((a) => `${a}: region-outage (the service's 503)`);
          ev.refresh = cloud.credentialRefreshMs
            ? `every ${formatDuration(cloud.credentialRefreshMs)} (CREDENTIAL_INTERVAL)`
            : 'when the credentials expire or the cloud refuses them';
          return { ...marks, at };
        },
      );
      await ctx.step('/healthz/kms-providers fails; the plugin says why in its Status style', async (ev) => {
        await kmsHealthFails(lab, ctx, ev);
        ev.secondsSinceExpiry = (lab.clock.now() - start.at) / 1000;
        ev.statusAnswers = await statusStyle(lab, start.socket);
      });
      // A call with an ended session fails before the cloud knows who made it: the trail names its access key only.
      const ended = await ctx.step('the outage starts at the first call signed with the ended session', async (ev) => {
        const since = await cloud.audit({ afterSeq: start.cloud });
        const refused = since.filter((e) => EXPIRED.test(e.errorCode ?? '') && accessKeyOf(e));
        const first = refused[0];
        if (!first)
          throw new ScenarioFailure(
            `no call was refused for an expired session since it ended (since: ${JSON.stringify(tally(since))})`,
          );
        ev.firstRefused = { action: first.action, errorCode: first.errorCode, at: first.time };
        // The socket's clock has milliseconds (ActionTrail's whole seconds): the plugin's first failed answer.
        const atSocket = await firstRefusal(lab, start.socket);
        ev.firstFailedAnswer = atSocket;
        if (atSocket) ev.secondsAfterExpiry = (Date.parse(atSocket.at) - start.at) / 1000;
        ev.refusedAsExpired = tally(refused);
        ev.session = shortKey(accessKeyOf(first)!);
        const served = since.filter((e) => servedTo(e, cloud.principal));
        if (served.length)
          throw new ScenarioFailure(`the cloud still served ${JSON.stringify(tally(served))} to ${cloud.principal}`);
        ev.refreshesRefused = tally(since.filter((e) => REFRESH_ACTIONS.includes(e.action)));
        return new Set(refused.map((e) => accessKeyOf(e)!));
      });
      await ctx.step('cached DEKs keep every read and write going', async (ev) => {
        ev.read = await set.verifyAll(lab.api);
        await set.create(lab.api, 'while-expired', 1);
        ev.write = 'ok';
      });
      const back = await ctx.step('STS answers again: the plugin refreshes by itself and health passes', async (ev) => {
        const marks = { cloud: await cloudMark(cloud), at: lab.clock.now() };
        for (const id of faults.splice(0)) await cloud.clearFaults(id);
        const refreshMs = cloud.credentialRefreshMs ?? UNKNOWN_REFRESH_MS;
        await kmsHealthPasses(
          lab,
          ctx,
          refreshMs + HEALTH_LAG_MS,
          `the plugin's next refresh: within ${formatDuration(refreshMs)}`,
        );
        ev.secondsToGreen = (lab.clock.now() - marks.at) / 1000;
        return marks;
      });
      await ctx.step('every Secret reads back, its etcd bytes unchanged; writes go on', async (ev) => {
        ev.read = await set.verifyAll(lab.api);
        ev.etcdBytesUnchanged = await stored.expectUnchanged(lab);
        await set.create(lab.api, 'after-refresh', 1);
        ev.write = 'ok';
      });
      await ctx.step(
        "the cloud trail: a refresh served after the outage, then the cluster's key used by the new session",
        async (ev) => {
          const since = await cloud.audit({ afterSeq: back.cloud });
          const refreshed = since.find((e) => REFRESH_ACTIONS.includes(e.action) && !e.errorCode);
          if (!refreshed)
            throw new ScenarioFailure(
              `no successful ${REFRESH_ACTIONS.join(' or ')} since STS answers again (since: ${JSON.stringify(tally(since))})`,
            );
          ev.refreshed = { action: refreshed.action, by: refreshed.principal ?? 'unknown', at: refreshed.time };
          const used = since.filter((e) => e.seq > refreshed.seq && servedTo(e, cloud.principal));
          const fresh = used.filter((e) => !ended.has(accessKeyOf(e) ?? ''));
          if (!fresh.length)
            throw new ScenarioFailure(
              `no Encrypt or Decrypt served to ${cloud.principal} with a new session after the refresh (${JSON.stringify(tally(used))})`,
            );
          ev.newSession = shortKey(accessKeyOf(fresh[0]!)!);
          ev.servedAfter = tally(fresh);
          const stale = since.filter((e) => servedTo(e, cloud.principal) && ended.has(accessKeyOf(e) ?? ''));
          if (stale.length) throw new ScenarioFailure(`the cloud served ${stale.length} calls with an ended session`);
        },
      );
    } finally {
      // Whatever failed, STS answers again (the lab's cloud outlives this scenario); the ended sessions stay ended.
      for (const id of faults) await cloud.clearFaults(id).catch(() => undefined);
    }
  },
};

/** servedTo: an Encrypt or Decrypt the cloud served to this principal. */
const servedTo = (e: CloudEvent, principal: string) => isCryptoCall(e) && !e.errorCode && e.principal === principal;

/** accessKeyOf is the access key a call was signed with, as the trail records it (also for a refused call). */
function accessKeyOf(e: CloudEvent): string | undefined {
  const identity = (e.event as { userIdentity?: { accessKeyId?: unknown } }).userIdentity;
  return typeof identity?.accessKeyId === 'string' ? identity.accessKeyId : undefined;
}

// An access key id is no secret, but evidence needs no more than enough to tell sessions apart.
const shortKey = (id: string) => `${id.slice(0, 8)}…`;
