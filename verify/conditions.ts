import { KmslabError } from '../harness/common/errors.js';
import { printable } from '../harness/common/printable.js';
import { describeFailOn, failOnOf, FAIL_ON_HELP, meets, type FailOn } from '../harness/inspect/fail-on.js';
import type { StoredAs } from './stored-as.js';

/** Source is where a piece of evidence comes from. */
export type Source = 'etcd' | 'metrics' | 'health' | 'canary' | 'cloud-audit' | 'config';

/** Condition is one --fail-on condition of `kmslab verify`: inspect's per-value ones, and conditions on the cluster. */
export type Condition =
  | FailOn
  | { kind: 'coverage'; resource: string; min: number }
  | { kind: 'stale-seeds'; max: number }
  | { kind: 'unhealthy' | 'denied-calls' | 'config' };

/** Conditions on how each stored value is stored (`kmslab inspect`'s): raw etcd decides them value by value. */
export type ValueCondition = FailOn;

export const CONDITION_HELP = `${FAIL_ON_HELP.replace(/, or none$/, '')}, coverage:RESOURCE<PERCENT (less than that share of RESOURCE on KMS v2), stale-seeds>N (more than N DEK seeds cached besides the current one), unhealthy, denied-calls (the cloud refused KMS calls), config (resources --config encrypts but that are stored otherwise), or none`;

const CLUSTER = ['unhealthy', 'denied-calls', 'config'] as const;

/** parseConditions reads --fail-on values; `none` alone turns every condition off. Bad ones are usage errors. */
export function parseConditions(values: string[]): Condition[] {
  if (values.length === 1 && values[0] === 'none') return [];
  return values.map(parseCondition);
}

function parseCondition(v: string): Condition {
  const perValue = failOnOf(v);
  if (perValue) return perValue;
  if ((CLUSTER as readonly string[]).includes(v)) return { kind: v as (typeof CLUSTER)[number] };
  let m = /^coverage:([a-z0-9.*-]+)<(\d+(?:\.\d+)?)%?$/.exec(v);
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
    case 'coverage':
      return `coverage:${c.resource}<${c.min}`;
    case 'stale-seeds':
      return `stale-seeds>${c.max}`;
    case 'unhealthy':
    case 'denied-calls':
    case 'config':
      return c.kind;
    default:
      return describeFailOn(c);
  }
}

/** isValueCondition: the condition is about how each stored value is stored (etcd decides it value by value). */
export function isValueCondition(c: Condition): c is ValueCondition {
  return !['coverage', 'stale-seeds', 'unhealthy', 'denied-calls', 'config'].includes(c.kind);
}

/** meetsValue says whether one stored value meets a per-value condition (inspect's rule, one for both commands). */
export const meetsValue = (s: StoredAs, c: ValueCondition): boolean => meets(s, c);

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
