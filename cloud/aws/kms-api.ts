import { CloudError } from '../core/cloud-error.js';
import type { CloudCore } from '../core/cloud-core.js';
import type { Permission } from '../core/grants.js';
import type { Caller } from '../core/identities.js';
import type { KeyView } from '../core/keys.js';
import type { CloudTrailEvent } from './cloudtrail.js';
import { AwsError, errors, fromCloudError } from './errors.js';
import type { EncryptionContext, KeyCrypto } from './key-crypto.js';
import type { LocalKmsState } from './local-kms.js';

/** What the AWS front keeps in the cloud state besides the core's keys, identities and grants. */
export interface AwsFront extends LocalKmsState {
  region: string;
  adminUser: string;
  clusterUser: string;
  role: string;
  defaultKeyId: string;
  /** alias name (without `alias/`) → key id */
  aliases: Record<string, { keyId: string; createdAt: number; updatedAt: number }>;
  /** Where key material lives: local-kms (the default) or the core's own store. Fixed when the state is made. */
  crypto: 'local-kms' | 'core';
  /** The secret path of the container credentials endpoint, and the token its callers must send. */
  credentialsPath: string;
  credentialsToken: string;
  /** The emulated OIDC provider that signs web identity tokens (HS256 with this key, base64). */
  oidc: { issuer: string; key: string; subject: string; audience: string };
  port?: number;
}

export type AwsCore = CloudCore<CloudTrailEvent, AwsFront>;

export interface KmsCall {
  core: AwsCore;
  crypto: KeyCrypto;
  caller: Caller;
  body: Record<string, unknown>;
  randomBytes(n: number): Buffer;
}

/** KmsResult is a success body, the key the call was about, and what CloudTrail records of it. */
export interface KmsResult {
  body: Record<string, unknown>;
  keyId?: string;
  responseElements?: Record<string, unknown> | null;
}

/** KmsAction: the permission an action needs, on which key, and what it does. */
interface KmsAction {
  permission: Permission;
  /** The key the caller must be allowed to use (undefined: an action on no key, needing a grant on `*`). */
  key(call: KmsCall): string | undefined;
  run(call: KmsCall): Promise<KmsResult>;
}

const ALGORITHM = 'SYMMETRIC_DEFAULT';
const MAX_PLAINTEXT = 4096;
const MAX_CIPHERTEXT = 6144;
/** AWS allows 25 on-demand rotations of a key in its lifetime. */
const MAX_ON_DEMAND_ROTATIONS = 25;
const DAY = 86_400_000;

export const keyArn = (core: AwsCore, keyId: string) =>
  `arn:aws:kms:${core.front.region}:${core.identities.accountId}:key/${keyId}`;
export const aliasArn = (core: AwsCore, alias: string) =>
  `arn:aws:kms:${core.front.region}:${core.identities.accountId}:${alias}`;
const seconds = (ms: number) => ms / 1000;

function text(call: KmsCall, field: string, required = true): string | undefined {
  const v = call.body[field];
  if (v === undefined || v === null) {
    if (required) throw errors.validation(lower(field), 'null', 'Member must not be null');
    return undefined;
  }
  if (typeof v !== 'string') throw errors.serialization(`${field} must be a string`);
  return v;
}

const lower = (field: string) => field[0]!.toLowerCase() + field.slice(1);

/** blob reads a base64 blob field, checking its length without ever echoing it (local-kms does; AWS does not). */
function blob(call: KmsCall, field: string, max: number): Buffer {
  const raw = text(call, field)!;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) throw errors.serialization(`${field} is not base64`);
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length < 1 || bytes.length > max)
    throw errors.validation(
      lower(field),
      '[sensitive]',
      `Member must have length ${bytes.length < 1 ? 'greater than or equal to 1' : `less than or equal to ${max}`}`,
    );
  return bytes;
}

function contextOf(call: KmsCall, field = 'EncryptionContext'): EncryptionContext {
  const v = call.body[field];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string'))
    throw errors.serialization(`${field} must be a map of strings`);
  return v as EncryptionContext;
}

function algorithm(call: KmsCall): void {
  const a = text(call, 'EncryptionAlgorithm', false);
  if (a !== undefined && a !== ALGORITHM)
    throw new AwsError(400, 'InvalidKeyUsageException', `${a} is not a valid EncryptionAlgorithm for a symmetric key.`);
}

