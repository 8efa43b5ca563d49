import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Random } from '../../sim/index.js';
import { CloudError } from './cloud-error.js';
import { newUuid, uuidBytes, uuidText } from './ids.js';

/** KeyState is what a cloud key can be in. Destroyed keys are kept as tombstones, so their ids are never reused. */
export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion' | 'Destroyed';

export interface KeyVersionRecord {
  versionId: string;
  createdAt: number;
  /** AES-256 key material, base64. Never leaves the store except in its snapshot file. */
  material: string;
}

export interface KeyRecord {
  keyId: string;
  description: string;
  createdAt: number;
  state: KeyState;
  /** When a pending deletion ends (epoch ms). */
  deleteAt?: number;
  primaryVersionId: string;
  versions: KeyVersionRecord[];
}

/** KeyView is a key without its material: what APIs, the control API and reports show. */
export type KeyView = Omit<KeyRecord, 'versions'> & { versions: Omit<KeyVersionRecord, 'material'>[] };

export interface KeyRules {
  /** The state a key returns to when its deletion is cancelled (Alibaba: Enabled; AWS: Disabled). */
  stateAfterCancelledDeletion: 'Enabled' | 'Disabled';
  /**
   * The key material lives outside the store (the AWS front keeps it in local-kms): versions hold none, and the front
   * does the crypto after `usePrimary` / `useVersion` have checked the key's state.
   */
  materialOutside?: boolean;
}

// Ciphertext layout: format byte, version id (16 bytes of its UUID), 12-byte IV, AES-256-GCM output, 16-byte tag. The
// header and the encryption context are authenticated, so a flipped bit anywhere is refused.
const FORMAT = 1;
const HEADER = 1 + 16;
const IV = 12;
const TAG = 16;

/**
 * KeyStore holds keys, their versions and states. Encrypt uses the primary version; Decrypt uses the version named
 * in the ciphertext, whatever the primary is now. Time comes from `now`, randomness from `random`: deterministic
 * under a seed. A pending deletion turns into Destroyed (material erased) the first time the key is looked at after
 * its window ended.
 */
export class KeyStore {
  private readonly keys = new Map<string, KeyRecord>();
  private readonly byVersion = new Map<string, string>();

  constructor(
    private readonly random: Random,
    private readonly now: () => number,
    private readonly rules: KeyRules,
  ) {}

  static restore(records: KeyRecord[], random: Random, now: () => number, rules: KeyRules): KeyStore {
    const store = new KeyStore(random, now, rules);
    for (const r of records) store.insert(structuredClone(r));
    return store;
  }

  snapshot(): KeyRecord[] {
    return [...this.keys.values()].map((k) => structuredClone(k));
  }

  create(description = ''): KeyView {
    const key: KeyRecord = {
      keyId: newUuid(this.random),
      description,
      createdAt: this.now(),
      state: 'Enabled',
      primaryVersionId: '',
      versions: [],
    };
    this.insert(key);
    this.addVersion(key);
    return view(key);
  }

  /** rotate makes a new primary version; older versions still decrypt what they encrypted. */
  rotate(keyId: string): { key: KeyView; versionId: string } {
    const key = this.usable(keyId, 'rotate');
    const versionId = this.addVersion(key);
    return { key: view(key), versionId };
  }

  get(keyId: string): KeyView {
    return view(this.lookup(keyId));
  }

  /** list shows every key, a destroyed one as its tombstone (state Destroyed, no versions usable). */
  list(): KeyView[] {
    return [...this.keys.values()].map((k) => view(this.settle(k)));
  }

  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  enable(keyId: string): KeyView {
    return this.switchState(keyId, 'Enabled');
  }

  disable(keyId: string): KeyView {
    return this.switchState(keyId, 'Disabled');
  }

  /** scheduleDeletion starts a window (any length here; an API front checks its own limits) after which the key is destroyed. */
  scheduleDeletion(keyId: string, windowMs: number): KeyView {
    const key = this.lookup(keyId);
    if (key.state === 'PendingDeletion' || key.state === 'Destroyed')
      throw new CloudError('KeyStateConflict', `key ${keyId} is already ${key.state}`, { state: key.state });
    if (!(windowMs >= 0)) throw new CloudError('InvalidArgument', `deletion window ${windowMs} ms is not valid`);
    key.state = 'PendingDeletion';
    key.deleteAt = this.now() + windowMs;
    return view(key);
  }

  cancelDeletion(keyId: string): KeyView {
    const key = this.lookup(keyId);
    if (key.state !== 'PendingDeletion')
      throw new CloudError('KeyStateConflict', `key ${keyId} is ${key.state}, not pending deletion`, {
        state: key.state,
      });
    key.state = this.rules.stateAfterCancelledDeletion;
    delete key.deleteAt;
    return view(key);
  }

  /** usePrimary names the version an Encrypt must use, refusing a key that is not usable (as `encrypt` would). */
  usePrimary(keyId: string): { keyId: string; versionId: string } {
    return { keyId, versionId: this.usable(keyId, 'encrypt').primaryVersionId };
  }

  /** ownerOf names the key a version belongs to, whatever its state (a destroyed key's versions are still known). */
  ownerOf(versionId: string): string {
    const keyId = this.byVersion.get(versionId);
    if (!keyId) throw new CloudError('KeyNotFound', 'the ciphertext names a key version this KMS does not have');
    return keyId;
  }

