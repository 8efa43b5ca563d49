import { printable } from '../harness/common/printable.js';
import type { Stored } from '../harness/inspect/index.js';
import type { StorageClass } from '../sim/envelope.js';

/**
 * StoredAs is how one value is stored, whether seen in etcd or named by a metric's transformer prefix: its class,
 * the provider (or key) name in its prefix, and for KMS v2 values read from etcd their key_id.
 */
export type StoredAs = Stored;

const PREFIX = /^k8s:enc:(kms:v2|kms:v1|aescbc:v1|aesgcm:v1|secretbox:v1):([^:]*):$/;
const CLASS: Record<string, StorageClass> = {
  'kms:v2': 'kms-v2',
  'kms:v1': 'kms-v1',
  'aescbc:v1': 'aescbc',
  'aesgcm:v1': 'aesgcm',
  'secretbox:v1': 'secretbox',
};

/**
 * storedAsPrefix reads a transformer_prefix label: `identity` (the apiserver's name for "no prefix"), `unknown` (no
 * provider of the config matched the value), or a provider's prefix such as `k8s:enc:kms:v2:NAME:`.
 */
export function storedAsPrefix(prefix: string): StoredAs {
  if (prefix === 'identity' || prefix === '') return { class: 'identity' };
  const m = PREFIX.exec(prefix);
  return m ? { class: CLASS[m[1]!]!, name: m[2]! } : { class: 'unknown' };
}

/**
 * describeStored names a way of storing for people: `plaintext`, `KMS v2 provider kmslab`, `aescbc key k1`. Names
 * come from the cluster: they are escaped.
 */
export function describeStored(s: StoredAs): string {
  const name = printable(s.name ?? '', 128);
  switch (s.class) {
    case 'identity':
      return 'plaintext';
    case 'kms-v2':
      return `KMS v2 provider ${name}`;
    case 'kms-v1':
      return `KMS v1 provider ${name}`;
    case 'aescbc':
    case 'aesgcm':
    case 'secretbox':
      return `${s.class} key ${name}`;
    default:
      return s.class;
  }
}
