import type { Lab } from '../harness/lab.js';
import { Coverage, toRow, type CoverageSummary } from '../harness/inspect/index.js';
import { ScenarioFailure } from './error-class.js';

/** storedAs scans raw etcd under a prefix (paged) and summarises how every value is stored. */
export async function storedAs(lab: Lab, prefix: string): Promise<CoverageSummary> {
  const coverage = new Coverage();
  for await (const page of lab.etcd.scan(prefix)) {
    for (const e of page.entries) coverage.add(toRow(e.key, e.value, e.modRevision));
  }
  return coverage.summary;
}

/**
 * expectAllKmsV2 fails unless every value under the prefix is `k8s:enc:kms:v2:<provider>:` with this key_id, and
 * there are at least `atLeast` (default 1). The provider defaults to the lab's (the one that writes Secrets).
 */
export async function expectAllKmsV2(
  lab: Lab,
  prefix: string,
  keyId: string,
  atLeast = 1,
  provider = lab.providerName,
): Promise<CoverageSummary> {
  const s = await storedAs(lab, prefix);
  const onKey = s.byKeyId[provider]?.[keyId] ?? 0;
  if (s.total < atLeast)
    throw new ScenarioFailure(`expected at least ${atLeast} values under ${prefix}, found ${s.total}`);
  if (onKey !== s.total) {
    throw new ScenarioFailure(
      `expected all ${s.total} values under ${prefix} to be KMS v2 (${provider}) with key_id ${keyId}; ` +
        `stored as ${JSON.stringify(s.byClass)}, KMS v2 key_ids ${JSON.stringify(s.byKeyId)}`,
    );
  }
  return s;
}

/** expectAllPlaintext fails unless every value under the prefix is stored unencrypted (identity). */
export async function expectAllPlaintext(lab: Lab, prefix: string): Promise<CoverageSummary> {
  const s = await storedAs(lab, prefix);
  if ((s.byClass.identity ?? 0) !== s.total || s.total === 0) {
    throw new ScenarioFailure(
      `expected ${prefix} to hold only plaintext values; stored as ${JSON.stringify(s.byClass)}`,
    );
  }
  return s;
}

/** keyIdOf reads the key_id of one stored KMS v2 value straight from etcd. */
export async function keyIdOf(lab: Lab, key: string): Promise<string | undefined> {
  const raw = await lab.etcd.get(key);
  if (!raw) throw new ScenarioFailure(`${key} is not in etcd`);
  return toRow(key, raw, '0').kmsV2?.keyId;
}
