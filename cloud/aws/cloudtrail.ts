import type { Caller } from '../core/identities.js';

/**
 * CloudTrailEvent is one API call as AWS CloudTrail records it: the record fields of the CloudTrail event reference
 * and the KMS log file examples (docs/cloud.md cites both). It never holds plaintext, ciphertext, secrets or session
 * tokens. The encryption context is recorded, as CloudTrail does: AWS documents it as not secret.
 */
export interface CloudTrailEvent {
  eventVersion: string;
  userIdentity: UserIdentity;
  eventTime: string;
  eventSource: 'kms.amazonaws.com' | 'sts.amazonaws.com';
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  errorCode?: string;
  errorMessage?: string;
  requestParameters: Record<string, unknown> | null;
  responseElements: Record<string, unknown> | null;
  /** kmslab's own field in additionalEventData: the faults that fired on this call. */
  additionalEventData?: { kmslabFaults: string[] };
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: { accountId: string; type: 'AWS::KMS::Key'; ARN: string }[];
  eventType: 'AwsApiCall';
  managementEvent: true;
  recipientAccountId: string;
  eventCategory: 'Management';
}

export type UserIdentity =
  | {
      type: 'IAMUser';
      principalId: string;
      arn: string;
      accountId: string;
      accessKeyId: string;
      userName: string;
    }
  | {
      type: 'AssumedRole';
      principalId: string;
      arn: string;
      accountId: string;
      accessKeyId: string;
      sessionContext: {
        sessionIssuer: { type: 'Role'; principalId: string; arn: string; accountId: string; userName: string };
        webIdFederationData: { federatedProvider?: string; attributes?: Record<string, string> };
        attributes: { creationDate: string; mfaAuthenticated: 'false' };
      };
    }
  | { type: 'WebIdentityUser'; principalId: string; userName: string; identityProvider: string }
  | { type: 'Unknown'; accessKeyId?: string };

/** The prefix that marks a role session issued for a web identity (AssumeRoleWithWebIdentity), in `issuedTo`. */
export const WEB_IDENTITY = 'web-identity:';

export const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export const userArn = (accountId: string, user: string) => `arn:aws:iam::${accountId}:user/${user}`;
export const roleArn = (accountId: string, role: string) => `arn:aws:iam::${accountId}:role/${role}`;
export const sessionArn = (accountId: string, role: string, session: string) =>
  `arn:aws:sts::${accountId}:assumed-role/${role}/${session}`;

/** callerArn is the ARN AWS names a caller by in answers and AccessDenied messages. */
export function callerArn(c: Caller): string {
  return c.kind === 'user' ? userArn(c.accountId, c.user) : sessionArn(c.accountId, c.role, c.sessionName);
}

/**
 * userIdentityOf shapes a caller as CloudTrail does: an IAM user, or an assumed role with its session issuer (and the
 * identity provider, for a web-identity session). `oidcProvider` is the provider's ARN.
 */
export function userIdentityOf(caller: Caller | undefined, claimedKey: string | undefined, oidcProvider: string) {
  if (!caller)
    return { type: 'Unknown', ...(claimedKey ? { accessKeyId: claimedKey.slice(0, 128) } : {}) } as UserIdentity;
  if (caller.kind === 'user')
    return {
      type: 'IAMUser',
      principalId: caller.userId,
      arn: userArn(caller.accountId, caller.user),
      accountId: caller.accountId,
      accessKeyId: caller.accessKeyId,
      userName: caller.user,
    } as UserIdentity;
  return {
    type: 'AssumedRole',
    principalId: `${caller.roleId}:${caller.sessionName}`,
    arn: sessionArn(caller.accountId, caller.role, caller.sessionName),
    accountId: caller.accountId,
    accessKeyId: caller.accessKeyId,
    sessionContext: {
      sessionIssuer: {
        type: 'Role',
        principalId: caller.roleId,
        arn: roleArn(caller.accountId, caller.role),
        accountId: caller.accountId,
        userName: caller.role,
      },
      webIdFederationData: caller.issuedTo.startsWith(WEB_IDENTITY)
        ? { federatedProvider: oidcProvider, attributes: {} }
        : {},
      attributes: { creationDate: iso(caller.issuedAt), mfaAuthenticated: 'false' },
    },
  } as UserIdentity;
}

// Operations that only read (CloudTrail's readOnly): the cryptographic ones count as reads, as in AWS's examples.
const READ_ONLY = new Set([
  'Encrypt',
  'Decrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'DescribeKey',
  'ListKeys',
  'ListAliases',
  'ListKeyRotations',
  'GetKeyRotationStatus',
  'GetCallerIdentity',
]);

export const readOnlyOf = (eventName: string) => READ_ONLY.has(eventName);
