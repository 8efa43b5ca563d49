export { Keyring, KeyringError, type KeyVersion, type KeyVersionState, type KeyringSnapshot } from './keyring.js';
export { seededRandom, systemRandom, type Random } from './random.js';
