import { createHash } from 'node:crypto';
import type { Lab } from '../harness/lab.js';
import { decodeKmsV2Value, keyIdHash } from '../sim/index.js';
import { ScenarioFailure } from './error-class.js';
import type { MetricsDelta, StepMetrics } from './step-metrics.js';

/**
 * The assertions kube-apiserver's own KMS v2 integration tests make on its metrics (kmsv2_transformation_test.go),
 * made on a real apiserver's /metrics. Each returns what it saw, for the step's evidence, and throws when its
 * condition is broken. The sim models only the DEK source cache among these metrics: on it a check on the others
 * says so (`notDecided`) instead of passing.
 */

/** dekSources counts, per key_id, the distinct encrypted DEK sources (seeds) of the KMS v2 values under a prefix. */
export async function dekSources(lab: Lab, prefix: string, provider = lab.providerName): Promise<Map<string, number>> {
  const seen = new Map<string, Set<string>>();
  for await (const page of lab.etcd.scan(prefix)) {
    for (const e of page.entries) {
      let decoded: ReturnType<typeof decodeKmsV2Value>;
      try {
        decoded = decodeKmsV2Value(e.value);
      } catch {
        continue; // not a KMS v2 value: raw etcd checks elsewhere say what it is
      }
      if (decoded.provider !== provider) continue;
      const { keyID, encryptedDEKSource } = decoded.object;
      let set = seen.get(keyID);
      if (!set) seen.set(keyID, (set = new Set()));
      set.add(createHash('sha256').update(encryptedDEKSource).digest('hex'));
    }
  }
  return new Map([...seen].map(([k, s]) => [k, s.size]));
}

/** The sim's apiserver model exports no key_id hash or transformation counters (it models the DEK cache only). */
const exportsKeyIdMetrics = (lab: Lab) => lab.backend !== 'sim';
const NOT_MODELLED = 'not decided: the sim models no key_id hash metrics (a real apiserver must export them)';

/** The one apiserver's delta, or a failure naming why there is none. */
export function deltaOf(metrics: StepMetrics, apiserver: string): MetricsDelta {
  const d = metrics[apiserver];
  if (!d) throw new ScenarioFailure(`no metrics from ${apiserver}`);
  if ('unavailable' in d) throw new ScenarioFailure(`${apiserver}'s metrics were unreadable: ${d.unavailable}`);
  return d;
}

/**
 * expectOneSeedForWrites: `writes` values written in a row by one apiserver share one DEK seed — raw etcd holds one
 * encrypted DEK source among them, the plugin was asked for no Encrypt, and (metrics) the apiserver counted every
 * write under the key_id's hash with its DEK source cache unchanged (upstream: TestKMSv2ProviderDEKSourceReuse).
 */
export function expectOneSeedForWrites(
  lab: Lab,
  seen: { writes: number; dekSources: number; encrypts: number; keyIdHash: string; delta: MetricsDelta },
): Record<string, unknown> {
  const { writes, delta } = seen;
  if (seen.dekSources !== 1)
    throw new ScenarioFailure(`${writes} writes are stored under ${seen.dekSources} DEK seeds in raw etcd, not 1`);
  if (seen.encrypts !== 0)
    throw new ScenarioFailure(`the plugin was asked for ${seen.encrypts} Encrypts during ${writes} writes, not 0`);
  const cache = Object.values(delta.dekSourceCacheSize);
  const grew = cache.find((c) => c.before !== undefined && c.after !== c.before);
  if (grew)
    throw new ScenarioFailure(`the DEK source cache went from ${grew.before} to ${grew.after} during the writes`);
  if (!exportsKeyIdMetrics(lab)) return { keyIdHashMetric: NOT_MODELLED };
  const counted = delta.keyIdHashes[`to_storage ${seen.keyIdHash}`] ?? 0;
  if (counted < writes)
    throw new ScenarioFailure(
      `the apiserver counted ${counted} writes under key_id hash ${seen.keyIdHash}, fewer than the ${writes} made`,
    );
  return { writesCountedUnderKeyIdHash: counted };
}

/**
 * expectKeyIdHashesMoved: after a rotation from `from` to `to`, the apiserver's key_id hash counters show writes
 * under the new key_id and none under the old, and its last Status key_id is the new one (upstream:
 * TestKMSv2ProviderKeyIDStaleness checks the same through the stored key_id).
 */
export function expectKeyIdHashesMoved(
  lab: Lab,
  delta: MetricsDelta,
  from: string,
  to: string,
): Record<string, unknown> {
  if (!exportsKeyIdMetrics(lab)) return { keyIdHashMetric: NOT_MODELLED };
  const [a, b] = [keyIdHash(from), keyIdHash(to)];
  const onNew = delta.keyIdHashes[`to_storage ${b}`] ?? 0;
  const onOld = delta.keyIdHashes[`to_storage ${a}`] ?? 0;
  if (onNew === 0) throw new ScenarioFailure(`no write counted under the new key_id's hash ${b}`);
  if (onOld !== 0) throw new ScenarioFailure(`${onOld} writes counted under the old key_id's hash ${a}`);
  const status = Object.values(delta.statusKeyIdHash);
  if (status.length === 0 || status.some((h) => h !== b))
    throw new ScenarioFailure(`the last Status key_id hash is ${status.join(', ') || 'missing'}, not the new ${b}`);
  return { writesUnderNewKeyIdHash: onNew, writesUnderOldKeyIdHash: onOld };
}

/**
 * expectDekCacheAfterRestart: an apiserver restarted during the step, whose watch cache has read every value of its
 * provider since, holds exactly one DEK source per distinct encrypted DEK source of that provider in etcd — the
 * seeds it decrypted, and its own new write seed once it has written with it (upstream: the
 * `dek_source_cache_size` assertions; the cache is filled on every decrypt and every write, envelope.go).
 */
export function expectDekCacheAfterRestart(
  delta: MetricsDelta,
  provider: string,
  inEtcd: number,
): Record<string, unknown> {
  const size = delta.dekSourceCacheSize[provider]?.after;
  if (size !== inEtcd)
    throw new ScenarioFailure(
      `the DEK source cache holds ${size ?? 'no entry'} after the restart, expected ${inEtcd}: the distinct DEK sources of provider ${provider} in etcd`,
    );
  return { dekSourceCacheSize: size, distinctDekSourcesInEtcd: inEtcd };
}
