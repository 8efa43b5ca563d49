import { ApiError, type Lab, type LabApi } from '../harness/lab.js';
import { RestObjects } from '../harness/kube/rest-objects.js';
import type { CoverageSummary } from '../harness/inspect/index.js';
import { expectAllKmsV2 } from './checks.js';
import { isSecrets, type EncryptedResource, type EncryptedResources } from './encrypted-resources.js';
import { ScenarioFailure } from './error-class.js';
import type { Evidence } from './model.js';
import { rewriteSecret, secretKey } from './secret-set.js';
import type { Workload } from './workload.js';

/** One stored object as the API listed it: its etcd key, and how to read it again. */
interface Listed {
  key: string;
  namespace?: string;
  name: string;
}

/** Migration is what a rewrite of every encrypted resource did, per resource, and every object it rewrote. */
export interface Migration {
  counts: Record<string, { objects: number; rewritten: number; unchanged: number }>;
  objects: Map<string, { resource: EncryptedResource; listed: Listed[] }>;
}

/**
 * migrate rewrites every object of every resource the config encrypts, in every namespace, the way
 * `kubectl get <resource> -A -o json | kubectl replace -f -` does: each object PUT back unchanged, which the
 * apiserver stores anew wherever the stored form is stale (another provider, key_id or plaintext).
 */
export async function migrate(api: LabApi, encrypted: EncryptedResources): Promise<Migration> {
  const counts: Migration['counts'] = {};
  const objects: Migration['objects'] = new Map();
  const rest = new RestObjects(api);
  for (const r of encrypted.resources) {
    let rewritten = 0;
    const listed: Listed[] = [];
    try {
      if (isSecrets(r)) {
        for (const ref of await api.listSecrets()) {
          listed.push({ key: secretKey(ref), ...ref });
          if (await rewriteSecret(api, ref)) rewritten++;
        }
      } else {
        for (const o of await rest.list(r)) {
          const { name, namespace } = o.metadata;
          listed.push({ key: keyOf(r, namespace, name), name, ...(namespace ? { namespace } : {}) });
          if (await rest.rewrite(r, o)) rewritten++;
        }
      }
    } catch (error) {
      throw named(r, error, `rewriting ${listed.at(-1)?.key ?? 'its objects'}`);
    }
    counts[r.name] = { objects: listed.length, rewritten, unchanged: listed.length - rewritten };
    objects.set(r.name, { resource: r, listed });
  }
  return { counts, objects };
}

/** migrationEvidence sums a migration up for a step: objects rewritten and left unchanged, in all and per resource. */
export function migrationEvidence(m: Migration): Evidence {
  const all = Object.values(m.counts);
  return {
    rewritten: all.reduce((n, c) => n + c.rewritten, 0),
    unchanged: all.reduce((n, c) => n + c.unchanged, 0),
    byResource: m.counts,
  };
}

/**
 * expectEncrypted checks raw etcd, resource by resource: every value under each resource's prefix is KMS v2 with
 * its provider (`provider` maps it, when the scenario renamed providers) and this key_id, there are at least as
 * many as the workload wrote, and every object a migration listed is there (so the prefix is where the apiserver
 * really keeps the resource). Each resource's coverage goes into the evidence as `stored <resource>`.
 */
export async function expectEncrypted(
  lab: Lab,
  encrypted: EncryptedResources,
  keyId: string,
  ev: Evidence,
  options: { workload?: Workload; migration?: Migration; provider?: (r: EncryptedResource) => string } = {},
): Promise<void> {
  for (const r of encrypted.resources) {
    const atLeast = options.workload?.setFor(r.name)?.size ?? 0;
    let summary: CoverageSummary;
    try {
      summary = await expectAllKmsV2(lab, r.etcdPrefix, keyId, atLeast, options.provider?.(r) ?? r.provider);
    } catch (error) {
      throw named(r, error);
    }
    ev[`stored ${r.name}`] = summary;
    const missing = [];
    for (const o of options.migration?.objects.get(r.name)?.listed ?? []) {
      if ((await lab.etcd.get(o.key)) === null && (await stillThere(lab.api, r, o))) missing.push(o.key);
    }
    if (missing.length)
      throw new ScenarioFailure(
        `${r.name}: the API lists ${missing.length} object(s) that are not at their etcd key under ${r.etcdPrefix} (first: ${missing[0]}): kmslab's etcd prefix for ${r.name} is wrong`,
      );
  }
}

/**
 * readOthers reads, with a plain GET (etcd plus decryption), every object a migration rewrote that the workload did
 * not write (the workload's own are compared byte for byte by its verify); it returns reads per resource.
 */
export async function readOthers(
  api: LabApi,
  migration: Migration,
  workload: Workload,
): Promise<Record<string, number>> {
  const reads: Record<string, number> = {};
  for (const [name, { resource, listed }] of migration.objects) {
    const set = workload.setFor(name);
    let n = 0;
    for (const o of listed) {
      if (set?.has(o.name) && o.namespace === set.namespace) continue;
      try {
        await readObject(api, resource, o);
      } catch (error) {
        throw new ScenarioFailure(`${name} ${o.key} does not read: ${(error as Error).message}`);
      }
      n++;
    }
    reads[name] = n;
  }
  return reads;
}

/** readObject is a plain GET of one listed object: the apiserver reads etcd and decrypts. */
async function readObject(api: LabApi, r: EncryptedResource, o: Listed): Promise<void> {
  if (isSecrets(r)) await api.readSecret({ namespace: o.namespace ?? '', name: o.name });
  else await new RestObjects(api).get(r, o.namespace, o.name);
}

async function stillThere(api: LabApi, r: EncryptedResource, o: Listed): Promise<boolean> {
  return readObject(api, r, o).then(
    () => true,
    (error: unknown) => !(error instanceof ApiError && error.status === 404),
  );
}

function keyOf(r: EncryptedResource, namespace: string | undefined, name: string): string {
  return `${r.etcdPrefix}${namespace ? `${namespace}/` : ''}${name}`;
}

/** named puts the resource in front of an error's message, keeping its kind (an ApiError stays one). */
function named(r: EncryptedResource, error: unknown, doing?: string): Error {
  const message = `${r.name}${doing ? ` (${doing})` : ''}: ${(error as Error)?.message ?? String(error)}`;
  if (error instanceof ApiError) return new ApiError(error.status, message, error.reason);
  if (error instanceof ScenarioFailure) return new ScenarioFailure(message);
  return new Error(message);
}
