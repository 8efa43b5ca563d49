export { Keyring, KeyringError, type KeyVersion, type KeyVersionState, type KeyringSnapshot } from './keyring.js';
export { seededRandom, systemRandom, type Random } from './random.js';
export {
  classify,
  decodeKmsV2Value,
  encodeKmsV2Value,
  kmsV2Prefix,
  deriveWriteKey,
  sealWithSeed,
  openWithSeed,
  sealLegacy,
  openLegacy,
  resourceOf,
  EncryptedObject,
  EncryptedDEKSourceType,
  KMS_V2_PREFIX,
  type StorageClass,
  type Classified,
  type KmsV2Details,
} from './envelope.js';
export {
  KMS_V2_LIMITS,
  keyIdProblem,
  encryptedDEKSourceProblem,
  annotationsProblem,
  fqdnProblem,
  encryptedObjectProblem,
} from './kms-rules.js';
export { encodeSecret, decodeSecret, type SecretObject } from './k8s-object.js';
export { VirtualClock, realTime, type SimClock } from './clock.js';
export { MemoryEtcd, type EtcdKv } from './memory-etcd.js';
export { SimApiserver, SimApiError, type SimProvider, type SimApiserverOptions } from './apiserver/apiserver.js';
export { DEK_CACHE, KMS_V2_TIMING, keyIdHash, KmsV2Provider } from './apiserver/kms-v2-provider.js';
export { RpcError, type KmsPlugin } from './apiserver/kms-plugin.js';
export { runFleet, costOf, type FleetResult, type KmsVersion } from './fleet.js';
export { FLEET_DEFAULTS, scheduleOf, type FleetSpec, type FleetEvent } from './fleet-spec.js';