/**
 * resolveKey reads a KeyId parameter as AWS does: a key id, a key ARN, an alias name or an alias ARN (aliases only
 * where the action allows them). Unknown keys and aliases are NotFoundException.
 */
export function resolveKey(core: AwsCore, ref: string, allowAlias = true): string {
  const account = core.identities.accountId;
  const arn = /^arn:aws:kms:([^:]*):(\d*):(key|alias)\/(.+)$/.exec(ref);
  if (arn && (arn[1] !== core.front.region || arn[2] !== account))
    throw errors.notFound(arn[3] === 'alias' ? `Alias ${ref} is not found.` : `Key '${ref}' does not exist`);
  const alias = arn?.[3] === 'alias' ? arn[4]! : ref.startsWith('alias/') ? ref.slice('alias/'.length) : undefined;
  if (alias !== undefined) {
    if (!allowAlias) throw errors.notFound(`Invalid keyId ${ref}`);
    const target = aliasOf(core, alias);
    if (!target) throw errors.notFound(`Alias ${aliasArn(core, `alias/${alias}`)} is not found.`);
    return target.keyId;
  }
  const keyId = arn ? arn[4]! : ref;
  try {
    core.keys.get(keyId);
  } catch (error) {
    if (error instanceof CloudError) throw errors.notFound(`Key '${keyArn(core, keyId)}' does not exist`);
    throw error;
  }
  return keyId;
}

/**
 * aliasOf is an alias that still exists: when a deletion window ends, AWS deletes the key "and all aliases that refer
 * to it" (ScheduleKeyDeletion), so an alias of a destroyed key is gone, and its name free again.
 */
function aliasOf(core: AwsCore, name: string): AwsFront['aliases'][string] | undefined {
  const alias = core.front.aliases[name];
  if (!alias) return undefined;
  try {
    core.keys.get(alias.keyId);
    return alias;
  } catch (error) {
    if (error instanceof CloudError) return undefined;
    throw error;
  }
}

const keyIdOf = (call: KmsCall, allowAlias = true) => resolveKey(call.core, text(call, 'KeyId')!, allowAlias);

function keyMetadata(core: AwsCore, k: KeyView): Record<string, unknown> {
  return {
    AWSAccountId: core.identities.accountId,
    KeyId: k.keyId,
    Arn: keyArn(core, k.keyId),
    CreationDate: seconds(k.createdAt),
    Enabled: k.state === 'Enabled',
    Description: k.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: k.state,
    ...(k.deleteAt !== undefined ? { DeletionDate: seconds(k.deleteAt) } : {}),
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: ALGORITHM,
    KeySpec: ALGORITHM,
    EncryptionAlgorithms: [ALGORITHM],
    MultiRegion: false,
  };
}

// inState runs a key change through the core (persisted before it is answered), mapping the core's refusals.
async function inState<T>(call: KmsCall, keyId: string, change: () => T): Promise<T> {
  try {
    return await call.core.mutate(change);
  } catch (error) {
    if (error instanceof CloudError) throw fromCloudError(error, keyArn(call.core, keyId));
    throw error;
  }
}

async function crypto<T>(call: KmsCall, keyId: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    if (error instanceof CloudError) throw fromCloudError(error, keyArn(call.core, keyId));
    throw error;
  }
}

const decryptKey = (call: KmsCall) => {
  const given = text(call, 'KeyId', false);
  let claimed;
  try {
    claimed = call.crypto.keyOf(blob(call, 'CiphertextBlob', MAX_CIPHERTEXT)).keyId;
  } catch (error) {
    if (error instanceof CloudError && error.kind === 'KeyNotFound') throw cipherKeyUnknown();
    if (error instanceof CloudError) throw errors.invalidCiphertext();
    throw error;
  }
  if (given !== undefined && resolveKey(call.core, given) !== claimed) throw errors.incorrectKey();
  return claimed;
};

// AWS's answer to a ciphertext whose key does not exist (any more): AccessDenied, saying no more than that.
const cipherKeyUnknown = () =>
  new AwsError(
    400,
    'AccessDeniedException',
    'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.',
    'AccessDenied',
  );

