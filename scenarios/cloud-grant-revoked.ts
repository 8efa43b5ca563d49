import { auditMark } from './audit-mark.js';
import { callers, cloudMark, cloudOf, isCryptoCall, tally } from './cloud-trails.js';
import { createSecrets, kmsHealthFails, LIVEZ_HOLD, restartEach } from './common-steps.js';
import { errorClass, ScenarioFailure } from './error-class.js';
import { succeeds } from './expect-failure.js';
import type { Scenario } from './model.js';
import { secretKey, SecretSet } from './secret-set.js';

// What the cloud answers a caller whose grant is gone (ActionTrail and CloudTrail spellings).
const DENIED = /NoPermission|AccessDenied/;
// The apiserver keeps a write state 3 min after the last good Status (docs/kmsv2-behaviour.md); a little slack.
const WRITE_STATE_MS = 200_000;

export const cloudGrantRevoked: Scenario = {
  name: 'cloud-grant-revoked',
  summary:
    "The cluster's identity loses its grant on the key at the cloud, the apiserver restarts, then the grant is restored",
  proves:
    "with the grant revoked, cached DEKs keep every read going (and writes until the write state expires, if the plugin's Status fails) while /healthz/kms-providers turns red and the cloud trail shows the cluster's identity refused; after a restart no Secret reads; restoring the grant brings every Secret back, its etcd bytes untouched",
  tags: ['cloud'],
  needs: { encryption: 'kms', kms: ['cloud-revoke', 'cloud-grant', 'cloud-audit'] },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const set = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, set);
    const stored = await ctx.step('raw etcd: keep the stored bytes of every Secret', async (ev) => {
      const bytes = new Map<string, Buffer>();
      for (const ref of set.refs) bytes.set(ref.name, (await lab.etcd.get(secretKey(ref)))!);
      ev.kept = bytes.size;
      return bytes;
    });
    const grant = { principal: cloud.principal, permissions: cloud.clusterPermissions, key: cloud.keyId };
    let revoked = false;
    try {
      const marks = await ctx.step(`revoke the grant of ${cloud.principal} on the key`, async (ev) => {
        const socket = await auditMark(lab);
        const at = lab.clock.now();
        const { changed } = await cloud.revoke({ principal: cloud.principal });
        revoked = true;
        // Marked once the revoke is in force: a call the cloud served just before it is not counted against it.
        const m = { socket, cloud: await cloudMark(cloud), at };
        ev.grantsRemoved = changed;
        if (changed === 0) throw new ScenarioFailure(`${cloud.principal} held no grant to revoke`);
        return m;
      });
      await ctx.step('/healthz/kms-providers fails', async (ev) => {
        await kmsHealthFails(lab, ctx, ev);
        ev.secondsSinceRevoke = (lab.clock.now() - marks.at) / 1000;
      });
      const statusFails = await ctx.step('cached DEKs keep every read and write going', async (ev) => {
        ev.read = await set.verifyAll(lab.api);
        await set.create(lab.api, 'while-revoked', 1);
        ev.write = 'ok';
        // How the plugin reported the refusal decides how long writes go on: a failed Status RPC lets the write
        // state expire; an unhealthy healthz with the same key_id keeps extending it (kubernetes#138950).
        const statuses = (await lab.kms.audit({ afterSeq: marks.socket, method: 'Status' })).filter(
          (r) => r.code !== 'OK' || r.healthz,
        );
        ev.statusAnswers = [...new Set(statuses.map((r) => (r.code === 'OK' ? `healthz: ${r.healthz}` : r.code)))];
        return statuses.some((r) => r.code !== 'OK');
      });
      if (statusFails)
        await ctx.step('Status fails: writes stop when the write state expires; reads go on', async (ev) => {
          let probes = 0;
          const stopped = await ctx.wait(
            'writes to fail (the write state expires 3 min after the last good Status)',
            async () => {
              return set.create(lab.api, `probe-${probes++}`, 1).then(
                () => undefined,
                (error: unknown) => error,
              );
            },
            { timeoutMs: WRITE_STATE_MS, intervalMs: 5_000 },
          );
          ev.secondsSinceRevoke = (lab.clock.now() - marks.at) / 1000;
          ev.writeErrorClass = errorClass(stopped);
          if (ev.writeErrorClass !== 'kms-write-key-expired')
            throw new ScenarioFailure(`writes failed, but with ${(stopped as Error).message}`);
          ev.read = await set.verifyAll(lab.api);
        });
      await ctx.step(`the cloud trail shows ${cloud.principal} refused, and never served`, async (ev) => {
        const after = (await cloud.audit({ afterSeq: marks.cloud })).filter(
          (e) => e.principal === cloud.principal && isCryptoCall(e),
        );
        ev.calls = tally(after);
        const served = after.filter((e) => !e.errorCode);
        if (served.length) throw new ScenarioFailure(`the cloud still served ${JSON.stringify(tally(served))}`);
        const denied = after.filter((e) => DENIED.test(e.errorCode ?? ''));
        if (!denied.length)
          throw new ScenarioFailure(
            `no refused call by ${cloud.principal} since the revoke (callers since: ${callers(after).join(', ') || 'none'})`,
          );
        ev.deniedWith = [...new Set(denied.map((e) => e.errorCode))];
      });
      await ctx.step('restart the apiserver: no Secret reads', async (ev) => {
        await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
        const read = await set.expectAllUnreadable(lab.api);
        ev.readError = read.message.slice(0, 300);
        ev.readErrorClass = errorClass(read);
      });
      await ctx.step('restore the grant: every Secret reads back, its etcd bytes untouched', async (ev) => {
        const t = lab.clock.now();
        await cloud.grant(grant);
        revoked = false;
        await ctx.wait(
          'Secrets to read again',
          async () => ((await succeeds(lab.api.readSecret(set.refs[0]!))) ? true : undefined),
          { timeoutMs: 120_000 },
        );
        ev.recoverySeconds = (lab.clock.now() - t) / 1000;
        ev.read = await set.verifyAll(lab.api);
        const changed = [];
        for (const [name, bytes] of stored)
          if (!(await lab.etcd.get(secretKey({ namespace: ctx.namespace, name })))?.equals(bytes)) changed.push(name);
        if (changed.length) throw new ScenarioFailure(`${changed.length} Secrets changed in etcd: ${changed[0]}`);
        ev.etcdBytesUnchanged = stored.size;
        await set.create(lab.api, 'after-restore', 1);
      });
    } finally {
      // Whatever failed, the cluster's identity gets its grant back (the lab's cloud outlives this scenario).
      if (revoked) await cloud.grant(grant).catch(() => undefined);
    }
  },
};
