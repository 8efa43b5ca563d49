import type { AuditRecord } from '../fake-kms/index.js';
import { auditMark } from './audit-mark.js';
import { expectAllKmsV2 } from './checks.js';
import { callers, cloudMark, cloudOf, isCryptoCall, tally, type CloudEvent } from './cloud-trails.js';
import { createSecrets, restartEach } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';

export const cloudEnable: Scenario = {
  name: 'cloud-enable',
  summary:
    "KMS v2 with a cloud KMS behind the plugin: the cloud's own audit trail shows the cluster's identity using its key, and no one else",
  proves:
    "every Secret is stored as KMS v2 with the plugin's key_id; the cloud audit trail shows Encrypt and Decrypt on the cluster's key by the cluster's identity (the role) and by nobody else, and their counts are what the apiserver's calls at the socket make: one cloud Encrypt per DEK seed, one Decrypt per DEK seed read, plus what each Status costs the plugin",
  tags: ['cloud'],
  needs: { encryption: 'kms', kms: ['cloud-audit'] },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const set = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, set);
    await ctx.step('raw etcd: every Secret is KMS v2 with the current key_id', async (ev) => {
      const { keyId } = await lab.kms.status();
      ev.keyId = keyId;
      ev.stored = await expectAllKmsV2(lab, set.etcdPrefix, keyId, set.size);
    });
    // From here until the counts are compared kmslab asks the plugin nothing itself: every call it gets is the
    // apiserver's, on the socket's trail.
    const marks = { socket: await auditMark(lab), cloud: await cloudMark(cloud) };
    await ctx.step('restart the apiserver (a new DEK seed), read every Secret, write more', async (ev) => {
      await restartEach(ctx, lab.apiservers, 'ready');
      ev.read = await set.verifyAll(lab.api);
      await set.create(lab.api, 'after-restart', 2);
      ev.written = 2;
    });
    await ctx.step(
      "the cloud audit: Encrypt and Decrypt on the cluster's key, by the cluster's identity only",
      async (ev) => {
        const all = (await cloud.audit({})).filter(isCryptoCall);
        const window = all.filter((e) => e.seq > marks.cloud);
        ev.principal = cloud.principal;
        ev.key = cloud.keyId;
        ev.callers = callers(all);
        ev.calls = tally(window);
        const strangers = all.filter((e) => e.principal !== cloud.principal);
        if (strangers.length)
          throw new ScenarioFailure(
            `the cloud trail shows ${strangers.length} Encrypt/Decrypt calls by ${callers(strangers).join(', ')}, not by the cluster's identity ${cloud.principal}`,
          );
        const elsewhere = all.filter((e) => e.keyId !== undefined && e.keyId !== cloud.keyId);
        if (elsewhere.length)
          throw new ScenarioFailure(`${elsewhere.length} calls used another key: ${elsewhere[0]!.keyId}`);
        const refused = window.filter((e) => e.errorCode);
        if (refused.length) throw new ScenarioFailure(`the cloud refused ${JSON.stringify(tally(refused))}`);
        for (const action of ['Encrypt', 'Decrypt'])
          if (!window.some((e) => e.action === action))
            throw new ScenarioFailure(`no ${action} by ${cloud.principal} on the key after the restart`);
      },
    );
    await ctx.step('the counts match what the apiserver did at the socket', async (ev) => {
      // A call in flight at the moment of reading shows on one trail before the other: read again until both agree.
      let last: ReturnType<typeof compare> | undefined;
      for (let attempt = 0; attempt < 5; attempt++) {
        const socket = await lab.kms.audit({ afterSeq: marks.socket });
        const calls = (await cloud.audit({ afterSeq: marks.cloud })).filter(isCryptoCall);
        last = compare(socket, calls, cloud.statusCalls);
        if (last.matches) break;
        await lab.clock.sleep(2_000);
      }
      Object.assign(ev, last!.evidence);
      const seeds = last!.evidence.socket.Encrypt;
      if (seeds !== lab.apiservers.length)
        throw new ScenarioFailure(
          `expected one DEK-seed Encrypt per restarted apiserver (${lab.apiservers.length}) at the socket, saw ${seeds}`,
        );
      if (!last!.matches) throw new ScenarioFailure(last!.why);
    });
  },
};

// compare holds the cloud's Encrypt and Decrypt counts to the socket's calls and what each Status costs the plugin
// (unknown for a user's plugin: then the cloud must show at least one call per Encrypt and Decrypt).
function compare(
  socket: AuditRecord[],
  cloud: CloudEvent[],
  perStatus: { encrypt: number; decrypt: number } | undefined,
) {
  const ok = (m: string) => socket.filter((r) => r.method === m && r.code === 'OK').length;
  const at = { Status: ok('Status'), Encrypt: ok('Encrypt'), Decrypt: ok('Decrypt') };
  const seen = {
    Encrypt: cloud.filter((e) => e.action === 'Encrypt').length,
    Decrypt: cloud.filter((e) => e.action === 'Decrypt').length,
  };
  const expected = perStatus && {
    Encrypt: at.Encrypt + perStatus.encrypt * at.Status,
    Decrypt: at.Decrypt + perStatus.decrypt * at.Status,
  };
  const matches = expected
    ? seen.Encrypt === expected.Encrypt && seen.Decrypt === expected.Decrypt
    : seen.Encrypt >= at.Encrypt && seen.Decrypt >= at.Decrypt;
  const why = expected
    ? `the cloud saw ${JSON.stringify(seen)}; the socket's calls ${JSON.stringify(at)} make ${JSON.stringify(expected)} (${perStatus!.encrypt} Encrypt + ${perStatus!.decrypt} Decrypt per Status)`
    : `the cloud saw ${JSON.stringify(seen)}, fewer than the socket's ${JSON.stringify(at)}`;
  return {
    matches,
    why,
    evidence: { socket: at, cloud: seen, ...(expected ? { expected, perStatus } : { perStatus: 'unknown' }) },
  };
}
