import type { Lab } from '../harness/lab.js';
import { expectAllKmsV2, storedAs } from './checks.js';
import { createSecrets, LIVEZ_HOLD, restartEach } from './common-steps.js';
import { DisabledKey } from './disabled-key.js';
import { errorClass, ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import { SecretSet } from './secret-set.js';
import { createSvm, followSvm, migrateWithSvm, rotateAndPickUp, svmConditions } from './svm-rotate.js';
import { counted, MigrationWrites } from './svm-agreement.js';

/** How long the migration is watched while the old key is disabled, and its name. */
const WATCH_MS = 60_000;
const WATCHED = 'secrets-while-a-disabled';
/**
 * The migrator retries a stalled migration with a doubling backoff (5 ms up, the workqueue default): measured, its
 * tries ran 20 s, then 41 s apart by the time the key was enabled, so the next may come well after the nudge.
 */
const RETRY_BACKOFF_MS = 180_000;

/**
 * svmKeyDisabled is the StorageVersionMigration path of key-disabled-before-migration: after a rotation the old key
 * is disabled and the apiserver restarted (empty DEK cache), so Secrets still on it cannot be read. The migration is
 * created then and watched: it must not report Succeeded over data it could not move. The key enabled again, it
 * finishes and raw etcd shows every Secret on the new key.
 */
export const svmKeyDisabled: Scenario = {
  name: 'svm-key-disabled',
  summary:
    'A StorageVersionMigration started while the old key is disabled after a rotation, then the key enabled again',
  proves:
    'with the old key disabled and the apiserver restarted, Secrets still on it do not read and a StorageVersionMigration for secrets does not report Succeeded (its conditions and the migrator’s errors are recorded) while raw etcd keeps them on the old key; with the key enabled again the migration succeeds and raw etcd shows 100% on the new key, one write counted under its key_id hash per Secret that was on the old one',
  tags: ['migration', 'svm'],
  needs: {
    encryption: 'kms',
    apiserver: 'real',
    kms: ['rotate', 'disable', 'enable'],
    controllers: ['storage-version-migrator-controller'],
  },
  async run(lab, ctx) {
    const prefix = `/registry/secrets/${ctx.namespace}/`;
    const set = new SecretSet(ctx.namespace);
    const canaries = new SecretSet(`${ctx.namespace}-canary`);
    await lab.api.ensureNamespace(canaries.namespace);
    await createSecrets(lab, ctx, set, `create ${ctx.params.secrets} Secrets under key A`);
    const a = (await lab.kms.status()).keyId;
    const b = await rotateAndPickUp(lab, ctx, canaries, 'B');
    const oldKey = new DisabledKey(lab, a);
    await oldKey.whileDisabled(async () => {
      await ctx.step('disable key A, then restart (empty DEK cache): Secrets on A do not read', async (ev) => {
        await oldKey.disable();
        await restartEach(ctx, lab.apiservers, 'live', LIVEZ_HOLD);
        const read = await set.expectAllUnreadable(lab.api);
        ev.readErrorClass = errorClass(read);
        ev.readError = read.message.slice(0, 300);
      });
      await ctx.step(
        `a StorageVersionMigration for secrets, watched ${WATCH_MS / 1000} s: never Succeeded`,
        async (ev) => {
          await createSvm(lab, WATCHED);
          const seen = new Map<string, string>();
          const end = lab.clock.now() + WATCH_MS;
          while (lab.clock.now() < end) {
            for (const c of await svmConditions(lab, WATCHED))
              if (c.status === 'True') seen.set(c.type, (c.message ?? '').slice(0, 300));
            if (seen.has('Succeeded')) break;
            await lab.clock.sleep(2_000);
          }
          ev.conditions = Object.fromEntries(seen);
          ev.stored = await storedKeys(lab, prefix);
          if (seen.has('Succeeded'))
            throw new ScenarioFailure(
              `the migration reports Succeeded while ${set.size} Secrets could not be read; raw etcd: ${JSON.stringify(ev.stored)}`,
            );
          const onA = (ev.stored as Record<string, number>)[a] ?? 0;
          if (onA !== set.size) throw new ScenarioFailure(`${set.size - onA} Secrets left key A while it was disabled`);
        },
      );
      await ctx.step('enable key A: the migration succeeds; raw etcd 100% on key B', async (ev) => {
        // Nothing migrates while A is disabled (each patch needs a read), so the count starts here.
        const writes = await MigrationWrites.start(lab, b);
        await oldKey.enable();
        const t = lab.clock.now();
        await ctx.wait(
          'Secrets on A to read again',
          async () => ((await set.errorOf(lab.api, set.refs[0]!)) ? undefined : true),
          {
            timeoutMs: 120_000,
          },
        );
        ev.readableAfterSeconds = (lab.clock.now() - t) / 1000;
        const before = await svmConditions(lab, WATCHED);
        const failed = before.find((c) => c.type === 'Failed' && c.status === 'True');
        // A migration that gave up is not retried by the migrator: a new one is what an operator would create.
        const nudge = counted(() => set.create(lab.api, 'nudge', 1));
        ev.conditions = failed
          ? await migrateWithSvm(lab, ctx, 'secrets-after-enable', ev, nudge.write)
          : await followSvm(lab, ctx, WATCHED, ev, nudge.write, RETRY_BACKOFF_MS);
        ev.migratedAfterSeconds = (lab.clock.now() - t) / 1000;
        ev.stored = await expectAllKmsV2(lab, prefix, b, set.size);
        ev.writes = await writes.expectAgrees(lab, nudge.times);
      });
    });
  },
};

/** storedKeys counts the KMS v2 values under a prefix by key_id. */
async function storedKeys(lab: Lab, prefix: string): Promise<Record<string, number>> {
  const s = await storedAs(lab, prefix);
  return s.byKeyId[lab.providerName] ?? {};
}
