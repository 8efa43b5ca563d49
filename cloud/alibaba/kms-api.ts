import type { CloudCore } from '../core/cloud-core.js';
import type { Permission } from '../core/grants.js';
import type { Caller } from '../core/identities.js';
import type { KeyView } from '../core/keys.js';
import type { ActionTrailEvent } from './actiontrail.js';
import { AlibabaError, errors } from './errors.js';

/** What the Alibaba front keeps in the cloud state: its region and the identities it made at first start. */
export interface AlibabaFront {
  region: string;
  adminUser: string;
  clusterUser: string;
  role: string;
  defaultKeyId: string;
}

export type AlibabaCore = CloudCore<ActionTrailEvent, AlibabaFront>;

export interface ApiCall {
  core: AlibabaCore;
  caller: Caller;
  params: Record<string, string>;
  /** Random bytes from the core's source (a seeded emulator replays its data keys too). */
  randomBytes(n: number): Buffer;
}

/** ApiResult is a success body, and the key and version the call was about (for the audit event). */
export interface ApiResult {
  body: Record<string, unknown>;
  keyId?: string;
  keyVersionId?: string;
}

/** ActionSpec: the permission an action needs, on which key, and what it does. */
export interface ActionSpec {
  permission: Permission;
  /** The key the caller must be allowed to use (undefined: the action is on no key, and needs a grant on `*`). */
  key(call: ApiCall): string | undefined;
  run(call: ApiCall): ApiResult | Promise<ApiResult>;
}

export const KMS_VERSION = '2016-01-20';
const MAX_PLAINTEXT = 6144;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function required(call: ApiCall, name: string): string {
  const v = call.params[name];
  if (v === undefined || v === '') throw errors.missingParameter(name);
  return v;
}

// keyIdOf accepts a key id or a key ARN (acs:kms:<region>:<account>:key/<id>), as the KeyId parameter does.
function keyIdOf(call: ApiCall): string {
  const raw = required(call, 'KeyId');
  if (raw.startsWith('alias/'))
    throw new AlibabaError(404, 'Forbidden.AliasNotFound', 'The specified Alias is not found.');
  const arn = /^acs:kms:[^:]*:[^:]*:key\/(.+)$/.exec(raw);
  return arn ? arn[1]! : raw;
}

// A context is a JSON object of strings; it is bound to the ciphertext in a canonical form (sorted keys).
function contextOf(call: ApiCall): string {
  const raw = call.params.EncryptionContext;
  if (raw === undefined || raw === '') return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw errors.invalidParameter('EncryptionContext');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw errors.invalidParameter('EncryptionContext');
  const entries = Object.entries(parsed as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.some(([, v]) => typeof v !== 'string')) throw errors.invalidParameter('EncryptionContext');
  return JSON.stringify(Object.fromEntries(entries));
}

function ciphertextOf(call: ApiCall): Buffer {
  const raw = required(call, 'CiphertextBlob');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) throw errors.invalidParameter('CiphertextBlob');
  return Buffer.from(raw, 'base64');
}

function keyMetadata(core: AlibabaCore, k: KeyView): Record<string, unknown> {
  const { region } = core.front;
  const accountId = core.identities.accountId;
  return {
    KeyId: k.keyId,
    Arn: `acs:kms:${region}:${accountId}:key/${k.keyId}`,
    KeyState: k.state,
    KeyUsage: 'ENCRYPT/DECRYPT',
    KeySpec: 'Aliyun_AES_256',
    Origin: 'Aliyun_KMS',
    ProtectionLevel: 'SOFTWARE',
    Creator: accountId,
    CreationDate: iso(k.createdAt),
    Description: k.description,
    PrimaryKeyVersion: k.primaryVersionId,
    AutomaticRotation: 'Disabled',
    DeletionProtection: 'Disabled',
    ...(k.deleteAt !== undefined ? { DeleteDate: iso(k.deleteAt) } : {}),
    ...(k.versions.length > 1 ? { LastRotationDate: iso(k.versions.at(-1)!.createdAt) } : {}),
  };
}

// A key state change is persisted before it is answered.
const mutateKey = (call: ApiCall, change: (keyId: string) => KeyView): Promise<ApiResult> => {
  const keyId = keyIdOf(call);
  return call.core.mutate(() => change(keyId)).then((k) => ({ body: {}, keyId: k.keyId }));
};

