import type { AuditEntry, AuditQuery } from '../../cloud/core/audit-log.js';
import type { ActiveCloudFault, CloudFaultSpec } from '../../cloud/core/faults.js';
import type { Grant, GrantSpec, RevokeSpec } from '../../cloud/core/grants.js';
import type { KeyView } from '../../cloud/core/keys.js';

/** The clouds a lab can put behind its plugin (`--cloud`). */
export const CLOUDS = ['alibaba', 'aws'] as const;
export type CloudName = (typeof CLOUDS)[number];

/**
 * What a lab's cloud can be asked for, as scenarios name it in `needs.kms`. A lab without a cloud lacks them all,
 * and a scenario that needs one is skipped with the reason.
 */
export const CLOUD_CAPABILITIES = [
  'cloud-grant',
  'cloud-revoke',
  'cloud-disable',
  'cloud-enable',
  'cloud-schedule-deletion',
  'cloud-cancel-deletion',
  'cloud-rotate',
  'cloud-expire-credentials',
  'cloud-faults',
  'cloud-audit',
] as const;
export type CloudCapability = (typeof CLOUD_CAPABILITIES)[number];

/** Why a lab without a cloud lacks a cloud capability. */
export const NO_CLOUD = 'needs a cloud KMS behind the plugin: --cloud alibaba|aws (local backend)';

/**
 * LabCloud is the cloud KMS behind a lab's plugin: the emulator the lab started, driven through its control API.
 * `key` arguments default to the key the cluster uses; `principal` is the identity the plugin calls the cloud as.
 */
export interface LabCloud {
  readonly name: CloudName;
  /** The cluster's identity at the cloud, as grants and the audit name it (`role:AliyunCSManagedSecurityRole`). */
  readonly principal: string;
  /** The cloud's id of the key the cluster's plugin uses (not always the plugin's key_id: AWS's is the key ARN). */
  readonly keyId: string;
  /**
   * The cloud calls the plugin makes per Status, when kmslab knows its plugin (its own): ACK-style Encrypt + Decrypt,
   * the AWS plugin's one Encrypt. Undefined for a user's plugin.
   */
  readonly statusCalls?: { encrypt: number; decrypt: number };
  /**
   * How often kmslab's plugin fetches new temporary credentials when it does so on an interval (Alibaba, as ACK's
   * CREDENTIAL_INTERVAL: 8 min, shorter with the lab setting KMSLAB_CREDENTIAL_INTERVAL). Undefined when it fetches
   * them as they expire (AWS's SDK) or for a user's plugin.
   */
  readonly credentialRefreshMs?: number;
  /** The permissions the cluster's identity holds on its key when the lab starts (what a restore grants again). */
  readonly clusterPermissions: GrantSpec['permissions'];
  grant(spec: GrantSpec): Promise<Grant>;
  revoke(spec: RevokeSpec): Promise<{ changed: number }>;
  disable(key?: string): Promise<KeyView>;
  enable(key?: string): Promise<KeyView>;
  /** scheduleDeletion: `window` a duration (7d, 30s); the cloud API itself allows whole days only. */
  scheduleDeletion(key?: string, window?: string): Promise<KeyView>;
  cancelDeletion(key?: string): Promise<KeyView>;
  /** rotate gives the key a new primary version in the cloud; the key's id (and the plugin's key_id) stay. */
  rotate(key?: string): Promise<{ key: KeyView; versionId: string }>;
  /** expireCredentials ends temporary credentials now: by default the cluster role's sessions. */
  expireCredentials(filter?: { role?: string; accessKeyId?: string }): Promise<{ expired: number }>;
  addFault(spec: CloudFaultSpec): Promise<ActiveCloudFault>;
  clearFaults(id?: string): Promise<{ cleared: number }>;
  /** audit reads the cloud's own trail (ActionTrail- or CloudTrail-shaped events), oldest first. */
  audit(query?: AuditQuery): Promise<AuditEntry<Record<string, unknown>>[]>;
}
