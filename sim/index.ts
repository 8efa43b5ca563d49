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
