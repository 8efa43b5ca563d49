import type { CloudName } from '../harness/kms/index.js';
import type { Lab, ObjectRef } from '../harness/lab.js';
import { decodeKmsV2Value } from '../sim/index.js';
import { auditMark } from './audit-mark.js';
import { cloudMark, cloudOf, tally, type CloudEvent } from './cloud-trails.js';
import { createSecrets, restartEach } from './common-steps.js';
import { ScenarioFailure } from './error-class.js';
import type { Scenario } from './model.js';
import { secretKey, SecretSet } from './secret-set.js';

// Where each plugin style says which key version wrapped a DEK seed (docs/cloud.md): ACK's plugin names it in an
// annotation of the EncryptedObject; an AWS ciphertext names its backing key itself — in the front's layout, after
// aws-encryption-provider's storage-version byte "1" if there is one: a format byte (1, or "K" over local-kms) and
// the version's UUID.
const ALIBABA_VERSION = 'x-acs-kms-key-version-id.ack.alibabacloud.com';
const AWS_STORAGE_VERSION = 0x31;
const AWS_FORMATS = new Set([0x01, 0x4b]);

/** SeedFacts is what raw etcd says of one stored value's DEK seed: key_id, the wrapped seed, the cloud's version. */
export interface SeedFacts {
  keyId: string;
  seed: string;
  version: string;
}