  /** useVersion names the key of a version a Decrypt must use, refusing an unknown version or an unusable key. */
  useVersion(versionId: string): { keyId: string; versionId: string } {
    const keyId = this.ownerOf(versionId);
    this.usable(keyId, 'decrypt');
    return { keyId, versionId };
  }

  encrypt(keyId: string, plaintext: Buffer, context = ''): { ciphertext: Buffer; versionId: string } {
    const key = this.usable(keyId, 'encrypt');
    const version = key.versions.find((v) => v.versionId === key.primaryVersionId)!;
    const header = Buffer.concat([Buffer.from([FORMAT]), uuidBytes(version.versionId)]);
    const iv = this.random.bytes(IV);
    const cipher = createCipheriv('aes-256-gcm', this.material(version), iv);
    cipher.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { ciphertext: Buffer.concat([header, iv, body, cipher.getAuthTag()]), versionId: version.versionId };
  }

  /** keyOfCiphertext names the key and version a ciphertext claims, without decrypting (for audit and authorization). */
  keyOfCiphertext(ciphertext: Buffer): { keyId: string; versionId: string } {
    if (ciphertext.length < HEADER + IV + TAG || ciphertext[0] !== FORMAT)
      throw new CloudError('InvalidCiphertext', 'the ciphertext was not made by this KMS');
    const versionId = uuidText(ciphertext.subarray(1, HEADER));
    return { keyId: this.ownerOf(versionId), versionId };
  }

  decrypt(ciphertext: Buffer, context = ''): { plaintext: Buffer; keyId: string; versionId: string } {
    const { keyId, versionId } = this.keyOfCiphertext(ciphertext);
    const key = this.usable(keyId, 'decrypt');
    const version = key.versions.find((v) => v.versionId === versionId)!;
    const header = ciphertext.subarray(0, HEADER);
    const iv = ciphertext.subarray(HEADER, HEADER + IV);
    const tag = ciphertext.subarray(ciphertext.length - TAG);
    const decipher = createDecipheriv('aes-256-gcm', this.material(version), iv);
    decipher.setAAD(Buffer.concat([header, Buffer.from(context, 'utf8')]));
    decipher.setAuthTag(tag);
    try {
      const plaintext = Buffer.concat([
        decipher.update(ciphertext.subarray(HEADER + IV, ciphertext.length - TAG)),
        decipher.final(),
      ]);
      return { plaintext, keyId, versionId };
    } catch {
      throw new CloudError('InvalidCiphertext', 'the ciphertext was altered or its encryption context differs');
    }
  }

  // switchState moves a key between Enabled and Disabled; a key on its way out (or gone) cannot be switched.
  private switchState(keyId: string, to: 'Enabled' | 'Disabled'): KeyView {
    const key = this.lookup(keyId);
    if (key.state === 'PendingDeletion')
      throw new CloudError('KeyStateConflict', `key ${keyId} is PendingDeletion; it cannot be set ${to}`, {
        state: key.state,
      });
    key.state = to;
    return view(key);
  }

  private material(version: KeyVersionRecord): Buffer {
    if (this.rules.materialOutside) throw new Error('this key store holds no material: its front does the crypto');
    return Buffer.from(version.material, 'base64');
  }

  private insert(key: KeyRecord): void {
    this.keys.set(key.keyId, key);
    for (const v of key.versions) this.byVersion.set(v.versionId, key.keyId);
  }

  private addVersion(key: KeyRecord): string {
    const versionId = newUuid(this.random);
    const material = this.rules.materialOutside ? '' : this.random.bytes(32).toString('base64');
    key.versions.push({ versionId, createdAt: this.now(), material });
    key.primaryVersionId = versionId;
    this.byVersion.set(versionId, key.keyId);
    return versionId;
  }

  // settle destroys a key whose deletion window has passed (its material is erased then, for good).
  private settle(key: KeyRecord): KeyRecord {
    if (key.state === 'PendingDeletion' && key.deleteAt !== undefined && this.now() >= key.deleteAt) {
      key.state = 'Destroyed';
      for (const v of key.versions) v.material = '';
    }
    return key;
  }

  // lookup finds a key that still exists.
  private lookup(keyId: string): KeyRecord {
    const key = this.keys.get(keyId);
    if (!key) throw new CloudError('KeyNotFound', `no key ${keyId}`);
    if (this.settle(key).state === 'Destroyed') throw new CloudError('KeyNotFound', `key ${keyId} was deleted`);
    return key;
  }

  private usable(keyId: string, what: string): KeyRecord {
    const key = this.lookup(keyId);
    if (key.state === 'Disabled') throw new CloudError('KeyDisabled', `key ${keyId} is disabled; cannot ${what}`);
    if (key.state === 'PendingDeletion')
      throw new CloudError('KeyPendingDeletion', `key ${keyId} is pending deletion; cannot ${what}`);
    return key;
  }
}

function view(k: KeyRecord): KeyView {
  return {
    keyId: k.keyId,
    description: k.description,
    createdAt: k.createdAt,
    state: k.state,
    ...(k.deleteAt !== undefined ? { deleteAt: k.deleteAt } : {}),
    primaryVersionId: k.primaryVersionId,
    versions: k.versions.map((v) => ({ versionId: v.versionId, createdAt: v.createdAt })),
  };
}
