import { CloudError } from '../core/cloud-error.js';
import type { ApiCall, ApiResult } from './kms-api.js';
import { errors } from './errors.js';

export const STS_VERSION = '2015-04-01';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** roleArnOf reads acs:ram::<account>:role/<name> (the role name is case-insensitive in RAM; kept as given here). */
function roleNameOf(call: ApiCall): string {
  const arn = call.params.RoleArn;
  if (!arn) throw errors.missingParameter('RoleArn');
  const m = /^acs:ram::(\d+):role\/([\w.@-]{1,64})$/i.exec(arn);
  if (!m || m[1] !== call.core.identities.accountId) throw errors.roleNotFound(arn);
  return m[2]!;
}

/** STS actions: AssumeRole (temporary credentials of a role) and GetCallerIdentity. */
export const STS_ACTIONS: Record<string, (call: ApiCall) => Promise<ApiResult> | ApiResult> = {
  async AssumeRole(call) {
    const roleName = roleNameOf(call);
    const sessionName = call.params.RoleSessionName;
    if (!sessionName) throw errors.missingParameter('RoleSessionName');
    if (!/^[\w.@-]{2,64}$/.test(sessionName)) throw errors.invalidParameter('RoleSessionName');
    const duration = Number(call.params.DurationSeconds ?? 3600);
    if (!Number.isInteger(duration) || duration < 900 || duration > 43_200)
      throw errors.invalidParameter('DurationSeconds');
    if (call.caller.kind !== 'user') throw errors.stsNoPermission();
    const user = call.caller.user;
    let session;
    try {
      session = await call.core.mutate(() => call.core.identities.assumeRole(user, roleName, sessionName, duration));
    } catch (error) {
      if (error instanceof CloudError && error.kind === 'RoleNotFound') throw errors.roleNotFound(call.params.RoleArn!);
      if (error instanceof CloudError && error.kind === 'NotTrusted') throw errors.stsNoPermission();
      throw error;
    }
    const role = call.core.identities.role(roleName);
    const accountId = call.core.identities.accountId;
    return {
      body: {
        AssumedRoleUser: {
          Arn: `acs:ram::${accountId}:role/${roleName}/${sessionName}`,
          AssumedRoleId: `${role.roleId}:${sessionName}`,
        },
        Credentials: {
          AccessKeyId: session.accessKeyId,
          AccessKeySecret: session.secret,
          SecurityToken: session.token,
          Expiration: iso(session.expiresAt),
        },
      },
    };
  },
  GetCallerIdentity(call) {
    const c = call.caller;
    const accountId = c.accountId;
    return {
      body:
        c.kind === 'user'
          ? {
              AccountId: accountId,
              UserId: c.userId,
              PrincipalId: c.userId,
              IdentityType: 'RAMUser',
              Arn: `acs:ram::${accountId}:user/${c.user}`,
            }
          : {
              AccountId: accountId,
              RoleId: c.roleId,
              PrincipalId: `${c.roleId}:${c.sessionName}`,
              IdentityType: 'AssumedRoleUser',
              Arn: `acs:ram::${accountId}:assumed-role/${c.role}/${c.sessionName}`,
            },
    };
  },
};
