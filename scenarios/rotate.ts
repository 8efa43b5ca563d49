import type { Lab, LabApiserver } from '../harness/lab.js';
import { auditMark } from './audit-mark.js';
import { expectAllKmsV2, keyIdOf } from './checks.js';
import { findEncryptedStep } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import { deltaOf, dekSources, expectDekCacheAfterRestart, expectKeyIdHashesMoved } from './metric-checks.js';
import { expectEncrypted, migrate, migrationEvidence, readOthers } from './migration.js';
import type { Scenario, ScenarioContext } from './model.js';
import { type SecretSet, secretKey } from './secret-set.js';
import { metricsDelta, scrapeMetrics, type MetricsScrape } from './step-metrics.js';
import { keyIdHash } from '../sim/index.js';
import { Workload } from './workload.js';

export const rotate: Scenario = {
  name: 'rotate',
  summary: 'Rotate the KMS key (key_id A → B), migrate every encrypted resource, then disable A',
  proves:
    'each apiserver picks up the new key_id without a restart, new writes carry B, a rewrite moves 100% of every resource the config encrypts (Secrets, and ConfigMaps, custom resources… when it names them) to B (the key_id hash metrics count the rewrites under B, none under A), and with A disabled every object still reads — also after an apiserver restart empties the DEK cache, which then holds one DEK source per distinct one in etcd',
  tags: ['core', 'plugin'],
  needs: { encryption: 'kms', kms: ['rotate', 'disable'] },
  async run(lab, ctx) {
    const encrypted = await findEncryptedStep(lab, ctx);
    const data = new Workload(ctx.namespace, encrypted);
    const set = data.secrets;
    const a = await ctx.step(`create ${data.describe(ctx.params.secrets)} under key A`, async (ev) => {
      await data.create(lab.api, 'secret', ctx.params.secrets);
      const { keyId } = await lab.kms.status();
      ev.keyId = keyId;
      ev.stored = await expectAllKmsV2(lab, `/registry/secrets/${ctx.namespace}/`, keyId, set.size);
      return keyId;
    });
    const b = await ctx.step('rotate the key in the KMS', async (ev) => {
      const v = await lab.kms.rotate();
      ev.from = a;
      ev.to = v.keyId;
      return v.keyId;
    });
    await ctx.step('every apiserver picks up key B; new writes carry it', async (ev) => {
      const t = lab.clock.now();
      const pickup: Record<string, number> = {};
      for (const [i, apiserver] of lab.apiservers.entries()) {
        await waitForKeyId(lab, ctx, apiserver, set, `canary-${i}`, b);
        pickup[apiserver.name] = (lab.clock.now() - t) / 1000;
      }
      ev.pickupSeconds = pickup;
    });
    await ctx.step(`${encrypted.label} written under A still read (their DEK is cached)`, async (ev) => {
      ev.read = await data.verifyAll(lab.api);
    });
    const migration = await ctx.step(`migrate: rewrite ${encrypted.every}`, async (ev) => {
      const before = await scrapeMetrics(lab);
      const m = await migrate(lab.api, encrypted);
      Object.assign(ev, migrationEvidence(m));
      // What the apiserver that rewrote them counted: writes under B's key_id hash, none under A's.
      const delta = deltaOf(metricsDelta(before, await scrapeMetrics(lab)), lab.apiservers[0]!.name);
      ev.keyIdHashMetrics = expectKeyIdHashesMoved(lab, delta, a, b);
      return m;
    });
    await ctx.step(`raw etcd: 100% of ${encrypted.label} on key B`, async (ev) => {
      await expectEncrypted(lab, encrypted, b, ev, { workload: data, migration });
    });
    await ctx.step(`disable key A in the KMS; ${encrypted.every} still reads`, async (ev) => {
      await lab.kms.disable(a);
      ev.read = await data.verifyAll(lab.api);
      ev.othersRead = await readOthers(lab.api, migration, data);
    });
    await ctx.step(
      `restart every apiserver (empty DEK cache); ${encrypted.every} still reads, only key B is asked`,
      async (ev) => {
        const mark = await auditMark(lab);
        const before = await scrapeMetrics(lab);
        for (const apiserver of lab.apiservers) await apiserver.restart();
        ev.read = await data.verifyAll(lab.api);
        ev.othersRead = await readOthers(lab.api, migration, data);
        ev.dekCache = await dekCacheMatchesEtcd(lab, ctx, before);
        const decrypts = await lab.kms.audit({ method: 'Decrypt', afterSeq: mark });
        ev.decrypts = decrypts.map((d) => `${d.keyId} ${d.code}`);
        const wrong = decrypts.filter((d) => d.keyId !== b || d.code !== 'OK');
        if (wrong.length)
          throw new ScenarioFailure(`unexpected Decrypt calls after migration: ${JSON.stringify(ev.decrypts)}`);
      },
    );
  },
};