async function encryptWith(call: KmsCall, plaintext: Buffer): Promise<{ keyId: string; blob: Buffer }> {
  const keyId = keyIdOf(call);
  const out = await crypto(call, keyId, () => call.crypto.encrypt(keyId, plaintext, contextOf(call)));
  return { keyId, blob: out.blob };
}

function dataKeyBytes(call: KmsCall): number {
  const spec = text(call, 'KeySpec', false);
  const n = call.body.NumberOfBytes;
  if ((spec === undefined) === (n === undefined))
    throw new AwsError(400, 'ValidationException', 'Please specify either number of bytes or key spec.');
  if (spec !== undefined) {
    if (spec !== 'AES_256' && spec !== 'AES_128')
      throw errors.validation('keySpec', `'${spec}'`, 'Member must satisfy enum value set: [AES_256, AES_128]');
    return spec === 'AES_256' ? 32 : 16;
  }
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 1024)
    throw errors.validation('numberOfBytes', String(n), 'Member must have value between 1 and 1024');
  return n as number;
}

const keyChange = (call: KmsCall, change: (keyId: string) => KeyView) => {
  const keyId = keyIdOf(call, false);
  return inState(call, keyId, () => change(keyId)).then(() => ({ body: {}, keyId }));
};

function aliasName(call: KmsCall): string {
  const name = text(call, 'AliasName')!;
  if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(name))
    throw errors.validation(
      'aliasName',
      `'${name.slice(0, 64)}'`,
      'Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$',
    );
  if (name.startsWith('alias/aws/'))
    throw errors.invalidAliasName('Alias must not begin with alias/aws/ (reserved by AWS).');
  return name.slice('alias/'.length);
}

