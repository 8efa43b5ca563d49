import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Random } from './random.js';

/** The life of one key version, as a cloud KMS models it. `destroyed` is final: the material is gone. */
export type KeyVersionState = 'enabled' | 'disabled' | 'destroyed';

/** KeyVersion is the public view of one version: everything but the key material. */
export interface KeyVersion {
  keyId: string;
  key: string;
  version: number;
  state: KeyVersionState;
  /** primary marks the version its key encrypts with; only the active key's primary is used by the plugin. */
  primary: boolean;
  createdAt: number;
  changedAt: number;
}

/** KeyringSnapshot is the persisted form, key material included; it belongs in a 0600 file and nowhere else. */
export interface KeyringSnapshot {
  format: 1;
  ringId: string;
  activeKey: string;
  keys: Array<{
    name: string;
    nextVersion: number;
    primary: number;
    versions: Array<Omit<KeyVersion, 'primary' | 'key'> & { material: string | null }>;
  }>;
}

export type KeyringErrorCode = 'NOT_FOUND' | 'DISABLED' | 'DESTROYED' | 'INVALID_CIPHERTEXT' | 'INVALID_ARGUMENT';

/** KeyringError carries a code the gRPC layer maps onto a status code. */
export class KeyringError extends Error {
  constructor(
    readonly code: KeyringErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeyringError';
  }
}

export interface WrapResult {
  ciphertext: Buffer;
  keyId: string;
}

interface VersionRecord {
  keyId: string;
  version: number;
  state: KeyVersionState;
  material: Buffer | null;
  createdAt: number;
  changedAt: number;
}

interface KeyRecord {
  name: string;
  nextVersion: number;
  primary: number;
  versions: Map<number, VersionRecord>;
}

const CIPHERTEXT_FORMAT = 0x01;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface KeyringOptions {
  random: Random;
  now: () => number;
}

/**
 * Keyring models a cloud KMS: named keys, each with numbered versions and one primary version that
 * Encrypt uses. It wraps data with AES-256-GCM, binding the key_id as authenticated data.
 *
 * key_id = `<key>-v<version>-<ringId>`: versions only grow and the ring id is random per keyring, so a
 * key_id is never reused, whatever sequence of operations runs (the apiserver treats a reused key_id as
 * "nothing changed", which would hide a rotation).
 */
export class Keyring {
  private readonly keys = new Map<string, KeyRecord>();
  private readonly byKeyId = new Map<string, { key: KeyRecord; version: VersionRecord }>();
  private active: string;

  private constructor(
    readonly ringId: string,
    activeKey: string,
    private readonly options: KeyringOptions,
  ) {
    this.active = activeKey;
  }

  /** Keyring.create makes a fresh keyring with one key (default name `kmslab`) at version 1. */
  static create(options: KeyringOptions, keyName = 'kmslab'): Keyring {
    const ring = new Keyring(options.random.bytes(4).toString('hex'), keyName, options);
    ring.createKey(keyName);
    return ring;
  }

  /** Keyring.restore rebuilds a keyring from its snapshot; it checks the snapshot so a corrupt file fails loudly. */
  static restore(snapshot: KeyringSnapshot, options: KeyringOptions): Keyring {
    if (snapshot?.format !== 1 || typeof snapshot.ringId !== 'string' || !Array.isArray(snapshot.keys)) {
      throw new KeyringError('INVALID_ARGUMENT', 'keyring snapshot is not in format 1');
    }
    const ring = new Keyring(snapshot.ringId, snapshot.activeKey, options);
    for (const k of snapshot.keys) {
      const key: KeyRecord = { name: k.name, nextVersion: k.nextVersion, primary: k.primary, versions: new Map() };
      for (const v of k.versions) {
        const material = v.material === null ? null : Buffer.from(v.material, 'base64');
        const record: VersionRecord = { ...v, material };
        key.versions.set(v.version, record);
        ring.byKeyId.set(v.keyId, { key, version: record });
      }
      ring.keys.set(k.name, key);
    }
    if (!ring.keys.has(ring.active)) throw new KeyringError('INVALID_ARGUMENT', `active key ${ring.active} is missing`);
    return ring;
  }

  snapshot(): KeyringSnapshot {
    return {
      format: 1,
      ringId: this.ringId,
      activeKey: this.active,
      keys: [...this.keys.values()].map((k) => ({
        name: k.name,
        nextVersion: k.nextVersion,
        primary: k.primary,
        versions: [...k.versions.values()].map((v) => ({
          keyId: v.keyId,
          version: v.version,
          state: v.state,
          createdAt: v.createdAt,
          changedAt: v.changedAt,
          material: v.material?.toString('base64') ?? null,
        })),
      })),
    };
  }

  /** activeKey is the key whose primary version Encrypt uses and Status reports. */
  get activeKey(): string {
    return this.active;
  }

  /** primary is the version Encrypt would use now. */
  get primary(): KeyVersion {
    const key = this.mustKey(this.active);
    return this.view(key, this.mustVersion(key, key.primary));
  }

  versions(): KeyVersion[] {
    return [...this.keys.values()].flatMap((k) => [...k.versions.values()].map((v) => this.view(k, v)));
  }

  find(keyId: string): KeyVersion | undefined {
    const hit = this.byKeyId.get(keyId);
    return hit && this.view(hit.key, hit.version);
  }