/** seedVersion reads which cloud key version wrapped a stored value's DEK seed, from the value's own bytes. */
export function seedVersion(cloud: CloudName, value: Buffer): SeedFacts {
  const { object } = decodeKmsV2Value(value);
  const seed = Buffer.from(object.encryptedDEKSource);
  const facts = (version: string) => ({ keyId: object.keyID, seed: seed.toString('base64'), version });
  if (cloud === 'alibaba') {
    const v = object.annotations[ALIBABA_VERSION];
    if (!v) throw new ScenarioFailure(`the stored value has no ${ALIBABA_VERSION} annotation: not ACK's plugin style`);
    return facts(Buffer.from(v).toString('utf8'));
  }
  const blob = seed[0] === AWS_STORAGE_VERSION ? seed.subarray(1) : seed;
  if (blob.length < 17 || !AWS_FORMATS.has(blob[0]!))
    throw new ScenarioFailure('the DEK seed is not an AWS KMS ciphertext of the front (no version header)');
  const hex = blob.subarray(1, 17).toString('hex');
  return facts(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`);
}

// storedSeeds reads every Secret of the set from raw etcd: its DEK seed and the version that wrapped it.
async function storedSeeds(lab: Lab, cloud: CloudName, set: SecretSet): Promise<Map<string, SeedFacts>> {
  const out = new Map<string, SeedFacts>();
  for (const ref of set.refs) {
    const raw = await lab.etcd.get(secretKey(ref));
    if (!raw) throw new ScenarioFailure(`${secretKey(ref)} is not in etcd`);
    out.set(ref.name, seedVersion(cloud, raw));
  }
  return out;
}

const count = (facts: Iterable<SeedFacts>, key: 'version' | 'keyId' | 'seed') => {
  const out: Record<string, number> = {};
  for (const f of facts) out[f[key]] = (out[f[key]] ?? 0) + 1;
  return out;
};

// The version a cloud Encrypt event names, where the cloud's trail names one (ActionTrail does; CloudTrail does not).
function eventVersion(e: CloudEvent): string | undefined {
  const r = (e.event as { responseElements?: { KeyVersionId?: unknown } }).responseElements;
  return typeof r?.KeyVersionId === 'string' ? r.KeyVersionId : undefined;
}

export const cloudRotateSameKeyId: Scenario = {
  name: 'cloud-rotate-same-key-id',
  summary:
    "The cloud rotates the cluster's key to a new version while the plugin's key_id stays the same; then what moves the data",
  proves:
    "after a rotation at the cloud the plugin's key_id is unchanged, so the apiserver never re-seeds: in raw etcd every Secret, old and new, keeps the one DEK seed wrapped under the old key version; a restart of the apiserver wraps a new seed under the new version (the cloud trail's Encrypt, by the cluster's identity), which only new writes use; an unchanged rewrite (kubectl replace, a storage migration) moves nothing, because the key_id is the same and nothing is stale, while a real change to every Secret moves 100% to the new version — the old version still opens what it wrapped",
  tags: ['cloud'],
  needs: { encryption: 'kms', kms: ['cloud-rotate', 'cloud-audit'] },
  async run(lab, ctx) {
    const cloud = cloudOf(lab);
    const set = new SecretSet(ctx.namespace);
    await createSecrets(lab, ctx, set);
    const before = await ctx.step('raw etcd: every Secret under one DEK seed and key version', async (ev) => {
      const seeds = await storedSeeds(lab, cloud.name, set);
      ev.versions = count(seeds.values(), 'version');
      ev.keyIds = count(seeds.values(), 'keyId');
      const versions = Object.keys(ev.versions as object);
      if (versions.length !== 1)
        throw new ScenarioFailure(`expected one key version before the rotation, saw ${versions.join(', ')}`);
      return { version: versions[0]!, keyId: (await lab.kms.status()).keyId, seed: [...seeds.values()][0]!.seed };
    });
    const marks = { socket: await auditMark(lab), cloud: await cloudMark(cloud) };
    const rotated = await ctx.step('rotate the key at the cloud: a new primary version, the same key', async (ev) => {
      const r = await cloud.rotate();
      ev.newVersion = r.versionId;
      ev.oldVersion = before.version;
      ev.primary = r.key.primaryVersionId;
      if (r.versionId === before.version) throw new ScenarioFailure('the rotation kept the old version as primary');
      return r.versionId;
    });
    await ctx.step(
      "the plugin's key_id stays: the apiserver never re-seeds, new writes share the old seed",
      async (ev) => {
        // A Status of the apiserver's after the rotation (the health check makes one once its 20 s cache ends).
        await ctx.wait(
          'a Status call of the apiserver after the rotation',
          async () => {
            await lab.api.request('GET', '/healthz/kms-providers');
            const s = await lab.kms.audit({ afterSeq: marks.socket, method: 'Status' });
            return s.some((r) => r.peer?.pid !== process.pid) ? true : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 1_000 },
        );
        const { keyId } = await lab.kms.status();
        ev.keyId = keyId;
        if (keyId !== before.keyId)
          throw new ScenarioFailure(`the plugin's key_id changed from ${before.keyId} to ${keyId}: not this style`);
        await set.create(lab.api, 'after-rotation', 2);
        const seeds = await storedSeeds(lab, cloud.name, set);
        ev.versions = count(seeds.values(), 'version');
        ev.seeds = Object.keys(count(seeds.values(), 'seed')).length;
        const moved = [...seeds].filter(([, f]) => f.version !== before.version || f.seed !== before.seed);
        if (moved.length)
          throw new ScenarioFailure(
            `${moved[0]![0]} is under version ${moved[0]![1].version} with another DEK seed: the apiserver re-seeded`,
          );
        const encrypts = await lab.kms.audit({ afterSeq: marks.socket, method: 'Encrypt' });
        ev.socketEncrypts = encrypts.length;
        if (encrypts.length) throw new ScenarioFailure(`the apiserver asked for ${encrypts.length} new DEK seed(s)`);
        // The cloud's Encrypts since the rotation are the plugin's Status probes alone, none a DEK seed.
        ev.cloudSinceRotation = tally(
          (await cloud.audit({ afterSeq: marks.cloud })).filter((e) => e.principal === cloud.principal),
        );
      },
    );
    const restarted = { socket: await auditMark(lab), cloud: await cloudMark(cloud) };
    await ctx.step('restart the apiserver: a new DEK seed under the new version, for new writes only', async (ev) => {
      await restartEach(ctx, lab.apiservers, 'ready');
      // Every old Secret reads: its seed, wrapped under the old version, still opens.
      ev.readOld = await set.verifyAll(lab.api);
      await set.create(lab.api, 'after-restart', 2);
      const seeds = await storedSeeds(lab, cloud.name, set);
      ev.versions = count(seeds.values(), 'version');
      const fresh = [...seeds].filter(([name]) => name.includes('after-restart')).map(([, f]) => f);
      const wrong = fresh.filter((f) => f.version !== rotated);
      if (wrong.length)
        throw new ScenarioFailure(
          `a Secret written after the restart is under version ${wrong[0]!.version}, not the new ${rotated}`,
        );
      const old = [...seeds]
        .filter(([name]) => !name.includes('after-restart'))
        .filter(([, f]) => f.version !== before.version);
      if (old.length) throw new ScenarioFailure(`${old[0]![0]} moved without being written`);
      const encrypts = (await cloud.audit({ afterSeq: restarted.cloud, action: 'Encrypt' })).filter(
        (e) => e.principal === cloud.principal && !e.errorCode,
      );
      const versions = encrypts.map(eventVersion);
      ev.cloudEncryptVersions = versions.map((v) => v ?? 'not named by this trail');
      if (!encrypts.length)
        throw new ScenarioFailure(`the cloud trail has no Encrypt by ${cloud.principal} since the restart`);
      if (versions.some((v) => v !== undefined && v !== rotated))
        throw new ScenarioFailure(`the cloud trail shows an Encrypt under ${versions.find((v) => v !== rotated)}`);
      ev.socketEncrypts = (await lab.kms.audit({ afterSeq: restarted.socket, method: 'Encrypt' })).length;
    });
    await ctx.step(
      'an unchanged rewrite (kubectl replace, a migration) moves nothing: same key_id, not stale',
      async (ev) => {
        // kube-apiserver marks a stored value stale only when its key_id (or DEK source type) differs from the current
        // one (kmsv2/envelope.go TransformFromStorage), and skips an update that changes nothing and is not stale.
        ev.rewrite = await set.rewrite(lab.api);
        const seeds = await storedSeeds(lab, cloud.name, set);
        ev.versions = count(seeds.values(), 'version');
        const moved = [...seeds].filter(([name, f]) => !name.includes('after-restart') && f.version !== before.version);
        if (moved.length)
          throw new ScenarioFailure(`${moved[0]![0]} moved to ${moved[0]![1].version} on an unchanged rewrite`);
      },
    );
    await ctx.step('a real change to every Secret moves 100% to the new version; every one reads back', async (ev) => {
      for (const ref of set.refs) await touch(lab, ref);
      ev.touched = set.size;
      const seeds = await storedSeeds(lab, cloud.name, set);
      ev.versions = count(seeds.values(), 'version');
      ev.keyIds = count(seeds.values(), 'keyId');
      const left = [...seeds].filter(([, f]) => f.version !== rotated);
      if (left.length) throw new ScenarioFailure(`${left.length} Secrets still under version ${left[0]![1].version}`);
      ev.read = await set.verifyAll(lab.api);
    });
  },
};

// touch changes a Secret without changing its data: an annotation, so the apiserver must write it anew.
async function touch(lab: Lab, ref: ObjectRef): Promise<void> {
  const path = `/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`;
  const got = await lab.api.request('GET', path);
  if (got.status !== 200) throw new ScenarioFailure(`GET ${path}: ${got.status} ${got.body.slice(0, 200)}`);
  const secret = JSON.parse(got.body) as { metadata: { annotations?: Record<string, string> } };
  secret.metadata.annotations = { ...secret.metadata.annotations, 'kmslab.io/moved-to-new-key-version': 'true' };
  const put = await lab.api.request('PUT', path, secret);
  if (put.status !== 200) throw new ScenarioFailure(`PUT ${path}: ${put.status} ${put.body.slice(0, 200)}`);
}
