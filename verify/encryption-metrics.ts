import type { Sample } from './prometheus-text.js';

/** One line of apiserver_storage_transformation_operations_total: values a resource read or wrote through a prefix. */
export interface Transformation {
  /** GroupResource as the apiserver names it (`secrets`, `deployments.apps`); '' when the request had none. */
  resource: string;
  type: 'to_storage' | 'from_storage';
  /** The provider's full prefix (`k8s:enc:kms:v2:NAME:`), `identity` (no prefix), or `unknown` (no provider matched). */
  prefix: string;
  /** `OK`, a gRPC code name, or `unknown-non-grpc`. */
  status: string;
  count: number;
}

/** One line of apiserver_envelope_encryption_key_id_hash_total. */
export interface KeyIdUse {
  type: 'to_storage' | 'from_storage';
  provider: string;
  keyIdHash: string;
  apiserverIdHash: string;
  count: number;
  /** apiserver_envelope_encryption_key_id_hash_last_timestamp_seconds for the same labels. */
  lastSeconds?: number;
}

/** EncryptionMetrics is what one apiserver process's /metrics says about encryption at rest, since it started. */
export interface EncryptionMetrics {
  transformations: Transformation[];
  keyIdUses: KeyIdUse[];
  /** The key_id hash each provider's last good Status returned, and when (apiserver_…_status_last_timestamp_seconds). */
  statusKeyIds: Array<{ provider: string; keyIdHash: string; apiserverIdHash: string; lastSeconds: number }>;
  /** DEK sources (seeds) in each provider's decrypt cache: about the Decrypts a restart would cost. */
  dekSourceCacheSize: Array<{ provider: string; size: number }>;
  invalidKeyIdsFromStatus: Array<{ provider: string; error: string; count: number }>;
  /** KMS calls per provider, method and gRPC code (the latency histogram's _count). */
  kmsCalls: Array<{ provider: string; method: string; code: string; count: number }>;
  reloads: Array<{ status: string; count: number }>;
  /** apiserver_encryption_config_controller_last_config_info's hash: the loaded config file's sha256. */
  configHash?: string;
  /** The apiserver identities these metrics name (one per process behind the endpoint that answered). */
  apiserverIdHashes: string[];
  /**
   * Objects stored per resource (GroupResource string) at the apiserver's last count, once a minute:
   * apiserver_resource_objects, or the older apiserver_storage_objects; -1 when counting failed.
   */
  storedObjects: Record<string, number>;
  /** process_start_time_seconds: counters start over when the process does. */
  startedSeconds?: number;
}

const P = 'apiserver_envelope_encryption_';

/** encryptionMetrics picks the encryption facts out of a /metrics body's samples. */
export function encryptionMetrics(samples: Sample[]): EncryptionMetrics {
  const m: EncryptionMetrics = {
    transformations: [],
    keyIdUses: [],
    statusKeyIds: [],
    dekSourceCacheSize: [],
    invalidKeyIdsFromStatus: [],
    kmsCalls: [],
    reloads: [],
    apiserverIdHashes: [],
    storedObjects: Object.create(null) as Record<string, number>,
  };
  const oldCounts = Object.create(null) as Record<string, number>;
  const ids = new Set<string>();
  const lastUse = new Map<string, number>();
  const l = (s: Sample, k: string) => s.labels[k] ?? '';
  for (const s of samples) {
    if (s.labels.apiserver_id_hash) ids.add(s.labels.apiserver_id_hash);
    switch (s.name) {
      case 'apiserver_storage_transformation_operations_total':
        m.transformations.push({
          resource: l(s, 'resource'),
          type: direction(l(s, 'transformation_type')),
          prefix: l(s, 'transformer_prefix'),
          status: l(s, 'status'),
          count: s.value,
        });
        break;
      case `${P}key_id_hash_total`:
        m.keyIdUses.push({
          type: direction(l(s, 'transformation_type')),
          provider: l(s, 'provider_name'),
          keyIdHash: l(s, 'key_id_hash'),
          apiserverIdHash: l(s, 'apiserver_id_hash'),
          count: s.value,
        });
        break;
      case `${P}key_id_hash_last_timestamp_seconds`:
        lastUse.set(useKey(s), s.value);
        break;
      case `${P}key_id_hash_status_last_timestamp_seconds`:
        m.statusKeyIds.push({
          provider: l(s, 'provider_name'),
          keyIdHash: l(s, 'key_id_hash'),
          apiserverIdHash: l(s, 'apiserver_id_hash'),
          lastSeconds: s.value,
        });
        break;
      case `${P}dek_source_cache_size`:
        m.dekSourceCacheSize.push({ provider: l(s, 'provider_name'), size: s.value });
        break;
      case `${P}invalid_key_id_from_status_total`:
        m.invalidKeyIdsFromStatus.push({ provider: l(s, 'provider_name'), error: l(s, 'error'), count: s.value });
        break;
      case `${P}kms_operations_latency_seconds_count`:
        m.kmsCalls.push({
          provider: l(s, 'provider_name'),
          method: l(s, 'method_name').replace(/^.*\//, ''),
          code: l(s, 'grpc_status_code'),
          count: s.value,
        });
        break;
      case 'apiserver_encryption_config_controller_automatic_reloads_total':
        m.reloads.push({ status: l(s, 'status'), count: s.value });
        break;
      case 'apiserver_encryption_config_controller_last_config_info':
        m.configHash = l(s, 'hash');
        break;
      case 'apiserver_resource_objects': {
        const group = l(s, 'group');
        m.storedObjects[group ? `${l(s, 'resource')}.${group}` : l(s, 'resource')] = s.value;
        break;
      }
      case 'apiserver_storage_objects':
        oldCounts[l(s, 'resource')] = s.value;
        break;
      case 'process_start_time_seconds':
        m.startedSeconds = s.value;
        break;
    }
  }
  for (const use of m.keyIdUses) {
    const last = lastUse.get([use.type, use.provider, use.keyIdHash, use.apiserverIdHash].join('\0'));
    if (last !== undefined) use.lastSeconds = last;
  }
  m.apiserverIdHashes = [...ids].sort();
  for (const [resource, n] of Object.entries(oldCounts))
    if (!(resource in m.storedObjects)) m.storedObjects[resource] = n;
  return m;
}

function useKey(s: Sample): string {
  const l = (k: string) => s.labels[k] ?? '';
  return [direction(l('transformation_type')), l('provider_name'), l('key_id_hash'), l('apiserver_id_hash')].join('\0');
}

function direction(type: string): 'to_storage' | 'from_storage' {
  return type === 'to_storage' ? 'to_storage' : 'from_storage';
}