/** KMS_ACTIONS: the KMS API (RPC style, version 2016-01-20) actions the emulator serves. */
export const KMS_ACTIONS: Record<string, ActionSpec> = {
  Encrypt: {
    permission: 'encrypt',
    key: keyIdOf,
    run(call) {
      const plaintext = required(call, 'Plaintext');
      if (Buffer.byteLength(plaintext) > MAX_PLAINTEXT) throw errors.invalidParameter('Plaintext');
      const keyId = keyIdOf(call);
      const out = call.core.keys.encrypt(keyId, Buffer.from(plaintext, 'utf8'), contextOf(call));
      return {
        body: { KeyId: keyId, KeyVersionId: out.versionId, CiphertextBlob: out.ciphertext.toString('base64') },
        keyId,
        keyVersionId: out.versionId,
      };
    },
  },
  GenerateDataKey: {
    permission: 'encrypt',
    key: keyIdOf,
    run(call) {
      const keyId = keyIdOf(call);
      const spec = call.params.KeySpec ?? 'AES_256';
      let bytes = spec === 'AES_128' ? 16 : spec === 'AES_256' ? 32 : NaN;
      if (Number.isNaN(bytes)) throw errors.invalidParameter('KeySpec');
      if (call.params.NumberOfBytes !== undefined) {
        bytes = Number(call.params.NumberOfBytes);
        if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) throw errors.invalidParameter('NumberOfBytes');
      }
      const plaintext = call.randomBytes(bytes);
      const b64 = plaintext.toString('base64');
      const out = call.core.keys.encrypt(keyId, Buffer.from(b64, 'utf8'), contextOf(call));
      return {
        body: {
          KeyId: keyId,
          KeyVersionId: out.versionId,
          CiphertextBlob: out.ciphertext.toString('base64'),
          Plaintext: b64,
        },
        keyId,
        keyVersionId: out.versionId,
      };
    },
  },
  Decrypt: {
    permission: 'decrypt',
    key: (call) => call.core.keys.keyOfCiphertext(ciphertextOf(call)).keyId,
    run(call) {
      const out = call.core.keys.decrypt(ciphertextOf(call), contextOf(call));
      return {
        body: { KeyId: out.keyId, KeyVersionId: out.versionId, Plaintext: out.plaintext.toString('utf8') },
        keyId: out.keyId,
        keyVersionId: out.versionId,
      };
    },
  },
  DescribeKey: {
    permission: 'describe',
    key: keyIdOf,
    run(call) {
      const k = call.core.keys.get(keyIdOf(call));
      return { body: { KeyMetadata: keyMetadata(call.core, k) }, keyId: k.keyId };
    },
  },
  ListKeys: {
    permission: 'describe',
    key: () => undefined,
    run(call) {
      const all = call.core.keys.list();
      const { page, size, slice } = paged(call, all);
      const { region } = call.core.front;
      const accountId = call.core.identities.accountId;
      return {
        body: {
          TotalCount: all.length,
          PageNumber: page,
          PageSize: size,
          Keys: {
            Key: slice.map((k) => ({ KeyId: k.keyId, KeyArn: `acs:kms:${region}:${accountId}:key/${k.keyId}` })),
          },
        },
      };
    },
  },
  ListKeyVersions: {
    permission: 'describe',
    key: keyIdOf,
    run(call) {
      const k = call.core.keys.get(keyIdOf(call));
      const { page, size, slice } = paged(call, k.versions);
      return {
        body: {
          TotalCount: k.versions.length,
          PageNumber: page,
          PageSize: size,
          KeyVersions: {
            KeyVersion: slice.map((v) => ({
              KeyId: k.keyId,
              KeyVersionId: v.versionId,
              CreationDate: iso(v.createdAt),
            })),
          },
        },
        keyId: k.keyId,
      };
    },
  },
  DescribeKeyVersion: {
    permission: 'describe',
    key: keyIdOf,
    run(call) {
      const k = call.core.keys.get(keyIdOf(call));
      const versionId = required(call, 'KeyVersionId');
      const v = k.versions.find((x) => x.versionId === versionId);
      if (!v) throw new AlibabaError(404, 'Forbidden.ResourceNotFound', 'The specified resource is not found.');
      return {
        body: { KeyVersion: { KeyId: k.keyId, KeyVersionId: v.versionId, CreationDate: iso(v.createdAt) } },
        keyId: k.keyId,
        keyVersionId: v.versionId,
      };
    },
  },
  CreateKey: {
    permission: 'manage',
    key: () => undefined,
    async run(call) {
      const spec = call.params.KeySpec ?? 'Aliyun_AES_256';
      if (spec !== 'Aliyun_AES_256') throw errors.invalidParameter('KeySpec');
      const usage = call.params.KeyUsage ?? 'ENCRYPT/DECRYPT';
      if (usage !== 'ENCRYPT/DECRYPT') throw errors.invalidParameter('KeyUsage');
      const k = await call.core.mutate(() => call.core.keys.create(call.params.Description ?? ''));
      return { body: { KeyMetadata: keyMetadata(call.core, k) }, keyId: k.keyId, keyVersionId: k.primaryVersionId };
    },
  },
  CreateKeyVersion: {
    permission: 'manage',
    key: keyIdOf,
    async run(call) {
      const keyId = keyIdOf(call);
      const { key, versionId } = await call.core.mutate(() => call.core.keys.rotate(keyId));
      const v = key.versions.find((x) => x.versionId === versionId)!;
      return {
        body: { KeyVersion: { KeyId: keyId, KeyVersionId: versionId, CreationDate: iso(v.createdAt) } },
        keyId,
        keyVersionId: versionId,
      };
    },
  },
  EnableKey: { permission: 'manage', key: keyIdOf, run: (call) => mutateKey(call, (id) => call.core.keys.enable(id)) },
  DisableKey: {
    permission: 'manage',
    key: keyIdOf,
    run: (call) => mutateKey(call, (id) => call.core.keys.disable(id)),
  },
  ScheduleKeyDeletion: {
    permission: 'manage',
    key: keyIdOf,
    run(call) {
      const days = Number(required(call, 'PendingWindowInDays'));
      if (!Number.isInteger(days) || days < 7 || days > 366) throw errors.invalidParameter('PendingWindowInDays');
      return mutateKey(call, (id) => call.core.keys.scheduleDeletion(id, days * 86_400_000));
    },
  },
  CancelKeyDeletion: {
    permission: 'manage',
    key: keyIdOf,
    run: (call) => mutateKey(call, (id) => call.core.keys.cancelDeletion(id)),
  },
};

function paged<T>(call: ApiCall, all: T[]): { page: number; size: number; slice: T[] } {
  const page = Number(call.params.PageNumber ?? 1);
  const size = Number(call.params.PageSize ?? 10);
  if (!Number.isInteger(page) || page < 1) throw errors.invalidParameter('PageNumber');
  if (!Number.isInteger(size) || size < 1 || size > 100) throw errors.invalidParameter('PageSize');
  return { page, size, slice: all.slice((page - 1) * size, page * size) };
}
