import type { Caller } from '../core/identities.js';

/**
 * ActionTrailEvent is one API call as Alibaba Cloud ActionTrail records it (the management/data event structure
 * pages; docs/cloud.md cites them). It never holds plaintext, ciphertext, secrets or security tokens: request
 * parameters are copied from an allow-list only.
 */
export interface ActionTrailEvent {
  eventId: string;
  eventVersion: 1;
  eventName: string;
  eventSource: string;
  eventType: 'ApiCall';
  eventCategory: 'Management' | 'Data';
  eventRW: 'Read' | 'Write';
  eventTime: string;
  apiVersion: string;
  requestId: string;
  sourceIpAddress: string;
  userAgent: string;
  acsRegion: string;
  serviceName: 'Kms' | 'Sts';
  userIdentity: UserIdentity;
  requestParameters: Record<string, string>;
  responseElements?: Record<string, string>;
  errorCode?: string;
  errorMessage?: string;
  referencedResources?: Record<string, string[]>;
  /** kmslab's own: the faults that fired on this call (not a field of ActionTrail). */
  additionalEventData?: { kmslabFaults: string[] };
}

export interface UserIdentity {
  type: 'ram-user' | 'assumed-role' | 'unknown';
  accountId?: string;
  principalId?: string;
  accessKeyId?: string;
  userName?: string;
  sessionContext?: { attributes: { creationDate: string; mfaAuthenticated: 'false' } };
}

// Parameters that name things and never carry data or secrets. Plaintext, CiphertextBlob, EncryptionContext,
// Signature, SecurityToken and the like are left out.
const SAFE_PARAMETERS = [
  'KeyId',
  'KeyVersionId',
  'KeySpec',
  'KeyUsage',
  'NumberOfBytes',
  'PendingWindowInDays',
  'Description',
  'PageNumber',
  'PageSize',
  'RegionId',
  'RoleArn',
  'RoleSessionName',
  'DurationSeconds',
];

export function safeParameters(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of SAFE_PARAMETERS) if (params[k] !== undefined) out[k] = params[k].slice(0, 256);
  return out;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** userIdentityOf shapes a caller the way ActionTrail does (a role session: type assumed-role, role:session). */
export function userIdentityOf(caller: Caller | undefined, claimedAccessKeyId: string | undefined): UserIdentity {
  if (!caller)
    return { type: 'unknown', ...(claimedAccessKeyId ? { accessKeyId: claimedAccessKeyId.slice(0, 128) } : {}) };
  if (caller.kind === 'user')
    return {
      type: 'ram-user',
      accountId: caller.accountId,
      principalId: caller.userId,
      accessKeyId: caller.accessKeyId,
      userName: caller.user,
    };
  return {
    type: 'assumed-role',
    accountId: caller.accountId,
    principalId: `${caller.roleId}:${caller.sessionName}`,
    accessKeyId: caller.accessKeyId,
    userName: `${caller.role}:${caller.sessionName}`,
    sessionContext: { attributes: { creationDate: iso(caller.issuedAt), mfaAuthenticated: 'false' } },
  };
}

const DATA_EVENTS = new Set(['Encrypt', 'Decrypt', 'GenerateDataKey']);
const READ_EVENTS = new Set(['DescribeKey', 'ListKeys', 'ListKeyVersions', 'DescribeKeyVersion', 'GetCallerIdentity']);

export const eventCategoryOf = (action: string) => (DATA_EVENTS.has(action) ? 'Data' : 'Management');
export const eventRWOf = (action: string) => (READ_EVENTS.has(action) || action === 'Decrypt' ? 'Read' : 'Write');