  /** createKey adds a new named key at version 1 (it does not become active). */
  createKey(name: string): KeyVersion {
    if (!KEY_NAME.test(name)) {
      throw new KeyringError('INVALID_ARGUMENT', `key name "${name}" must be lower-case letters, digits and '-'`);
    }
    if (this.keys.has(name)) throw new KeyringError('INVALID_ARGUMENT', `key "${name}" already exists`);
    const key: KeyRecord = { name, nextVersion: 1, primary: 0, versions: new Map() };
    this.keys.set(name, key);
    return this.addVersion(key);
  }

  /** useKey points Encrypt and Status at another key, as re-configuring a plugin to a new key ARN would. */
  useKey(name: string): KeyVersion {
    this.mustKey(name);
    this.active = name;
    return this.primary;
  }

  /** rotate adds a version to the active key (or the named one) and makes it primary. */
  rotate(name = this.active): KeyVersion {
    return this.addVersion(this.mustKey(name));
  }

  disable(keyId: string): KeyVersion {
    return this.transition(keyId, 'disabled');
  }

  enable(keyId: string): KeyVersion {
    return this.transition(keyId, 'enabled');
  }

  /** destroy wipes the version's material; nothing it wrapped can be unwrapped again. */
  destroy(keyId: string): KeyVersion {
    return this.transition(keyId, 'destroyed');
  }

  /** wrap encrypts with the active key's primary version, which must be enabled. */
  wrap(plaintext: Buffer): WrapResult {
    const key = this.mustKey(this.active);
    const version = this.mustVersion(key, key.primary);
    const material = this.usable(version);
    const nonce = this.options.random.bytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', material, nonce);
    cipher.setAAD(Buffer.from(version.keyId));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const ciphertext = Buffer.concat([Buffer.of(CIPHERTEXT_FORMAT), nonce, body, cipher.getAuthTag()]);
    return { ciphertext, keyId: version.keyId };
  }

  /** unwrap decrypts a ciphertext made by wrap under keyId; the key_id is authenticated, so a wrong one fails. */
  unwrap(ciphertext: Buffer, keyId: string): Buffer {
    const hit = this.byKeyId.get(keyId);
    if (!hit) throw new KeyringError('NOT_FOUND', `key_id ${JSON.stringify(keyId)} is not known to this KMS`);
    const material = this.usable(hit.version);
    if (ciphertext.length < 1 + NONCE_BYTES + TAG_BYTES || ciphertext[0] !== CIPHERTEXT_FORMAT) {
      throw new KeyringError('INVALID_CIPHERTEXT', `ciphertext for key_id ${keyId} is malformed`);
    }
    const nonce = ciphertext.subarray(1, 1 + NONCE_BYTES);
    const tag = ciphertext.subarray(ciphertext.length - TAG_BYTES);
    const body = ciphertext.subarray(1 + NONCE_BYTES, ciphertext.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', material, nonce);
    decipher.setAAD(Buffer.from(keyId));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw new KeyringError('INVALID_CIPHERTEXT', `ciphertext does not authenticate under key_id ${keyId}`);
    }
  }

  private addVersion(key: KeyRecord): KeyVersion {
    const version = key.nextVersion++;
    const now = this.options.now();
    const record: VersionRecord = {
      keyId: `${key.name}-v${version}-${this.ringId}`,
      version,
      state: 'enabled',
      material: this.options.random.bytes(32),
      createdAt: now,
      changedAt: now,
    };
    key.versions.set(version, record);
    key.primary = version;
    this.byKeyId.set(record.keyId, { key, version: record });
    return this.view(key, record);
  }

  private transition(keyId: string, to: KeyVersionState): KeyVersion {
    const hit = this.byKeyId.get(keyId);
    if (!hit) throw new KeyringError('NOT_FOUND', `key_id ${JSON.stringify(keyId)} is not known to this KMS`);
    const { key, version } = hit;
    if (version.state === 'destroyed' && to !== 'destroyed') {
      throw new KeyringError('DESTROYED', `key_id ${keyId} is destroyed and cannot be ${to}`);
    }
    if (version.state !== to) {
      version.state = to;
      version.changedAt = this.options.now();
      if (to === 'destroyed') version.material = null;
    }
    return this.view(key, version);
  }

  private usable(version: VersionRecord): Buffer {
    if (version.state === 'destroyed' || !version.material) {
      throw new KeyringError('DESTROYED', `key_id ${version.keyId} is destroyed`);
    }
    if (version.state === 'disabled') throw new KeyringError('DISABLED', `key_id ${version.keyId} is disabled`);
    return version.material;
  }

  private mustKey(name: string): KeyRecord {
    const key = this.keys.get(name);
    if (!key) throw new KeyringError('NOT_FOUND', `key "${name}" does not exist`);
    return key;
  }

  private mustVersion(key: KeyRecord, version: number): VersionRecord {
    const record = key.versions.get(version);
    if (!record) throw new KeyringError('NOT_FOUND', `key "${key.name}" has no version ${version}`);
    return record;
  }

  private view(key: KeyRecord, v: VersionRecord): KeyVersion {
    return {
      keyId: v.keyId,
      key: key.name,
      version: v.version,
      state: v.state,
      primary: key.primary === v.version,
      createdAt: v.createdAt,
      changedAt: v.changedAt,
    };
  }
}
