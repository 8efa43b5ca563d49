import { KmslabError } from '../common/errors.js';
import type { InspectRow } from './coverage.js';

/** FailOn is one condition under which `kmslab inspect` fails: a CI gate on how values are stored. */
export type FailOn = { kind: 'plaintext' | 'unknown' | 'invalid' } | { kind: 'key-id' | 'not-key-id'; keyId: string };

export const FAIL_ON_HELP =
  'plaintext (a value stored unencrypted), unknown (neither an object nor a known format), invalid (a format the apiserver could not read), key-id=ID (a KMS v2 value on that key_id), not-key-id=ID (a value that is not KMS v2 on that key_id), or none';

/** parseFailOn reads the --fail-on values; `none` alone turns every condition off. */
export function parseFailOn(values: string[]): FailOn[] {
  if (values.length === 1 && values[0] === 'none') return [];
  return values.map((v) => {
    if (v === 'plaintext' || v === 'unknown' || v === 'invalid') return { kind: v };
    const m = /^(key-id|not-key-id)=(.+)$/.exec(v);
    if (m) return { kind: m[1] as 'key-id' | 'not-key-id', keyId: m[2]! };
    throw new KmslabError('usage', `--fail-on "${v}" is not a condition; use ${FAIL_ON_HELP}`);
  });
}

export function describeFailOn(c: FailOn): string {
  return 'keyId' in c ? `${c.kind}=${c.keyId}` : c.kind;
}

/** meets says whether a row meets one condition. */
export function meets(row: InspectRow, c: FailOn): boolean {
  switch (c.kind) {
    case 'plaintext':
      return row.class === 'identity';
    case 'unknown':
    case 'invalid':
      return row.class === c.kind;
    case 'key-id':
      return row.class === 'kms-v2' && row.kmsV2?.keyId === c.keyId;
    case 'not-key-id':
      return !(row.class === 'kms-v2' && row.kmsV2?.keyId === c.keyId);
  }
}
