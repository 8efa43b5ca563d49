import type { Lab } from '../harness/lab.js';
import { expectAllKmsV2 } from './checks.js';
import { createSecrets } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import type { Evidence, Scenario, ScenarioContext } from './model.js';
import { waitForKeyId } from './rotate.js';
import { SecretSet } from './secret-set.js';
import { counted, MigrationWrites } from './svm-agreement.js';

export const SVM = '/apis/storagemigration.k8s.io/v1/storageversionmigrations';
/** How long a migration may show no outcome before a write nudges it. */
const NUDGE_AFTER_MS = 20_000;

export interface SvmCondition {
  type: string;
  status: string;
  message?: string;
}

/**
 * svmRotate rotates the key and lets upstream migrate: a StorageVersionMigration for Secrets (storagemigration.k8s.io/v1,
 * GA in v1.37) run by kube-controller-manager's storage-version-migrator-controller, followed to its Succeeded
 * condition and checked in raw etcd; then the same rotation again migrated by the lab's own rewrite, for the times.
 */
export const svmRotate: Scenario = {
  name: 'svm-rotate',
  summary: 'Rotate the KMS key and migrate with a StorageVersionMigration, then compare with the lab’s own rewrite',
  proves:
    "after a key rotation a StorageVersionMigration for secrets, run by kube-controller-manager's storage-version-migrator-controller, reaches Succeeded and leaves 100% of Secrets on the new key_id in raw etcd, agreeing with the apiserver's key_id hash write counter (one write per Secret that was off the key; the migrator exports no counts of its own); the lab's own rewrite does the same for the next rotation, and both times are recorded",
  tags: ['migration', 'svm'],
  needs: {
    encryption: 'kms',
    apiserver: 'real',
    kms: ['rotate'],
    controllers: ['storage-version-migrator-controller'],
  },
  async run(lab, ctx) {
    const prefix = `/registry/secrets/${ctx.namespace}/`;
    const set = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, set, `create ${ctx.params.secrets} Secrets under key A`);
    const b = await rotateAndPickUp(lab, ctx, set, 'B');
    const nudge = counted(() => set.create(lab.api, 'nudge', 1));
    const { svmSeconds, writes } = await ctx.step('a StorageVersionMigration for secrets succeeds', async (ev) => {
      const writes = await MigrationWrites.start(lab, b);
      const t = lab.clock.now();
      ev.conditions = await migrateWithSvm(lab, ctx, 'secrets-to-b', ev, nudge.write);
      ev.seconds = (lab.clock.now() - t) / 1000;
      return { svmSeconds: ev.seconds, writes };
    });
    await ctx.step(
      "raw etcd: 100% of Secrets on key B after the migration, as many as the apiserver's write counter says",
      async (ev) => {
        ev.stored = await expectAllKmsV2(lab, prefix, b, set.size);
        ev.writes = await writes.expectAgrees(lab, nudge.times);
      },
    );
    const c = await rotateAndPickUp(lab, ctx, set, 'C');
    await ctx.step("the lab's own rewrite moves them to key C; both times recorded", async (ev) => {
      const t = lab.clock.now();
      Object.assign(ev, await set.rewrite(lab.api));
      ev.rewriteSeconds = (lab.clock.now() - t) / 1000;
      ev.svmSeconds = svmSeconds;
      ev.stored = await expectAllKmsV2(lab, prefix, c, set.size);
    });
  },
};

/** rotateAndPickUp rotates the KMS key and waits until every apiserver writes with it; returns its key_id. */
export async function rotateAndPickUp(lab: Lab, ctx: ScenarioContext, set: SecretSet, label: string): Promise<string> {
  return ctx.step(`rotate to key ${label}; every apiserver writes with it`, async (ev) => {
    const keyId = (await lab.kms.rotate()).keyId;
    ev.keyId = keyId;
    const t = lab.clock.now();
    for (const [i, a] of lab.apiservers.entries())
      await waitForKeyId(lab, ctx, a, set, `canary-${label.toLowerCase()}-${i}`, keyId);
    ev.pickupSeconds = (lab.clock.now() - t) / 1000;
    return keyId;
  });
}

/**
 * migrateWithSvm creates a StorageVersionMigration for secrets and follows its conditions until Succeeded (a Failed
 * condition fails the step with its message); returns the condition types in the order they were seen.
 */
export async function migrateWithSvm(
  lab: Lab,
  ctx: ScenarioContext,
  name: string,
  ev: Evidence,
  nudge: () => Promise<unknown>,
): Promise<string[]> {
  await createSvm(lab, name);
  return followSvm(lab, ctx, name, ev, nudge);
}

/** createSvm creates a StorageVersionMigration for secrets. */
export async function createSvm(lab: Lab, name: string): Promise<void> {
  const created = await lab.api.request('POST', SVM, {
    apiVersion: 'storagemigration.k8s.io/v1',
    kind: 'StorageVersionMigration',
    metadata: { name },
    spec: { resource: { group: '', resource: 'secrets' } },
  });
  if (created.status !== 201) {
    throw new ScenarioFailure(
      `creating the StorageVersionMigration answered ${created.status}: ${created.body.slice(0, 300)}`,
    );
  }
}

/** svmConditions are a StorageVersionMigration's conditions as the apiserver has them now. */
export async function svmConditions(lab: Lab, name: string): Promise<SvmCondition[]> {
  const res = await lab.api.request('GET', `${SVM}/${name}`);
  if (res.status !== 200) throw new ScenarioFailure(`GET StorageVersionMigration ${name} answered ${res.status}`);
  return (JSON.parse(res.body) as { status?: { conditions?: SvmCondition[] } }).status?.conditions ?? [];
}

/**
 * followSvm follows a StorageVersionMigration's conditions until Succeeded (a Failed condition fails the step with
 * its message); returns the condition types in the order they were seen. `afterNudgeMs` bounds the wait after the
 * nudging write (default: the scenario's wait limit).
 */
export async function followSvm(
  lab: Lab,
  ctx: ScenarioContext,
  name: string,
  ev: Evidence,
  nudge: () => Promise<unknown>,
  afterNudgeMs?: number,
): Promise<string[]> {
  const seen: string[] = [];
  const settled = async () => {
    const conditions = await svmConditions(lab, name);
    for (const c of conditions) if (c.status === 'True' && !seen.includes(c.type)) seen.push(c.type);
    return conditions.find((c) => c.status === 'True' && (c.type === 'Succeeded' || c.type === 'Failed'));
  };
  // Measured: the migrator waits until the garbage collector's informer has seen the resourceVersion it recorded; on
  // a resource nobody writes that never comes ("GC cache is not up to date"), so after a while one write nudges it.
  let final = await ctx
    .wait(`StorageVersionMigration ${name} to succeed`, settled, { timeoutMs: NUDGE_AFTER_MS, intervalMs: 500 })
    .catch(() => undefined);
  if (!final) {
    ev.nudgedAfterSeconds = NUDGE_AFTER_MS / 1000;
    await nudge();
    const t = lab.clock.now();
    final = await ctx.wait(`StorageVersionMigration ${name} to succeed after a write`, settled, {
      intervalMs: 500,
      ...(afterNudgeMs ? { timeoutMs: afterNudgeMs } : {}),
    });
    ev.secondsAfterNudge = (lab.clock.now() - t) / 1000;
  }
  if (final.type === 'Failed') {
    ev.failure = final.message;
    throw new ScenarioFailure(`the StorageVersionMigration failed: ${final.message ?? 'no message'}`);
  }
  return seen;
}
