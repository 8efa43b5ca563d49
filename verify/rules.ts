import type { Condition } from './conditions.js';

/** Rule is what a report says about a condition: a stable id, how bad a failure is, and the CIS items it answers. */
export interface Rule {
  id: string;
  title: string;
  severity: 'error' | 'warning';
  /** CIS Kubernetes Benchmark items (numbers of v1.9 and v2.0.0: 1.2.27 encryption configured, 1.2.28 providers). */
  cis: string[];
}

const ENCRYPTION = ['1.2.27', '1.2.28'];
const PROVIDERS = ['1.2.28'];

const RULES: Record<Condition['kind'], Omit<Rule, 'id'>> = {
  plaintext: { title: 'Values stored unencrypted', severity: 'error', cis: ENCRYPTION },
  unknown: { title: 'Values in no known format', severity: 'error', cis: [] },
  invalid: { title: 'Values the apiserver cannot read', severity: 'error', cis: [] },
  'kms-v1': {
    title: 'Values left on KMS v1 (deprecated, off by default since 1.29)',
    severity: 'error',
    cis: PROVIDERS,
  },
  aescbc: {
    title: 'Values on aescbc (a key on the control plane, padding-oracle prone)',
    severity: 'error',
    cis: PROVIDERS,
  },
  aesgcm: {
    title: 'Values on aesgcm (a key on the control plane, must be rotated every 200k writes)',
    severity: 'error',
    cis: PROVIDERS,
  },
  secretbox: { title: 'Values on secretbox (a key on the control plane)', severity: 'error', cis: PROVIDERS },
  'key-id': { title: 'Values on a given key_id', severity: 'error', cis: [] },
  'not-key-id': { title: 'Values not on the expected key_id (migration unfinished)', severity: 'error', cis: [] },
  'not-prefix': { title: 'Values not stored with the expected prefix', severity: 'error', cis: ENCRYPTION },
  'provider-not': { title: 'Values not written by the expected KMS v2 provider', severity: 'error', cis: ENCRYPTION },
  coverage: { title: 'KMS v2 coverage below the threshold', severity: 'error', cis: ENCRYPTION },
  'stale-seeds': { title: 'Too many DEK seeds besides the current one', severity: 'warning', cis: [] },
  unhealthy: { title: 'KMS provider unhealthy', severity: 'error', cis: [] },
  'denied-calls': { title: 'Cloud KMS calls refused', severity: 'error', cis: [] },
  config: {
    title: 'Resources the EncryptionConfiguration encrypts, stored otherwise',
    severity: 'error',
    cis: PROVIDERS,
  },
};

/** ruleOf is the report rule of a condition; its id (`kmslab.verify.<kind>`) never changes. */
export function ruleOf(c: Condition): Rule {
  return { id: `kmslab.verify.${c.kind}`, ...RULES[c.kind] };
}

export const CIS_NOTE =
  'CIS Kubernetes Benchmark v1.9 and v2.0.0: 1.2.27 "--encryption-provider-config is set as appropriate", 1.2.28 "encryption providers are appropriately configured" (both read the flag and the file; these results read what is stored)';
