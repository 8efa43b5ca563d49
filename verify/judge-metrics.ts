import { createHash } from 'node:crypto';
import { printable } from '../harness/common/printable.js';
import { isValueCondition, meetsValue, type Condition, type ValueCondition } from './conditions.js';
import { decided, type Decision } from './decision.js';
import type { EncryptionMetrics, Transformation } from './encryption-metrics.js';
import { describeStored, storedAsPrefix } from './stored-as.js';

/** keyIdHash is how the apiserver's metrics name a key_id: `sha256:` and the hex of its SHA-256. */
export const keyIdHash = (keyId: string) => `sha256:${createHash('sha256').update(keyId).digest('hex')}`;

const SCOPE =
  'values this apiserver read or wrote since it started (its watch cache reads every stored value at start)';

/**
 * judgeByMetrics decides a condition from one apiserver's /metrics, or says why it cannot. Counters start at the
 * process's start: a fail means "this apiserver read or wrote such a value since then" (it may have been rewritten
 * since), a pass means "every value it read or wrote since then was fine" — strong for what it read, silent on
 * what another apiserver wrote.
 */
export function judgeByMetrics(m: EncryptionMetrics, c: Condition, resources: string[]): Decision {
  if (c.kind === 'coverage') {
    if (c.min < 100)
      return decided(
        'metrics',
        'undecided',
        'metrics count reads and writes, not values: only coverage:<resource><100 can be decided without etcd',
      );
    return judgeValues(m, { kind: 'not-prefix', prefix: 'k8s:enc:kms:v2:' }, [c.resource]);
  }
  if (c.kind === 'stale-seeds') return staleSeeds(m, c.max);
  if (c.kind === 'key-id' || c.kind === 'not-key-id') return keyIds(m, c, resources);
  if (isValueCondition(c)) return judgeValues(m, c, resources);
  return decided('metrics', 'undecided', `metrics cannot decide ${c.kind}`);
}

function observed(m: EncryptionMetrics, resources: string[]): Transformation[] {
  return m.transformations.filter((t) => resources.includes(t.resource) && t.count > 0);
}

function judgeValues(m: EncryptionMetrics, c: ValueCondition, resources: string[]): Decision {
  if (c.kind === 'invalid')
    return decided(
      'metrics',
      'undecided',
      'only raw etcd tells a value the apiserver cannot read from one it did not try',
    );
  const seen = observed(m, resources);
  const offending = seen.filter((t) => meetsValue(storedAsPrefix(t.prefix), c));
  if (offending.length > 0)
    return decided(
      'metrics',
      'fail',
      `since it started this apiserver ${offending.map(phrase).join('; ')}`,
      offending.map((t) => `${printable(t.resource)}: ${describeStored(storedAsPrefix(t.prefix))}`),
    );
  if (seen.length === 0) {
    // Measured (v1.37.2): a resource no EncryptionConfiguration entry covers goes through a bare identity
    // transformer that records nothing, while one that is covered has every stored value read at start.
    const uncovered = resources.filter((r) => (m.storedObjects[r] ?? 0) > 0);
    if (uncovered.length > 0 && meetsValue({ class: 'identity' }, c))
      return decided(
        'metrics',
        'fail',
        `${uncovered.map((r) => `${m.storedObjects[r]} ${printable(r)}`).join(', ')} stored, and none read or written through an encryption provider since this apiserver started: no EncryptionConfiguration entry covers ${scopeOf(uncovered)}, so they are plaintext (unless its watch cache for them is off)`,
        uncovered.map((r) => `${printable(r)}: not covered by the EncryptionConfiguration`),
      );
    return decided(
      'metrics',
      'undecided',
      `this apiserver has read or written no ${scopeOf(resources)} since it started`,
    );
  }
  const total = seen.reduce((n, t) => n + t.count, 0);
  return decided('metrics', 'pass', `${total} transformation(s) of ${scopeOf(resources)}: none matches; ${SCOPE}`);
}

function keyIds(
  m: EncryptionMetrics,
  c: Extract<Condition, { kind: 'key-id' | 'not-key-id' }>,
  resources: string[],
): Decision {
  const hash = keyIdHash(c.keyId);
  const uses = m.keyIdUses.filter((u) => u.count > 0);
  const other = uses.filter((u) => u.keyIdHash !== hash);
  const same = uses.filter((u) => u.keyIdHash === hash);
  const hits = c.kind === 'key-id' ? same : other;
  const shown = (us: typeof uses) =>
    us.map(
      (u) => `${u.count} ${u.type} on ${printable(u.keyIdHash.slice(0, 19))}… (provider ${printable(u.provider)})`,
    );
  if (c.kind === 'not-key-id') {
    const notKms = observed(m, resources).filter((t) => storedAsPrefix(t.prefix).class !== 'kms-v2');
    if (notKms.length > 0)
      return decided('metrics', 'fail', `since it started this apiserver ${notKms.map(phrase).join('; ')}`);
  }
  if (hits.length > 0)
    return decided(
      'metrics',
      'fail',
      `key_id hash metrics since this apiserver started: ${shown(hits).join('; ')} (key_id ${printable(c.keyId)} hashes to ${hash.slice(0, 19)}…); they count every resource of the provider, not only ${scopeOf(resources)}`,
      shown(hits),
    );
  if (uses.length === 0)
    return decided('metrics', 'undecided', 'no KMS v2 value was read or written since this apiserver started');
  return decided(
    'metrics',
    'pass',
    `every KMS v2 value this apiserver read or wrote since it started (every resource of the provider) was ${c.kind === 'key-id' ? 'on another key_id' : `on key_id ${printable(c.keyId)}`}`,
  );
}

function staleSeeds(m: EncryptionMetrics, max: number): Decision {
  if (m.dekSourceCacheSize.length === 0)
    return decided(
      'metrics',
      'undecided',
      'no apiserver_envelope_encryption_dek_source_cache_size: no KMS v2 provider has cached a DEK seed',
    );
  const writers = new Set(m.keyIdUses.filter((u) => u.type === 'to_storage' && u.count > 0).map((u) => u.provider));
  const stale = m.dekSourceCacheSize.map((d) => ({
    ...d,
    stale: Math.max(0, d.size - (writers.has(d.provider) ? 1 : 0)),
  }));
  const over = stale.filter((s) => s.stale > max);
  const text = stale.map(
    (s) => `provider ${printable(s.provider)}: ${s.size} cached, ${s.stale} besides the write seed`,
  );
  return decided(
    'metrics',
    over.length ? 'fail' : 'pass',
    `DEK seeds in the decrypt cache (entries live 24 h; a restart starts it over): ${text.join('; ')}`,
    over.map((s) => `provider ${printable(s.provider)}: ${s.stale} stale seed(s)`),
  );
}

function phrase(t: Transformation): string {
  const verb = t.type === 'to_storage' ? 'wrote' : 'read';
  const failed = t.status === 'OK' ? '' : ` (failed: ${printable(t.status)})`;
  return `${verb} ${t.count} ${printable(t.resource) || 'values of no named resource'} stored as ${describeStored(storedAsPrefix(t.prefix))}${failed}`;
}

const scopeOf = (resources: string[]) => resources.map((r) => printable(r)).join(', ');