/** KMS_ACTIONS: the AWS KMS API (JSON 1.1, target prefix TrentService) operations the front serves. */
export const KMS_ACTIONS: Record<string, KmsAction> = {
  Encrypt: {
    permission: 'encrypt',
    key: (call) => keyIdOf(call),
    async run(call) {
      algorithm(call);
      const { keyId, blob: out } = await encryptWith(call, blob(call, 'Plaintext', MAX_PLAINTEXT));
      return {
        body: {
          CiphertextBlob: out.toString('base64'),
          KeyId: keyArn(call.core, keyId),
          EncryptionAlgorithm: ALGORITHM,
        },
        keyId,
      };
    },
  },
  GenerateDataKey: {
    permission: 'encrypt',
    key: (call) => keyIdOf(call),
    async run(call) {
      const plaintext = call.randomBytes(dataKeyBytes(call));
      const { keyId, blob: out } = await encryptWith(call, plaintext);
      return {
        body: {
          CiphertextBlob: out.toString('base64'),
          Plaintext: plaintext.toString('base64'),
          KeyId: keyArn(call.core, keyId),
        },
        keyId,
      };
    },
  },
  GenerateDataKeyWithoutPlaintext: {
    permission: 'encrypt',
    key: (call) => keyIdOf(call),
    async run(call) {
      const { keyId, blob: out } = await encryptWith(call, call.randomBytes(dataKeyBytes(call)));
      return { body: { CiphertextBlob: out.toString('base64'), KeyId: keyArn(call.core, keyId) }, keyId };
    },
  },
  Decrypt: {
    permission: 'decrypt',
    key: decryptKey,
    async run(call) {
      algorithm(call);
      const keyId = decryptKey(call);
      let out;
      try {
        out = await call.crypto.decrypt(blob(call, 'CiphertextBlob', MAX_CIPHERTEXT), contextOf(call));
      } catch (error) {
        if (error instanceof CloudError && error.kind === 'KeyNotFound') throw cipherKeyUnknown();
        if (error instanceof CloudError) throw fromCloudError(error, keyArn(call.core, keyId));
        throw error;
      }
      return {
        body: {
          KeyId: keyArn(call.core, out.keyId),
          Plaintext: out.plaintext.toString('base64'),
          EncryptionAlgorithm: ALGORITHM,
        },
        keyId: out.keyId,
      };
    },
  },
  DescribeKey: {
    permission: 'describe',
    key: (call) => keyIdOf(call),
    async run(call) {
      const keyId = keyIdOf(call);
      return { body: { KeyMetadata: keyMetadata(call.core, call.core.keys.get(keyId)) }, keyId };
    },
  },
  ListKeys: {
    permission: 'describe',
    key: () => undefined,
    async run(call) {
      const keys = call.core.keys.list();
      return {
        body: {
          Keys: keys.map((k) => ({ KeyId: k.keyId, KeyArn: keyArn(call.core, k.keyId) })),
          Truncated: false,
        },
      };
    },
  },
  CreateKey: {
    permission: 'manage',
    key: () => undefined,
    async run(call) {
      const spec = text(call, 'KeySpec', false) ?? text(call, 'CustomerMasterKeySpec', false) ?? ALGORITHM;
      const usage = text(call, 'KeyUsage', false) ?? 'ENCRYPT_DECRYPT';
      if (spec !== ALGORITHM || usage !== 'ENCRYPT_DECRYPT')
        throw new AwsError(400, 'UnsupportedOperationException', 'kmslab emulates symmetric encryption keys only.');
      const description = text(call, 'Description', false) ?? '';
      if (description.length > 8192)
        throw errors.validation('description', "'…'", 'Member must have length less than or equal to 8192');
      const k = await call.core.mutate(() => call.core.keys.create(description));
      const meta = keyMetadata(call.core, k);
      return {
        body: { KeyMetadata: meta },
        keyId: k.keyId,
        responseElements: { keyMetadata: { keyId: k.keyId, arn: meta.Arn } },
      };
    },
  },
  EnableKey: {
    permission: 'manage',
    key: (c) => keyIdOf(c, false),
    run: (c) => keyChange(c, (id) => c.core.keys.enable(id)),
  },
  DisableKey: {
    permission: 'manage',
    key: (c) => keyIdOf(c, false),
    run: (c) => keyChange(c, (id) => c.core.keys.disable(id)),
  },
  ScheduleKeyDeletion: {
    permission: 'manage',
    key: (c) => keyIdOf(c, false),
    async run(call) {
      const days = call.body.PendingWindowInDays ?? 30;
      if (!Number.isInteger(days) || (days as number) < 7 || (days as number) > 30)
        throw errors.validation(
          'pendingWindowInDays',
          `'${String(days)}'`,
          `Member must have value ${(days as number) < 7 ? 'greater than or equal to 7' : 'less than or equal to 30'}`,
        );
      const keyId = keyIdOf(call, false);
      const k = await inState(call, keyId, () => call.core.keys.scheduleDeletion(keyId, (days as number) * DAY));
      const body = {
        KeyId: keyArn(call.core, keyId),
        DeletionDate: seconds(k.deleteAt!),
        KeyState: k.state,
        PendingWindowInDays: days,
      };
      return { body, keyId, responseElements: { keyId: body.KeyId, keyState: k.state } };
    },
  },
  CancelKeyDeletion: {
    permission: 'manage',
    key: (c) => keyIdOf(c, false),
    async run(call) {
      const keyId = keyIdOf(call, false);
      await inState(call, keyId, () => call.core.keys.cancelDeletion(keyId));
      return {
        body: { KeyId: keyArn(call.core, keyId) },
        keyId,
        responseElements: { keyId: keyArn(call.core, keyId) },
      };
    },
  },
  RotateKeyOnDemand: {
    permission: 'manage',
    key: (c) => keyIdOf(c, false),
    async run(call) {
      const keyId = keyIdOf(call, false);
      if (call.core.keys.get(keyId).versions.length > MAX_ON_DEMAND_ROTATIONS)
        throw errors.limitExceeded(
          `The key ${keyArn(call.core, keyId)} has reached the limit of ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations.`,
        );
      await inState(call, keyId, () => call.core.keys.rotate(keyId));
      return {
        body: { KeyId: keyArn(call.core, keyId) },
        keyId,
        responseElements: { keyId: keyArn(call.core, keyId) },
      };
    },
  },
  ListKeyRotations: {
    permission: 'describe',
    key: (c) => keyIdOf(c, false),
    async run(call) {
      const keyId = keyIdOf(call, false);
      const rotations = call.core.keys
        .get(keyId)
        .versions.slice(1)
        .map((v) => ({
          KeyId: keyArn(call.core, keyId),
          RotationDate: seconds(v.createdAt),
          RotationType: 'ON_DEMAND',
        }));
      return { body: { Rotations: rotations, Truncated: false }, keyId };
    },
  },
  CreateAlias: aliasAction('create'),
  UpdateAlias: aliasAction('update'),
  DeleteAlias: {
    permission: 'manage',
    key: (c) => aliasTarget(c),
    async run(c) {
      const alias = aliasName(c);
      const keyId = aliasTarget(c);
      await c.core.mutate(() => {
        const { [alias]: _gone, ...rest } = c.core.front.aliases;
        c.core.front = { ...c.core.front, aliases: rest };
      });
      return { body: {}, keyId, responseElements: null };
    },
  },
  ListAliases: {
    permission: 'describe',
    key: () => undefined,
    async run(c) {
      const only = text(c, 'KeyId', false);
      const keyId = only === undefined ? undefined : resolveKey(c.core, only, false);
      const aliases = Object.entries(c.core.front.aliases)
        .filter(([name, a]) => aliasOf(c.core, name) && (keyId === undefined || a.keyId === keyId))
        .map(([name, a]) => ({
          AliasName: `alias/${name}`,
          AliasArn: aliasArn(c.core, `alias/${name}`),
          TargetKeyId: a.keyId,
          CreationDate: seconds(a.createdAt),
          LastUpdatedDate: seconds(a.updatedAt),
        }));
      return { body: { Aliases: aliases, Truncated: false } };
    },
  },
};

