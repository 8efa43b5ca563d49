import { KmslabError } from '../common/errors.js';
import { printable } from '../common/printable.js';
import type { InspectRow } from './coverage.js';

/** FailOn is one condition under which `kmslab inspect` fails: a CI gate on how values are stored. */
export type FailOn =
  | { kind: 'plaintext' | 'unknown' | 'invalid' | 'kms-v1' | 'aescbc' | 'aesgcm' | 'secretbox' }
  | { kind: 'key-id' | 'not-key-id'; keyId: string }
  | { kind: 'not-prefix'; prefix: string }
  | { kind: 'provider-not'; provider: string };

export const FAIL_ON_HELP =
  'plaintext (a value stored unencrypted), unknown (neither an object nor a known format), invalid (a format the apiserver could not read), key-id=ID (a KMS v2 value on that key_id), not-key-id=ID (a value that is not KMS v2 on that key_id), not-prefix=PREFIX (a value whose prefix does not start with PREFIX, e.g. k8s:enc:kms:v2:), kms-v1, aescbc, aesgcm, secretbox (a value on that provider: KMS v1 leftovers, keys on the control plane), provider!=NAME (a value not written by KMS v2 provider NAME), or none';

const KINDS = ['plaintext', 'unknown', 'invalid', 'kms-v1', 'aescbc', 'aesgcm', 'secretbox'] as const;

/** parseFailOn reads the --fail-on values; `none` alone turns every condition off. */
export function parseFailOn(values: string[]): FailOn[] {
  if (values.length === 1 && values[0] === 'none') return [];
  return values.map((v) => {
    const c = failOnOf(v);
    if (c) return c;
    throw new KmslabError('usage', `--fail-on "${printable(v, 80)}" is not a condition; use ${FAIL_ON_HELP}`);
  });
}

/** failOnOf reads one per-value condition, or returns undefined when the text is none of them. */
export function failOnOf(v: string): FailOn | undefined {
  if ((KINDS as readonly string[]).includes(v)) return { kind: v as (typeof KINDS)[number] };
  let m = /^(key-id|not-key-id)=(.+)$/s.exec(v);
  if (m) return { kind: m[1] as 'key-id' | 'not-key-id', keyId: m[2]! };
  m = /^not-prefix=(.+)$/s.exec(v);
  if (m) return { kind: 'not-prefix', prefix: m[1]! };
  m = /^provider!=(.+)$/s.exec(v);
  if (m) return { kind: 'provider-not', provider: m[1]! };
  return undefined;
}

export function describeFailOn(c: FailOn): string {
  if ('keyId' in c) return `${c.kind}=${c.keyId}`;
  if (c.kind === 'not-prefix') return `not-prefix=${c.prefix}`;
  if (c.kind === 'provider-not') return `provider!=${c.provider}`;
  return c.kind;
}

/** Stored is what a condition looks at: how a value is stored (an inspected row, or a metric's prefix). */
export type Stored = Pick<InspectRow, 'class' | 'name'> & { kmsV2?: { keyId: string } };

/** meets says whether a row meets one condition. */
export function meets(row: Stored, c: FailOn): boolean {
  switch (c.kind) {
    case 'plaintext':
      return row.class === 'identity';
    case 'unknown':
    case 'invalid':
    case 'kms-v1':
    case 'aescbc':
    case 'aesgcm':
    case 'secretbox':
      return row.class === c.kind;
    case 'key-id':
      return row.class === 'kms-v2' && row.kmsV2?.keyId === c.keyId;
    case 'not-key-id':
      return !(row.class === 'kms-v2' && row.kmsV2?.keyId === c.keyId);
    case 'not-prefix': {
      const prefix = prefixOf(row);
      return prefix === undefined || !prefix.startsWith(c.prefix);
    }
    case 'provider-not':
      return !(row.class === 'kms-v2' && row.name === c.provider);
  }
}

const PREFIX_KIND: Partial<Record<Stored['class'], string>> = {
  'kms-v2': 'kms:v2',
  'kms-v1': 'kms:v1',
  aescbc: 'aescbc:v1',
  aesgcm: 'aesgcm:v1',
  secretbox: 'secretbox:v1',
};

/** prefixOf spells the prefix a value is stored with ('' for plaintext); undefined for unknown and invalid values. */
export function prefixOf(row: Stored): string | undefined {
  if (row.class === 'identity') return '';
  const kind = PREFIX_KIND[row.class];
  return kind ? `k8s:enc:${kind}:${row.name ?? ''}:` : undefined;
}
