import { KmslabError } from '../harness/common/errors.js';
import { printable } from '../harness/common/printable.js';
import type { StoredAs } from './stored-as.js';
import { prefixOf } from './stored-as.js';

/** Source is where a piece of evidence comes from. */
export type Source = 'etcd' | 'metrics' | 'health' | 'canary' | 'cloud-audit' | 'config';

/** Condition is one --fail-on condition of `kmslab verify` (and the per-value ones of `kmslab inspect`). */
export type Condition =
  | { kind: 'plaintext' | 'unknown' | 'invalid' | 'kms-v1' | 'aescbc' | 'aesgcm' | 'secretbox' }
  | { kind: 'key-id' | 'not-key-id'; keyId: string }
  | { kind: 'not-prefix'; prefix: string }
  | { kind: 'provider-not'; provider: string }
  | { kind: 'coverage'; resource: string; min: number }
  | { kind: 'stale-seeds'; max: number }
  | { kind: 'unhealthy' | 'denied-calls' | 'config' };

/** Conditions on how each stored value is stored: raw etcd decides them value by value. */
export type ValueCondition = Extract<
  Condition,
  {
    kind:
      | 'plaintext'
      | 'unknown'
      | 'invalid'
      | 'kms-v1'
      | 'aescbc'
      | 'aesgcm'
      | 'secretbox'
      | 'key-id'
      | 'not-key-id'
      | 'not-prefix'
      | 'provider-not';
  }
>;

export const CONDITION_HELP =
  'plaintext, unknown, invalid, key-id=ID, not-key-id=ID, not-prefix=PREFIX (e.g. k8s:enc:kms:v2:), kms-v1, aescbc, aesgcm, secretbox, provider!=NAME (a value not written by KMS v2 provider NAME), coverage:RESOURCE<PERCENT (less than that share of RESOURCE on KMS v2), stale-seeds>N (more than N DEK seeds cached besides the current one), unhealthy, denied-calls (the cloud refused KMS calls), config (resources --config encrypts but that are stored otherwise), or none';

const SIMPLE = [
  'plaintext',
  'unknown',
  'invalid',
  'kms-v1',
  'aescbc',
  'aesgcm',
  'secretbox',
  'unhealthy',
  'denied-calls',
  'config',
] as const;

/** parseConditions reads --fail-on values; `none` alone turns every condition off. Bad ones are usage errors. */
export function parseConditions(values: string[]): Condition[] {
  if (values.length === 1 && values[0] === 'none') return [];
  return values.map(parseCondition);
}

function parseCondition(v: string): Condition {
  if ((SIMPLE as readonly string[]).includes(v)) return { kind: v as (typeof SIMPLE)[number] };
  let m = /^(key-id|not-key-id)=(.+)$/s.exec(v);
  if (m) return { kind: m[1] as 'key-id' | 'not-key-id', keyId: m[2]! };
  m = /^not-prefix=(.+)$/s.exec(v);
  if (m) return { kind: 'not-prefix', prefix: m[1]! };
  m = /^provider!=(.+)$/s.exec(v);
  if (m) return { kind: 'provider-not', provider: m[1]! };
  m = /^coverage:([a-z0-9.*-]+)<(\d+(?:\.\d+)?)%?$/.exec(v);
  if (m) {
    const min = Number(m[2]);
    if (min <= 0 || min > 100)
      throw usage(`--fail-on "${shown(v)}": the threshold is a percentage above 0 and at most 100`);
    return { kind: 'coverage', resource: m[1]!, min };
  }
  m = /^stale-seeds>(\d+)$/.exec(v);
  if (m) return { kind: 'stale-seeds', max: Number(m[1]) };
  throw usage(`--fail-on "${shown(v)}" is not a condition; use ${CONDITION_HELP}`);
}

const shown = (v: string) => printable(v, 80);
const usage = (message: string) => new KmslabError('usage', message);

/** describeCondition writes a condition back as --fail-on spells it. */
export function describeCondition(c: Condition): string {
  switch (c.kind) {
    case 'key-id':
    case 'not-key-id':
      return `${c.kind}=${c.keyId}`;
    case 'not-prefix':
      return `not-prefix=${c.prefix}`;
    case 'provider-not':
      return `provider!=${c.provider}`;
    case 'coverage':
      return `coverage:${c.resource}<${c.min}`;
    case 'stale-seeds':
      return `stale-seeds>${c.max}`;
    default:
      return c.kind;
  }
}

/** isValueCondition: the condition is about how each stored value is stored (etcd decides it value by value). */
export function isValueCondition(c: Condition): c is ValueCondition {
  return !['coverage', 'stale-seeds', 'unhealthy', 'denied-calls', 'config'].includes(c.kind);
}

/**
 * meetsValue says whether one stored value meets a per-value condition. `keyId` is known only for values read from
 * etcd: a metric names the provider, never the key_id, so key_id conditions on metrics go through key_id hashes.
 */
export function meetsValue(s: StoredAs, c: ValueCondition): boolean {
  switch (c.kind) {
    case 'plaintext':
      return s.class === 'identity';
    case 'unknown':
    case 'invalid':
    case 'kms-v1':
    case 'aescbc':
    case 'aesgcm':
    case 'secretbox':
      return s.class === c.kind;
    case 'key-id':
      return s.class === 'kms-v2' && s.keyId === c.keyId;
    case 'not-key-id':
      return !(s.class === 'kms-v2' && s.keyId === c.keyId);
    case 'not-prefix': {
      const prefix = prefixOf(s);
      return prefix === undefined || !prefix.startsWith(c.prefix);
    }
    case 'provider-not':
      return !(s.class === 'kms-v2' && s.name === c.provider);
  }
}

/** The sources that can decide each kind of condition, strongest first (the docs' table says how strong each is). */
export const DECIDED_BY: Record<Condition['kind'], Source[]> = {
  plaintext: ['etcd', 'metrics', 'canary'],
  unknown: ['etcd', 'metrics'],
  invalid: ['etcd'],
  'kms-v1': ['etcd', 'metrics', 'canary'],
  aescbc: ['etcd', 'metrics', 'canary'],
  aesgcm: ['etcd', 'metrics', 'canary'],
  secretbox: ['etcd', 'metrics', 'canary'],
  'key-id': ['etcd', 'metrics', 'canary'],
  'not-key-id': ['etcd', 'metrics', 'canary'],
  'not-prefix': ['etcd', 'metrics', 'canary'],
  'provider-not': ['etcd', 'metrics', 'canary'],
  coverage: ['etcd', 'metrics'],
  'stale-seeds': ['metrics'],
  unhealthy: ['health', 'canary', 'cloud-audit'],
  'denied-calls': ['cloud-audit'],
  config: ['etcd', 'metrics'],
};