// aliasTarget names the key an alias points at, refusing an unknown alias (DeleteAlias authorizes on that key).
function aliasTarget(c: KmsCall): string {
  const alias = aliasName(c);
  const target = aliasOf(c.core, alias);
  if (!target) throw errors.notFound(`Alias ${aliasArn(c.core, `alias/${alias}`)} is not found.`);
  return target.keyId;
}

// CreateAlias names a new alias, UpdateAlias points an existing one at another key.
function aliasAction(kind: 'create' | 'update'): KmsAction {
  const target = (c: KmsCall) => resolveKey(c.core, text(c, 'TargetKeyId')!, false);
  return {
    permission: 'manage',
    key: target,
    async run(call) {
      const alias = aliasName(call);
      const keyId = target(call);
      const exists = aliasOf(call.core, alias) !== undefined;
      const arn = aliasArn(call.core, `alias/${alias}`);
      if (kind === 'create' && exists) throw errors.alreadyExists(`An alias with the name ${arn} already exists`);
      if (kind === 'update' && !exists) throw errors.notFound(`Alias ${arn} is not found.`);
      await setAlias(call, alias, keyId);
      return { body: {}, keyId, responseElements: null };
    },
  };
}

async function setAlias(call: KmsCall, alias: string, keyId: string): Promise<void> {
  const now = call.core.now();
  await call.core.mutate(() => {
    const createdAt = aliasOf(call.core, alias)?.createdAt ?? now;
    call.core.front = {
      ...call.core.front,
      aliases: { ...call.core.front.aliases, [alias]: { keyId, createdAt, updatedAt: now } },
    };
  });
}

/**
 * trailParameters is what CloudTrail records of a KMS request: names and settings, never data (an allow-list). As in
 * AWS's examples, Encrypt and Decrypt record the algorithm they used, also when the request left it to the default.
 */
export function trailParameters(action: string, body: Record<string, unknown>): Record<string, unknown> | null {
  const out: Record<string, unknown> =
    action === 'Encrypt' || action === 'Decrypt' ? { encryptionAlgorithm: ALGORITHM } : {};
  const names: [string, string][] = [
    ['KeyId', 'keyId'],
    ['EncryptionAlgorithm', 'encryptionAlgorithm'],
    ['KeySpec', 'keySpec'],
    ['NumberOfBytes', 'numberOfBytes'],
    ['PendingWindowInDays', 'pendingWindowInDays'],
    ['AliasName', 'aliasName'],
    ['TargetKeyId', 'targetKeyId'],
    ['KeyUsage', 'keyUsage'],
    ['Description', 'description'],
  ];
  for (const [from, to] of names) {
    const v = body[from];
    if (typeof v === 'string') out[to] = v.slice(0, 256);
    else if (typeof v === 'number') out[to] = v;
  }
  const context = body.EncryptionContext;
  if (context && typeof context === 'object' && !Array.isArray(context)) out.encryptionContext = context;
  return Object.keys(out).length ? out : null;
}