/**
 * dekCacheMatchesEtcd checks each restarted apiserver's DEK source cache against the distinct DEK sources in etcd,
 * waiting a little for the watch caches to have decrypted what they list at start.
 */
async function dekCacheMatchesEtcd(lab: Lab, ctx: ScenarioContext, before: MetricsScrape) {
  const seen: Record<string, unknown> = {};
  let problem: unknown;
  const done = await ctx
    .wait(
      'each restarted apiserver to hold one DEK source per distinct one in etcd',
      async () => {
        const inEtcd = [...(await dekSources(lab, '/registry/')).values()].reduce((n, k) => n + k, 0);
        const delta = metricsDelta(before, await scrapeMetrics(lab));
        try {
          for (const a of lab.apiservers)
            seen[a.name] = expectDekCacheAfterRestart(deltaOf(delta, a.name), lab.providerName, inEtcd);
          return true;
        } catch (error) {
          problem = error;
          return undefined;
        }
      },
      { timeoutMs: 15_000, intervalMs: 1000 },
    )
    .catch(() => false);
  if (!done) throw problem;
  return seen;
}

/**
 * waitForKeyId waits until a write through this apiserver is stored with key_id `want`. The apiserver asks the
 * plugin for Status once a minute; a health check runs the same probe sooner (its result is cached 20 s), so the
 * wait pokes /healthz/kms-providers between attempts.
 */
export async function waitForKeyId(
  lab: Lab,
  ctx: ScenarioContext,
  apiserver: LabApiserver,
  set: SecretSet,
  canary: string,
  want: string,
): Promise<void> {
  let attempt = 0;
  await ctx.wait(
    `${apiserver.name} to write with key_id ${want}`,
    async () => {
      await apiserver.api.request('GET', '/healthz/kms-providers');
      const [ref] = await set.create(apiserver.api, `${canary}-${attempt++}`, 1);
      const got = await keyIdOf(lab, secretKey(ref!));
      if (got === undefined) throw new ScenarioFailure(`${secretKey(ref!)} is not KMS v2`);
      return got === want && (await everyProviderOn(lab, apiserver, want)) ? true : undefined;
    },
    { intervalMs: 2000 },
  );
}

/**
 * everyProviderOn: each KMS v2 provider of the apiserver took `want` from its last Status (its key_id hash
 * metric). The canary proves it for the Secrets' provider only; another provider polls on its own, and until it
 * has the new key_id its objects are not stale, so a rewrite skips them. Without metrics (the sim, or /metrics
 * unreadable) the raw etcd checks after the migration are the judge.
 */
async function everyProviderOn(lab: Lab, apiserver: LabApiserver, want: string): Promise<boolean> {
  if (lab.backend === 'sim') return true;
  const now = metricsDelta({}, await scrapeMetrics(lab))[apiserver.name];
  if (!now || 'unavailable' in now) return true;
  return Object.values(now.statusKeyIdHash).every((h) => h === keyIdHash(want));
}
